import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterPaths } from '../../scripts/lib/core/paths.ts';
import { EXIT_REFUSED } from '../../scripts/lib/core/confirm.ts';
import { kubeconfigServer } from '../../scripts/lib/kubernetes/kubeconfig.ts';
import { EXIT_FAULT_FOUND } from '../../scripts/lib/recovery/run.ts';
import { emergencyRecoveryScript } from '../../scripts/lib/recovery/script.ts';
import type { Lab } from '../lab/lab.ts';
import { CLUSTER, ip, mutatingCalls, nodeOf, run, runningLab } from './harness.ts';

// cluster:emergency-recovery against the simulated lab: the diagnosis names each fault the lab can inject, and the
// sub-actions repair it.

const paths = (lab: Lab) => clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir });
const KUSTOMIZATIONS = [{ name: 'infrastructure', dependsOn: ['flux-system'] }, { name: 'apps', dependsOn: ['infrastructure'] }];

function likely(stdout: string): string | undefined {
  return /likely fault: .*\[([a-z-]+)\]/.exec(stdout)?.[1];
}

async function diagnose(lab: Lab) {
  const before = mutatingCalls(lab).length;
  const r = await run(lab, emergencyRecoveryScript, []);
  assert.is(mutatingCalls(lab).length, before, 'the diagnosis only reads');
  const report = /report: (\S+)/.exec(r.stdout)?.[1];
  assert.ok(report && existsSync(report), `a report file is written (${r.text})`);
  return { ...r, fault: likely(r.stdout), report: readFileSync(report!, 'utf8') };
}

test('healthy cluster: "healthy", exit 0, a report with every probe', async () => {
  const lab = runningLab();
  try {
    const d = await diagnose(lab);
    assert.is(d.code, 0, d.text);
    assert.is(d.fault, 'healthy');
    assert.match(d.report, /## Probes/);
    assert.match(d.report, /`talosctl --endpoints 10\.0\.10\.11 --nodes 10\.0\.10\.11 etcd status`/);
    assert.ok(d.report.startsWith(`# Emergency recovery report: cluster ${CLUSTER}`));
  } finally {
    lab.cleanup();
  }
});

test('VIP down → "vip-down"; `kubeconfig` points kubectl at a control plane, `kubeconfig --vip` switches back', async () => {
  const lab = runningLab({ faults: [{ kind: 'vip-down' }] });
  try {
    const d = await diagnose(lab);
    assert.is(d.code, EXIT_FAULT_FOUND);
    assert.is(d.fault, 'vip-down');
    assert.match(d.stdout, /next:\n {2}task cluster:emergency-recovery -- kubeconfig/);
    // The rest of the diagnosis still ran, through a control plane's own address.
    assert.match(d.report, /Kubernetes probes went to 10\.0\.10\.11/);
    assert.match(d.report, /Kubernetes nodes: infra-cp-1 Ready/);

    const k = await run(lab, emergencyRecoveryScript, ['kubeconfig']);
    assert.is(k.code, 0, k.text);
    const file = paths(lab).kubeconfig;
    assert.is(kubeconfigServer(readFileSync(file, 'utf8')), `https://${ip('infra-cp-1')}:6443`);
    assert.ok(readdirSync(paths(lab).dir).some((f) => /^kubeconfig\.\d{8}T\d{6}Z\.bak$/.test(f)), 'the old kubeconfig is kept');
    const env = { ...process.env, ...lab.env, KUBECONFIG: file };
    assert.match(execFileSync('kubectl', ['get', '--raw', '/readyz'], { env, encoding: 'utf8' }), /ok/);

    const early = await run(lab, emergencyRecoveryScript, ['kubeconfig', '--vip']);
    assert.is(early.code, 1, 'refuses while the VIP is still down');
    lab.clearFaults();
    const back = await run(lab, emergencyRecoveryScript, ['kubeconfig', '--vip']);
    assert.is(back.code, 0, back.text);
    assert.is(kubeconfigServer(readFileSync(file, 'utf8')), `https://${lab.options.vip}:6443`);
  } finally {
    lab.cleanup();
  }
});

test('etcd member lost → "etcd-member-lost" naming the node; etcd:rejoin needs the name, then brings it back', async () => {
  const lab = runningLab();
  lab.injectFault({ kind: 'etcd-member-lost', node: 'infra-cp-2' });
  try {
    const d = await diagnose(lab);
    assert.is(d.fault, 'etcd-member-lost');
    assert.match(d.stdout, /etcd member lost on infra-cp-2 \(quorum intact: 2\/3\)/);
    assert.match(d.stdout, /task cluster:emergency-recovery -- etcd:rejoin --node infra-cp-2/);

    const refused = await run(lab, emergencyRecoveryScript, ['etcd:rejoin', '--node', 'infra-cp-2']);
    assert.is(refused.code, EXIT_REFUSED);
    assert.equal(mutatingCalls(lab), []);

    const r = await run(lab, emergencyRecoveryScript, ['etcd:rejoin', '--node', 'infra-cp-2', '--confirm', CLUSTER, '--wait-scale', '0.01']);
    assert.is(r.code, 0, r.text);
    const reset = lab.calls({ cmd: 'talosctl reset' });
    assert.equal(reset.map((c) => nodeOf(c.argv)), [ip('infra-cp-2')]);
    assert.ok(reset[0]!.argv.join(' ').includes('--system-labels-to-wipe EPHEMERAL --graceful=false'), 'only the etcd data, never STATE');
    assert.not.ok(reset[0]!.argv.includes('STATE'));
    const snap = lab.calls({ cmd: 'talosctl etcd snapshot' })[0]!;
    assert.ok(snap.end <= reset[0]!.start, 'snapshot before the wipe');
    const s = lab.state();
    assert.is(s.etcd.members.length, 3);
    assert.is(s.nodes.find((n) => n.name === 'infra-cp-2')!.etcd, 'Running');
  } finally {
    lab.cleanup();
  }
});

test('CNI gone → "cni-gone"; the cilium sub-action re-installs the bootstrap release and every node is Ready again', async () => {
  const lab = runningLab();
  lab.injectFault({ kind: 'cni-gone' });
  try {
    const d = await diagnose(lab);
    assert.is(d.fault, 'cni-gone');
    assert.match(d.stdout, /next:\n {2}task cluster:emergency-recovery -- cilium/);

    const r = await run(lab, emergencyRecoveryScript, ['cilium', '--wait-scale', '0.05']);
    assert.is(r.code, 0, r.text);
    const helm = lab.calls({ cmd: 'helm upgrade' });
    assert.is(helm.length, 1);
    assert.ok(helm[0]!.argv.join(' ').includes('--version 1.18.3'), 'the config\'s chart version');
    // The Gateway API CRDs this lab never had went in first, as the bootstrap's cni phase does.
    const crds = lab.calls({ cmd: 'kubectl apply' }).filter((c) => c.argv.includes('--server-side'));
    assert.is(crds.length, 1);
    assert.ok(crds[0]!.start < helm[0]!.start);
    assert.ok(lab.state().nodes.every((n) => n.k8s?.ready));
    assert.is((await diagnose(lab)).fault, 'healthy');
  } finally {
    lab.cleanup();
  }
});

test('Flux stuck → "flux-stuck" naming the failing Kustomization, not its dependants', async () => {
  const lab = runningLab({ kustomizations: KUSTOMIZATIONS });
  lab.injectFault({ kind: 'flux-stuck', kustomization: 'infrastructure', message: 'kustomize build failed: accumulating resources' });
  try {
    const d = await diagnose(lab);
    assert.is(d.fault, 'flux-stuck');
    assert.match(d.stdout, /Flux Kustomization flux-system\/infrastructure is stuck \(1 more wait for it\)/);
    assert.match(d.stdout, /kustomize build failed/);
    assert.match(d.stdout, /flux logs --kind=Kustomization --name=infrastructure --namespace=flux-system/);
  } finally {
    lab.cleanup();
  }
});

test('flux suspend-all / resume-all resume exactly what was suspended', async () => {
  const lab = runningLab({ kustomizations: KUSTOMIZATIONS });
  try {
    // Someone paused "apps" on purpose before the emergency.
    execFileSync('flux', ['suspend', 'kustomization', 'apps', '--namespace', 'flux-system'], { env: { ...process.env, ...lab.env, KUBECONFIG: paths(lab).kubeconfig } });
    const s = await run(lab, emergencyRecoveryScript, ['flux', 'suspend-all']);
    assert.is(s.code, 0, s.text);
    assert.ok(lab.state().flux!.kustomizations.every((k) => k.suspended));
    assert.ok(existsSync(`${paths(lab).dir}/flux-suspended.json`));
    const r = await run(lab, emergencyRecoveryScript, ['flux', 'resume-all']);
    assert.is(r.code, 0, r.text);
    const ks = Object.fromEntries(lab.state().flux!.kustomizations.map((k) => [k.name, k.suspended]));
    assert.equal(ks, { 'flux-system': false, infrastructure: false, apps: true });
    assert.ok(lab.calls({ cmd: 'flux resume' }).every((c) => c.argv.includes('--wait=false')));
  } finally {
    lab.cleanup();
  }
});

test('etcd:snapshot then etcd:restore: later writes are gone, the snapshot state is back, every member rejoins', async () => {
  const lab = runningLab();
  try {
    const snap = await run(lab, emergencyRecoveryScript, ['etcd:snapshot']);
    assert.is(snap.code, 0, snap.text);
    const file = /etcd snapshot: (\S+)/.exec(snap.stdout)?.[1];
    assert.ok(file && existsSync(file));
    const env = { ...process.env, ...lab.env, KUBECONFIG: paths(lab).kubeconfig };
    const before = lab.state().objects;
    execFileSync('kubectl', ['apply', '-f', '-'], { env, input: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: written-after-snapshot\n  namespace: default\ndata: {a: b}\n' });
    assert.ok(lab.state().objects.some((o) => o.includes('written-after-snapshot')));

    const refused = await run(lab, emergencyRecoveryScript, ['etcd:restore', '--snapshot', file!, '--confirm', 'nope']);
    assert.is(refused.code, EXIT_REFUSED);
    assert.equal(mutatingCalls(lab).filter((c) => !c.startsWith('kubectl apply')), []);

    const r = await run(lab, emergencyRecoveryScript, ['etcd:restore', '--snapshot', file!, '--confirm', CLUSTER, '--wait-scale', '0.05']);
    assert.is(r.code, 0, r.text);
    const s = lab.state();
    assert.is(s.etcd.recoveredFrom, file);
    assert.is(s.etcd.bootstrapNode, ip('infra-cp-1'), 'restored on the first control plane');
    assert.not.ok(s.objects.some((o) => o.includes('written-after-snapshot')), 'written after the snapshot: gone');
    assert.equal(s.objects.sort(), before.sort(), 'exactly the snapshot state');
    assert.is(s.etcd.members.length, 3);
    assert.ok(s.etcd.quorum);
    const wipes = lab.calls({ cmd: 'talosctl reset' });
    assert.is(wipes.length, 1, 'one call: every control plane starts wiping at once (none can rejoin the others)');
    assert.is(nodeOf(wipes[0]!.argv), ['infra-cp-1', 'infra-cp-2', 'infra-cp-3'].map(ip).join(','));
    assert.ok(wipes.every((c) => c.argv.includes('EPHEMERAL') && !c.argv.includes('STATE')), 'only the etcd data; machine configs stay');
    const safety = lab.calls({ cmd: 'talosctl etcd snapshot' });
    assert.is(safety.length, 2, 'the state before the restore was saved too');
    assert.ok(safety[1]!.end <= wipes[0]!.start);
  } finally {
    lab.cleanup();
  }
});

test.run();
