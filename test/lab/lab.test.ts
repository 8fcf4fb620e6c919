import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, parseDocument } from 'yaml';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { clusterPaths, REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { createLab, labFromConfig, REALISTIC_TIMINGS, scaleTimings, type Lab } from './lab.ts';
import { dependencyDepth, envsubst, explicitKustomizations, fluxSystemKustomization } from './tools/lib/fluxrepo.mjs';
import { parseMini } from './tools/lib/miniyaml.mjs';

// Self-tests of the simulated lab: the fakes' documented behaviours (README.md), fault injection, concurrency.

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function run(lab: Lab, argv: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Out> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...lab.env, ...opts.env }, cwd: opts.cwd ?? lab.dir });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    p.stdin.end(opts.input ?? '');
  });
}

const fixture = (name: string) => parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid', name), 'utf8'), name);

/** gen secrets + gen config with a VIP/cni-none control-plane patch and per-node hostname patches, as the bootstrap does. */
async function genConfig(lab: Lab, vip: string) {
  const d = join(lab.dir, 'talos');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'common.yaml'), 'cluster:\n  network:\n    cni:\n      name: none\n  proxy:\n    disabled: true\n');
  writeFileSync(join(d, 'cp.yaml'), `machine:\n  network:\n    interfaces:\n      - interface: eth0\n        vip:\n          ip: ${vip}\n`);
  for (const n of lab.options.nodes) writeFileSync(join(d, `${n.name}.yaml`), `machine:\n  network:\n    hostname: ${n.name}\n`);
  assert.is((await run(lab, ['talosctl', 'gen', 'secrets', '-o', join(d, 'secrets.yaml'), '--talos-version', 'v1.11'])).code, 0);
  const gen = await run(lab, [
    'talosctl', 'gen', 'config', lab.options.clusterName, `https://${vip}:6443`, '--with-secrets', join(d, 'secrets.yaml'),
    '--config-patch', `@${join(d, 'common.yaml')}`, '--config-patch-control-plane', `@${join(d, 'cp.yaml')}`,
    '--kubernetes-version', '1.34.1', '--talos-version', 'v1.11', '--with-docs=false', '--with-examples=false', '-o', d, '--force',
  ]);
  assert.is(gen.code, 0, gen.stderr);
  return { d, tc: ['--talosconfig', join(d, 'talosconfig')] };
}

test('labs are built from cluster configs: one node and five nodes, with the VIP and names of the config', () => {
  const one = labFromConfig(fixture('one-node.yaml'));
  const five = labFromConfig(fixture('five-node.yaml'));
  try {
    assert.equal(one.options.nodes, [{ name: 'solo-cp-1', ip: '192.168.50.11', role: 'controlplane' }]);
    assert.is(one.options.vip, '192.168.50.10');
    assert.is(five.state().nodes.length, 5);
    assert.is(five.state().nodes.filter((n) => n.role === 'controlplane').length, 3);
    assert.ok(five.state().nodes.every((n) => !n.present), 'VMs exist only after terraform apply');
    assert.ok(one.env.PATH!.startsWith(one.binDir));
    assert.is(one.env.LAB_DIR, one.dir);
    assert.is(one.env.HOME_OPS_STATE_DIR, one.stateDir);
  } finally {
    one.cleanup();
    five.cleanup();
  }
});

test('withEnv extends process.env for the call and restores it exactly, also on throw', async () => {
  const lab = createLab({ nodes: [], vip: '10.9.9.9' });
  const before = { ...process.env };
  try {
    await lab.withEnv(async () => {
      assert.is(process.env.LAB_DIR, lab.dir);
      throw new Error('boom');
    }).catch(() => undefined);
    assert.equal({ ...process.env }, before);
  } finally {
    lab.cleanup();
  }
});

test('cold 1-node bootstrap: maintenance → certificate required, bootstrap once then AlreadyExists, VIP after etcd, NotReady until Cilium', async () => {
  const lab = labFromConfig(fixture('one-node.yaml'), { initial: 'maintenance', timings: { applyReboot: 1500 }, kustomizations: [] });
  const ip = '192.168.50.11';
  try {
    const { d, tc } = await genConfig(lab, '192.168.50.10');
    const cp = readFileSync(join(d, 'controlplane.yaml'), 'utf8');
    assert.match(cp, /vip:\n\s+ip: 192\.168\.50\.10/);
    assert.match(cp, /endpoint: https:\/\/192\.168\.50\.10:6443/);
    assert.is(parse(readFileSync(join(d, 'talosconfig'), 'utf8')).context, 'solo');

    assert.is((await run(lab, ['talosctl', 'get', 'disks', '--insecure', '--nodes', ip])).code, 0, 'maintenance probe answers');
    const apply = await run(lab, ['talosctl', 'apply-config', '--insecure', '--nodes', ip, '--file', join(d, 'controlplane.yaml'), '--config-patch', `@${join(d, 'solo-cp-1.yaml')}`]);
    assert.is(apply.code, 0, apply.stderr);
    // Installing and rebooting: nothing answers yet.
    const during = await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'version']);
    assert.is(during.code, 1);
    assert.match(during.stderr, /dial tcp 192\.168\.50\.11:50000: connect: connection refused/);
    assert.is(lab.state().nodes[0]!.down, 'installing');
    while (!lab.state().nodes[0]!.reachable) await new Promise((r) => setTimeout(r, 20));
    const again = await run(lab, ['talosctl', 'apply-config', '--insecure', '--nodes', ip, '--file', join(d, 'controlplane.yaml')]);
    assert.is(again.code, 1);
    assert.is(again.stderr.trim(), 'error applying new configuration: rpc error: code = Unavailable desc = connection error: desc = "error reading server preface: remote error: tls: certificate required"');
    assert.match((await run(lab, ['talosctl', 'get', 'disks', '--insecure', '--nodes', ip])).stderr, /tls: certificate required/);

    const before = await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'service', 'etcd']);
    assert.match(before.stdout, /^STATE\s+Preparing$/m);
    const kc = join(lab.dir, 'kubeconfig');
    assert.is((await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'kubeconfig', kc, '--force', '--merge=false'])).code, 0);
    assert.match(readFileSync(kc, 'utf8'), /server: https:\/\/192\.168\.50\.10:6443/);
    const refused = await run(lab, ['kubectl', '--kubeconfig', kc, 'get', '--raw', '/readyz']);
    assert.is(refused.code, 1);
    assert.is(refused.stderr.trim(), 'The connection to the server 192.168.50.10:6443 was refused - did you specify the right host or port?');

    const multi = await run(lab, ['talosctl', ...tc, '-e', ip, '-n', `${ip},192.168.50.12`, 'bootstrap']);
    assert.match(multi.stderr, /command "bootstrap" is not supported with multiple nodes/);
    assert.is((await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'bootstrap'])).code, 0);
    const twice = await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'bootstrap']);
    assert.is(twice.code, 1);
    assert.is(twice.stderr.trim(), 'error executing bootstrap: rpc error: code = AlreadyExists desc = etcd data directory is not empty');
    assert.match((await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'service', 'etcd'])).stdout, /^STATE\s+Running$/m);
    assert.match((await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'etcd', 'members'])).stdout, /solo-cp-1\s+https:\/\/192\.168\.50\.11:2380/);

    const nodes = await run(lab, ['kubectl', '--kubeconfig', kc, 'get', 'nodes', '-o', 'json']);
    assert.is(nodes.code, 0, nodes.stderr);
    const ready = JSON.parse(nodes.stdout).items[0].status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal([ready.status, ready.reason], ['False', 'KubeletNotReady']);
    assert.match(ready.message, /cni plugin not initialized/);
    const health = await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'health', '--control-plane-nodes', ip, '--wait-timeout', '100ms']);
    assert.is(health.code, 1);
    assert.match(health.stderr, /waiting for etcd to be healthy: OK/);
    assert.match(health.stderr, /waiting for all k8s nodes to report ready: some nodes are not ready: \[solo-cp-1\]/);

    writeFileSync(join(lab.dir, 'values.yaml'), 'ipam:\n  mode: kubernetes\n');
    const helm = await run(lab, ['helm', 'upgrade', '--install', 'cilium', 'cilium', '--repo', 'https://helm.cilium.io', '--version', '1.18.3', '--namespace', 'kube-system', '--values', join(lab.dir, 'values.yaml'), '--kubeconfig', kc, '--wait']);
    assert.is(helm.code, 0, helm.stderr);
    assert.match(helm.stdout, /^Release "cilium" does not exist\. Installing it now\.\nNAME: cilium\n/);
    const status = JSON.parse((await run(lab, ['helm', 'status', 'cilium', '-n', 'kube-system', '-o', 'json', '--kubeconfig', kc])).stdout);
    assert.equal([status.name, status.info.status, status.version, status.namespace, status.chart.metadata.version], ['cilium', 'deployed', 1, 'kube-system', '1.18.3']);
    assert.match((await run(lab, ['kubectl', '--kubeconfig', kc, 'get', 'nodes', '--no-headers'])).stdout, /solo-cp-1\s+Ready\s+control-plane/);
    assert.is((await run(lab, ['talosctl', ...tc, '-e', ip, '-n', ip, 'health', '--control-plane-nodes', ip, '--wait-timeout', '1s'])).code, 0);

    const s = lab.state();
    assert.is(s.etcd.bootstraps, 1);
    assert.ok(s.vipUp);
    assert.is(lab.calls({ cmd: 'talosctl bootstrap' }).length, 3);
    assert.is(lab.calls({ cmd: 'talosctl bootstrap', failed: false }).length, 1);
    assert.ok(lab.calls({ cmd: 'talosctl bootstrap' })[0]!.envKeys.includes('LAB_DIR'));
  } finally {
    lab.cleanup();
  }
});

test('terraform: init, workspace, plan exit 2 then 0, apply of the saved plan creates the VMs, output -json shape, stale plan', async () => {
  const lab = createLab({ nodes: [{ name: 'a-cp-1', ip: '10.1.0.11', role: 'controlplane' }], vip: '10.1.0.10', clusterName: 'a' });
  const layer = join(lab.dir, 'terraform', '01-infrastructure');
  mkdirSync(layer, { recursive: true });
  writeFileSync(join(layer, 'main.tf'), 'terraform {}\n');
  const vars = join(lab.dir, 'infra.tfvars.json');
  writeFileSync(vars, JSON.stringify({ talos_version: 'v1.11.6', talos_extensions: ['siderolabs/qemu-guest-agent'], nodes: { 'a-cp-1': { role: 'controlplane', ip: '10.1.0.11', vm_id: 1011 } } }));
  const tf = (...a: string[]) => run(lab, ['terraform', `-chdir=${layer}`, ...a]);
  try {
    assert.match((await tf('plan', '-input=false', `-var-file=${vars}`)).stderr, /Error: Inconsistent dependency lock file/);
    assert.match((await tf('init', '-input=false', '-no-color')).stdout, /Terraform has been successfully initialized!/);
    assert.match((await tf('workspace', 'select', '-or-create', 'a')).stdout, /Created and switched to workspace "a"!/);
    assert.match((await tf('workspace', 'select', '-or-create', 'a')).stdout, /Switched to workspace "a"\./);
    const plan = await tf('plan', '-input=false', '-no-color', '-detailed-exitcode', `-var-file=${vars}`, '-out=tfplan');
    assert.is(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /Plan: 3 to add, 0 to change, 0 to destroy\./);
    assert.is(lab.state().nodes[0]!.present, false);
    const apply = await tf('apply', '-input=false', '-no-color', 'tfplan');
    assert.is(apply.code, 0, apply.stderr);
    assert.match(apply.stdout, /Apply complete! Resources: 3 added, 0 changed, 0 destroyed\./);
    const n = lab.state().nodes[0]!;
    assert.equal([n.present, n.mode, n.reachable], [true, 'maintenance', true]);
    const stale = await tf('apply', '-input=false', 'tfplan');
    assert.is(stale.code, 1);
    assert.match(stale.stderr, /Error: Saved plan is stale/);
    const again = await tf('plan', '-input=false', '-detailed-exitcode', `-var-file=${vars}`);
    assert.is(again.code, 0);
    assert.match(again.stdout, /No changes\. Your infrastructure matches the configuration\./);
    const out = JSON.parse((await tf('output', '-json')).stdout);
    assert.equal(Object.keys(out).sort(), ['installer_image', 'node_ips', 'schematic_id', 'vm_ids']);
    assert.equal(out.node_ips, { sensitive: false, type: ['map', 'string'], value: { 'a-cp-1': '10.1.0.11' } });
    assert.is(out.schematic_id.type, 'string');
    assert.match(out.schematic_id.value, /^[0-9a-f]{64}$/);
    assert.is(out.installer_image.value, `factory.talos.dev/metal-installer/${out.schematic_id.value}:v1.11.6`);
    assert.match((await tf('plan', `-var-file=${join(lab.dir, 'missing.json')}`)).stderr, /Given variables file .*missing\.json does not exist\./);
    const destroyPlan = await tf('plan', '-input=false', '-no-color', '-detailed-exitcode', `-var-file=${vars}`, '-out=destroy.plan', '-destroy');
    assert.is(destroyPlan.code, 2);
    assert.match(destroyPlan.stdout, /Plan: 0 to add, 0 to change, 3 to destroy\./);
    assert.match((await tf('apply', '-input=false', 'destroy.plan')).stdout, /Apply complete! Resources: 0 added, 0 changed, 3 destroyed\./);
    assert.is(lab.state().nodes[0]!.present, false, 'the VM is gone');
    assert.equal(JSON.parse((await tf('output', '-json')).stdout), {});
    const fmt = await run(lab, ['terraform', 'fmt', '-check', layer]);
    assert.is(fmt.code, 0, `fmt runs the real terraform: ${fmt.stderr}`);
  } finally {
    lab.cleanup();
  }
});

test('kubeseal output is a real SealedSecret that decrypts with the private key; RSA and expiry checks', async () => {
  const lab = createLab({ nodes: [], vip: '10.2.0.10' });
  const d = lab.dir;
  try {
    execFileSync('openssl', ['req', '-x509', '-days', '30', '-nodes', '-newkey', 'rsa:2048', '-keyout', join(d, 'tls.key'), '-out', join(d, 'tls.crt'), '-subj', '/CN=sealed-secret/O=sealed-secret'], { stdio: 'ignore' });
    const secret = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n  namespace: csi\ntype: Opaque\nstringData:\n  value: s3cr3t-value\ndata:\n  other: b3RoZXI=\n';
    const res = await run(lab, ['kubeseal', '--cert', join(d, 'tls.crt'), '--format', 'yaml'], { input: secret });
    assert.is(res.code, 0, res.stderr);
    const ss = parse(res.stdout);
    assert.equal([ss.apiVersion, ss.kind, ss.metadata.name, ss.metadata.namespace, ss.spec.template.type], ['bitnami.com/v1alpha1', 'SealedSecret', 'token', 'csi', 'Opaque']);
    assert.not.match(res.stdout, /s3cr3t-value/);
    const key = readFileSync(join(d, 'tls.key'), 'utf8');
    const open = (b64: string) => {
      const buf = Buffer.from(b64, 'base64');
      const n = buf.readUInt16BE(0);
      const sessionKey = crypto.privateDecrypt({ key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('csi/token') }, buf.subarray(2, 2 + n));
      const rest = buf.subarray(2 + n);
      const dec = crypto.createDecipheriv('aes-256-gcm', sessionKey, Buffer.alloc(12));
      dec.setAuthTag(rest.subarray(-16));
      return Buffer.concat([dec.update(rest.subarray(0, -16)), dec.final()]).toString('utf8');
    };
    assert.is(open(ss.spec.encryptedData.value), 's3cr3t-value');
    assert.is(open(ss.spec.encryptedData.other), 'other');
    const unsealed = await run(lab, ['kubeseal', '--recovery-unseal', '--recovery-private-key', join(d, 'tls.key'), '--format', 'json'], { input: res.stdout });
    assert.is(Buffer.from(JSON.parse(unsealed.stdout).data.value, 'base64').toString(), 's3cr3t-value');

    const empty = await run(lab, ['kubeseal', '--cert', join(d, 'tls.crt')], { input: 'apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: y}\n' });
    assert.match(empty.stderr, /secret\.data is empty in input Secret, assuming this is an error and aborting/);
    const noNs = await run(lab, ['kubeseal', '--cert', join(d, 'tls.crt')], { input: 'apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {a: b}\n' });
    assert.match(noNs.stderr, /input secret has no namespace and cannot infer the namespace automatically when no kube config is available/);

    execFileSync('openssl', ['req', '-x509', '-days', '30', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', join(d, 'ec.key'), '-out', join(d, 'ec.crt'), '-subj', '/CN=ec'], { stdio: 'ignore' });
    assert.match((await run(lab, ['kubeseal', '--cert', join(d, 'ec.crt')], { input: secret })).stderr, /expected RSA public key but found/);
    const ca = join(d, 'ca');
    mkdirSync(ca);
    writeFileSync(join(ca, 'index.txt'), '');
    writeFileSync(join(ca, 'serial'), '01\n');
    writeFileSync(join(ca, 'ca.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n');
    execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'old.key', '-subj', '/CN=old', '-out', 'old.csr'], { cwd: ca, stdio: 'ignore' });
    execFileSync('openssl', ['ca', '-batch', '-config', 'ca.cnf', '-selfsign', '-keyfile', 'old.key', '-in', 'old.csr', '-out', 'old.crt', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z'], { cwd: ca, stdio: 'ignore' });
    const expired = await run(lab, ['kubeseal', '--cert', join(ca, 'old.crt')], { input: secret });
    assert.is(expired.stderr.trim(), 'error: failed to encrypt using an expired certificate on January 2, 2020');
  } finally {
    lab.cleanup();
  }
});

test('concurrent apply-config to 5 nodes overlaps and loses no update', async () => {
  const lab = labFromConfig(fixture('five-node.yaml'), { initial: 'maintenance', latencyMs: { 'talosctl apply-config': 400 } });
  try {
    const { d } = await genConfig(lab, lab.options.vip);
    const results = await Promise.all(
      lab.options.nodes.map((n) =>
        run(lab, ['talosctl', 'apply-config', '--insecure', '--nodes', n.ip, '--file', join(d, n.role === 'controlplane' ? 'controlplane.yaml' : 'worker.yaml'), '--config-patch', `@${join(d, `${n.name}.yaml`)}`]),
      ),
    );
    assert.ok(results.every((r) => r.code === 0), results.map((r) => r.stderr).join(''));
    const s = lab.state();
    assert.ok(s.nodes.every((n) => n.mode === 'configured' && n.applyCount === 1), JSON.stringify(s.nodes));
    assert.equal(s.nodes.map((n) => n.hostname), lab.options.nodes.map((n) => n.name));
    assert.ok(lab.maxConcurrency('talosctl apply-config') >= 3, `peak overlap ${lab.maxConcurrency('talosctl apply-config')}`);
    for (const c of lab.calls({ cmd: 'talosctl apply-config' })) assert.ok(c.end - c.start >= 400, 'latency applied');
  } finally {
    lab.cleanup();
  }
});

test('faults: command fails N times, VIP down, CNI gone, node unreachable; call log keeps env values out', async () => {
  const lab = createLab({
    nodes: [{ name: 'r-cp-1', ip: '10.3.0.11', role: 'controlplane' }, { name: 'r-w-1', ip: '10.3.0.21', role: 'worker' }],
    vip: '10.3.0.10',
    clusterName: 'r',
    initial: 'running',
    kustomizations: [{ name: 'infrastructure' }, { name: 'apps', dependsOn: ['infrastructure'] }],
  });
  const kc = clusterPaths('r', { HOME_OPS_STATE_DIR: lab.stateDir }).kubeconfig;
  const k = (...a: string[]) => run(lab, ['kubectl', '--kubeconfig', kc, ...a], { env: { GITHUB_TOKEN: 'ghp_do-not-log-me' } });
  try {
    assert.is((await k('get', '--raw', '/readyz')).stdout, 'ok');
    lab.injectFault({ kind: 'command', cmd: 'kubectl get', exitCode: 1, stderr: 'Error from server (ServiceUnavailable): the server is currently unable to handle the request\n', times: 1 });
    const first = await k('get', 'nodes');
    assert.is(first.code, 1);
    assert.match(first.stderr, /ServiceUnavailable/);
    assert.is((await k('get', 'nodes')).code, 0, 'only the first call fails');

    lab.injectFault({ kind: 'vip-down' });
    assert.match((await k('get', 'nodes')).stderr, /The connection to the server 10\.3\.0\.10:6443 was refused/);
    assert.is((await k('--server', 'https://10.3.0.11:6443', 'get', '--raw', '/readyz')).stdout, 'ok', 'a control plane IP still answers');
    lab.clearFaults();

    lab.injectFault({ kind: 'flux-stuck', kustomization: 'infrastructure', message: 'kustomize build failed: lab' });
    const ks = async () => Object.fromEntries(JSON.parse((await k('get', 'kustomizations.kustomize.toolkit.fluxcd.io', '-A', '-o', 'json')).stdout).items.map((i: any) => [i.metadata.name, i.status.conditions[0]]));
    const stuck = await ks();
    assert.equal([stuck.infrastructure.status, stuck.infrastructure.message], ['False', 'kustomize build failed: lab']);
    assert.equal([stuck.apps.status, stuck.apps.reason], ['False', 'DependencyNotReady']);
    assert.is(stuck['flux-system'].status, 'True');
    lab.clearFaults();
    const healed = await ks();
    assert.equal([healed.infrastructure.status, healed.apps.status], ['True', 'True']);

    lab.injectFault({ kind: 'cni-gone' });
    const notReady = JSON.parse((await k('get', 'nodes', '-o', 'json')).stdout).items.map((n: any) => n.status.conditions.find((c: any) => c.type === 'Ready').status);
    assert.equal(notReady, ['False', 'False']);
    lab.injectFault({ kind: 'node-unreachable', node: 'r-w-1' });
    const w = (await k('get', 'nodes', 'r-w-1', '-o', 'json')).stdout;
    assert.is(JSON.parse(w).status.conditions.find((c: any) => c.type === 'Ready').reason, 'NodeStatusUnknown');
    const tc = clusterPaths('r', { HOME_OPS_STATE_DIR: lab.stateDir }).talosconfig;
    const t = await run(lab, ['talosctl', '--talosconfig', tc, '-e', '10.3.0.11', '-n', '10.3.0.21', 'version']);
    assert.match(t.stderr, /dial tcp 10\.3\.0\.21:50000: i\/o timeout/);

    lab.clearFaults();
    lab.injectFault({ kind: 'etcd-member-lost', node: 'r-cp-1' });
    assert.match((await run(lab, ['talosctl', '--talosconfig', tc, '-e', '10.3.0.11', '-n', '10.3.0.11', 'service', 'etcd'])).stdout, /^STATE\s+Failed$/m);
    assert.match((await k('get', '--raw', '/readyz')).stderr, /was refused/, 'the only member lost: no quorum, no API');

    const log = readFileSync(join(lab.dir, 'calls.jsonl'), 'utf8');
    assert.ok(lab.calls({ tool: 'kubectl' })[0]!.envKeys.includes('GITHUB_TOKEN'));
    assert.not.match(log, /ghp_do-not-log-me/);
  } finally {
    lab.cleanup();
  }
});

test('flux: the Kustomizations are what `kubectl kustomize` of the Flux path gives (patches applied); without kubectl the lab says so', async () => {
  // A cluster entry that takes a shared tree and patches it, as `task configure` renders kubernetes/clusters/<name>/.
  const repo = mkdtempSync(join(tmpdir(), 'lab-fluxpath-'));
  const write = (rel: string, text: string) => {
    mkdirSync(join(repo, rel, '..'), { recursive: true });
    writeFileSync(join(repo, rel), text);
  };
  const ks = (name: string, extra = '') => `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: ${name}\n  namespace: flux-system\nspec:\n  path: ./shared/${name}\n  sourceRef: { kind: GitRepository, name: flux-system }\n${extra}`;
  write('kubernetes/clusters/shared/kustomization.yaml', 'resources: [a.yaml, b.yaml]\n');
  write('kubernetes/clusters/shared/a.yaml', ks('a'));
  write('kubernetes/clusters/shared/b.yaml', ks('b', '  dependsOn: [{ name: a }]\n'));
  const entry = (deleteB: boolean) =>
    [
      'resources: [../shared]',
      'patches:',
      '  - target: { group: kustomize.toolkit.fluxcd.io, kind: Kustomization, name: a }',
      '    patch: \'[{ "op": "replace", "path": "/spec/path", "value": "./kubernetes/clusters/x/a" }]\'',
      ...(deleteB ? ['  - patch: \'{ "$patch": "delete", "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": { "name": "b", "namespace": "flux-system" } }\''] : []),
      '',
    ].join('\n');
  write('kubernetes/clusters/x/kustomization.yaml', entry(true));
  const lab = createLab({ nodes: [{ name: 'x-cp-1', ip: '10.4.1.11', role: 'controlplane' }], vip: '10.4.1.10', clusterName: 'x', initial: 'running', repoDir: repo });
  const kc = clusterPaths('x', { HOME_OPS_STATE_DIR: lab.stateDir }).kubeconfig;
  const names = () => lab.state().flux!.kustomizations.map((k) => k.name);
  try {
    assert.equal(names(), ['flux-system', 'a']);
    assert.is(lab.raw().flux.kustomizations.find((k: any) => k.name === 'a').spec.path, './kubernetes/clusters/x/a');
    // The entry changes (b no longer deleted): a reconcile builds again — with the real kubectl only.
    write('kubernetes/clusters/x/kustomization.yaml', entry(false));
    const reconcile = ['flux', 'reconcile', 'kustomization', 'flux-system', `--kubeconfig=${kc}`];
    const noKubectl = await run(lab, reconcile, { env: { LAB_REAL_KUBECTL: join(repo, 'no-kubectl') } });
    assert.is(noKubectl.code, 127, noKubectl.stderr);
    assert.match(noKubectl.stderr, /lab: the Flux path is built with the real `kubectl kustomize` \(.*no-kubectl; set LAB_REAL_KUBECTL, \.ci\/run installs kubectl\) and it cannot run: /);
    assert.equal(names(), ['flux-system', 'a']);
    const ok = await run(lab, reconcile);
    assert.is(ok.code, 0, ok.stderr);
    assert.equal(names(), ['flux-system', 'a', 'b']);
    assert.equal(lab.state().flux!.kustomizations.find((k) => k.name === 'b')!.dependsOn, ['flux-system/a']);
  } finally {
    lab.cleanup();
    rmSync(repo, { recursive: true, force: true });
  }
});

test('flux: each Kustomization is reconciled on its own path from the pushed branch — dependsOn first, a missing file keeps it BuildFailed until pushed, postBuild as Flux v2.7.3 substitutes', async () => {
  // A cluster path and four trees, committed and pushed to a bare "GitHub" remote that the lab's Flux reads.
  const work = mkdtempSync(join(tmpdir(), 'lab-fluxrec-'));
  const repo = join(work, 'repo');
  const origin = join(work, 'origin.git');
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 'lab', GIT_AUTHOR_EMAIL: 'lab@example.org', GIT_COMMITTER_NAME: 'lab', GIT_COMMITTER_EMAIL: 'lab@example.org' } });
  const write = (rel: string, text: string) => {
    mkdirSync(join(repo, rel, '..'), { recursive: true });
    writeFileSync(join(repo, rel), text);
  };
  const push = (message: string) => {
    git('add', '-A');
    git('commit', '--quiet', '-m', message);
    git('push', '--quiet', 'origin', 'HEAD:refs/heads/main');
  };
  const ks = (name: string, extra: string) => `---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: { name: ${name}, namespace: flux-system }\nspec:\n  interval: 30m\n  path: ./kubernetes/${name}\n  prune: true\n  sourceRef: { kind: GitRepository, name: flux-system }\n${extra}`;
  const settings = '  postBuild:\n    substituteFrom:\n      - { kind: ConfigMap, name: cluster-settings }\n';
  const cm = (name: string, data: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name}, namespace: demo }\ndata:\n${data}`;
  mkdirSync(repo, { recursive: true });
  git('init', '--quiet', '-b', 'main');
  execFileSync('git', ['init', '--quiet', '--bare', origin]);
  git('remote', 'add', 'origin', origin);
  write('kubernetes/clusters/x/kustomization.yaml', 'resources: [settings.yaml, flux.yaml]\n');
  write('kubernetes/clusters/x/settings.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cluster-settings, namespace: flux-system }\ndata:\n  ZONE: example.org\n');
  write(
    'kubernetes/clusters/x/flux.yaml',
    [
      // secrets: no kustomization.yaml (Flux generates one from the manifests it finds; README.md is not one).
      ks('secrets', ''),
      ks('base', settings),
      ks('nosettings', '  postBuild:\n    substituteFrom:\n      - { kind: ConfigMap, name: absent }\n'),
      ks('optional', '  postBuild:\n    substitute: { ZONE: inline.example.org }\n    substituteFrom:\n      - { kind: ConfigMap, name: absent, optional: true }\n'),
      ks('csi', '  timeout: 5m\n  healthChecks:\n    - { apiVersion: v1, kind: Secret, name: token, namespace: csi }\n  dependsOn: [{ name: base }]\n'),
      ks('app', '  dependsOn: [{ name: csi }]\n'),
      // nopath: a path that is not in the repository.
      ks('nopath', ''),
    ].join(''),
  );
  write('kubernetes/secrets/README.md', 'sealed files go here\n');
  write('kubernetes/base/kustomization.yaml', 'resources: [cm.yaml, raw.yaml]\n');
  write('kubernetes/base/cm.yaml', cm('base', '  zone: ${ZONE}\n  unset: "${UNSET}"\n  fallback: ${FALLBACK:=d}\n  literal: $${ZONE}\n'));
  write('kubernetes/base/raw.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: raw\n  namespace: demo\n  annotations: { kustomize.toolkit.fluxcd.io/substitute: disabled }\ndata:\n  pod: ${.Env.POD_NAME}\n');
  write('kubernetes/nosettings/kustomization.yaml', 'resources: [cm.yaml]\n');
  write('kubernetes/nosettings/cm.yaml', cm('nosettings', '  zone: ${ZONE}\n'));
  write('kubernetes/optional/kustomization.yaml', 'resources: [cm.yaml]\n');
  write('kubernetes/optional/cm.yaml', cm('optional', '  zone: ${ZONE}\n'));
  write('kubernetes/csi/kustomization.yaml', 'resources: []\n');
  // app names a file that is not in git yet.
  write('kubernetes/app/kustomization.yaml', 'resources: [later.yaml]\n');
  push('tree');

  const labs: Lab[] = [];
  const bootstrapped = async (strict: boolean) => {
    const lab = createLab({ nodes: [{ name: 'x-cp-1', ip: '10.4.2.11', role: 'controlplane' }], vip: '10.4.2.10', clusterName: 'x', initial: 'running', repoDir: repo, originDir: origin, strictPostBuildSubstitutions: strict });
    labs.push(lab);
    const kc = clusterPaths('x', { HOME_OPS_STATE_DIR: lab.stateDir }).kubeconfig;
    // A fresh Flux: the preset's is removed, then bootstrapped as the bootstrap does.
    assert.is((await run(lab, ['flux', 'uninstall', '--silent', `--kubeconfig=${kc}`])).code, 0);
    const boot = await run(lab, ['flux', 'bootstrap', 'github', '--owner=me', '--repository=home-ops', '--branch=main', '--path=kubernetes/clusters/x', '--personal', `--kubeconfig=${kc}`], { env: { GITHUB_TOKEN: 'ghp_x' } });
    assert.is(boot.code, 0, boot.stderr);
    return { lab, kc };
  };
  const status = (lab: Lab) => Object.fromEntries(lab.state().flux!.kustomizations.map((k) => [k.name, { ready: k.ready, reason: k.reason, message: k.message }]));
  try {
    const { lab, kc } = await bootstrapped(false);
    const rev = `main@sha1:${lab.raw().flux.revision}`;
    let s = status(lab);
    assert.equal(s.secrets, { ready: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${rev}` }, 'generated kustomization.yaml');
    assert.is(s.base!.ready, 'True');
    // Non-strict (the default): ${UNSET} became empty, ${FALLBACK:=d} its default; the resource annotated
    // substitute: disabled was left alone (its ${.Env.POD_NAME} would not parse).
    const raw = (name: string) => lab.raw().flux.kustomizations.find((k: { name: string }) => k.name === name);
    assert.equal(raw('base').unsetVars, ['UNSET']);
    assert.equal(s.nosettings, { ready: 'False', reason: 'BuildFailed', message: `post build failed for 'ConfigMap.v1.[noGrp]/nosettings': substitute from 'ConfigMap/absent' error: configmaps "absent" not found` });
    assert.is(s.optional!.ready, 'True', 'an optional substituteFrom that is absent is skipped');
    assert.is(s.nopath!.reason, 'ArtifactFailed');
    assert.match(s.nopath!.message!, /^kustomization path not found: stat \S*\/kubernetes\/nopath: no such file or directory$/);
    // csi waits for the Secret its health check names; app for csi (dependsOn first, though its own build fails too).
    assert.equal(s.csi, { ready: 'Unknown', reason: 'Progressing', message: `Running health checks for revision ${rev} with a timeout of 5m0s` });
    assert.equal(s.app, { ready: 'False', reason: 'DependencyNotReady', message: "dependency 'flux-system/csi' is not ready" });

    // The Secret, sealed into the secrets tree — in the working copy only, Flux does not see it.
    write('kubernetes/secrets/token.sealed.yaml', 'apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: { name: token, namespace: csi }\nspec:\n  encryptedData: { token: AgBy }\n');
    const reconcileSource = ['flux', 'reconcile', 'source', 'git', 'flux-system', `--kubeconfig=${kc}`];
    assert.is((await run(lab, reconcileSource)).code, 0);
    assert.is(status(lab).csi!.ready, 'Unknown', 'not pushed yet');
    push('csi token');
    assert.is((await run(lab, reconcileSource)).code, 0);
    s = status(lab);
    assert.is(s.csi!.ready, 'True');
    assert.is(s.app!.reason, 'BuildFailed');
    assert.match(s.app!.message!, /^kustomize build failed: .*later\.yaml/);
    const failed = await run(lab, ['flux', 'reconcile', 'kustomization', 'app', `--kubeconfig=${kc}`]);
    assert.is(failed.code, 1);
    assert.match(failed.stderr, /✗ kustomize build failed: .*later\.yaml/);
    write('kubernetes/app/later.yaml', cm('later', '  a: b\n'));
    push('the file app names');
    assert.is((await run(lab, reconcileSource)).code, 0);
    assert.equal(status(lab).app, { ready: 'True', reason: 'ReconciliationSucceeded', message: `Applied revision: ${rev}` });

    // With kustomize-controller's StrictPostBuildSubstitutions gate, the undefined variable fails the build instead.
    const strict = await bootstrapped(true);
    assert.equal(status(strict.lab).base, { ready: 'False', reason: 'BuildFailed', message: `post build failed for 'ConfigMap.v1.[noGrp]/base': envsubst error: variable substitution failed: variable not set (strict mode): "UNSET"` });
  } finally {
    for (const l of labs) l.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
});

test("flux: postBuild's envsubst follows fluxcd/pkg envsubst v1.5.0 (its eval_test.go cases)", () => {
  const vars: Record<string, string> = { var01: 'abcdEFGH28ij', default_var: 'foo', empty: '' };
  const sub = (t: string, strict = false) => envsubst(t, (n: string) => vars[n], strict);
  assert.is(sub('$${var01}').output, '${var01}');
  assert.is(sub('some text ${var01}$${var$${var01}$var01${var01}').output, 'some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij');
  assert.is(sub('something $${var=${default_var}}').output, 'something ${var=foo}');
  assert.equal(sub('${missing}-${missing:=x}-${empty:-y}-${var01=z}'), { output: '-x-y-abcdEFGH28ij', unset: ['missing'] });
  assert.throws(() => sub('${missing}', true), /variable not set \(strict mode\): "missing"/);
  assert.is(sub('${missing:=d}', true).output, 'd', 'a default satisfies strict mode');
  assert.throws(() => sub('${.Env.POD_NAME}'), /unable to parse variable name/);
  assert.throws(() => sub('${var01'), /missing closing brace/);
});

test('flux: bootstrap needs GITHUB_TOKEN, Kustomizations turn Ready in dependsOn order, a stuck one blocks its dependants', async () => {
  const lab = createLab({
    nodes: [{ name: 'f-cp-1', ip: '10.4.0.11', role: 'controlplane' }],
    vip: '10.4.0.10',
    clusterName: 'f',
    initial: 'running',
    kustomizations: [{ name: 'crds' }, { name: 'infrastructure', dependsOn: ['crds'] }, { name: 'apps', dependsOn: ['infrastructure'] }],
    timings: { kustomizationStep: 40 },
  });
  const kc = clusterPaths('f', { HOME_OPS_STATE_DIR: lab.stateDir }).kubeconfig;
  const boot = ['flux', 'bootstrap', 'github', '--owner=me', '--repository=home-ops', '--branch=main', '--path=kubernetes/clusters/f', '--personal', `--kubeconfig=${kc}`];
  try {
    const noToken = await run(lab, boot);
    assert.is(noToken.code, 1);
    assert.match(noToken.stderr, /Please enter your GitHub personal access token \(PAT\): /);
    lab.injectFault({ kind: 'flux-stuck', kustomization: 'infrastructure' });
    // A fresh Flux state: uninstall, then bootstrap again with the token.
    assert.is((await run(lab, ['flux', 'uninstall', '--silent', `--kubeconfig=${kc}`])).code, 0);
    const ok = await run(lab, boot, { env: { GITHUB_TOKEN: 'ghp_x' } });
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /✔ Kustomization reconciled successfully\n► confirming components are healthy\n/);
    await new Promise((r) => setTimeout(r, 200));
    const list = JSON.parse((await run(lab, ['kubectl', '--kubeconfig', kc, 'get', 'kustomizations.kustomize.toolkit.fluxcd.io', '-A', '-o', 'json'])).stdout);
    const by = Object.fromEntries(list.items.map((i: any) => [i.metadata.name, i.status.conditions[0]]));
    assert.is(by.crds.status, 'True');
    assert.is(by.infrastructure.status, 'False');
    assert.is(by.apps.reason, 'DependencyNotReady');
    assert.is(by.apps.message, "dependency 'flux-system/infrastructure' is not ready");
    lab.clearFaults();
    await new Promise((r) => setTimeout(r, 150));
    const ks = lab.state().flux!.kustomizations;
    const at = (n: string) => ks.find((x) => x.name === n)!.readyAt!;
    assert.ok(at('flux-system') < at('crds') && at('crds') < at('infrastructure') && at('infrastructure') < at('apps'), JSON.stringify(ks));
    const table = await run(lab, ['flux', 'get', 'kustomizations', '-A', '--no-header', `--kubeconfig=${kc}`]);
    assert.is(table.stdout.trim().split('\n').length, 4);
    assert.is(lab.state().flux!.bootstrapCount, 1);
  } finally {
    lab.cleanup();
  }
});

test('day-2: etcd snapshot writes a real file; wiping every control plane loses the data; bootstrap --recover-from restores it', async () => {
  const lab = createLab({ nodes: [{ name: 'd-cp-1', ip: '10.5.0.11', role: 'controlplane' }], vip: '10.5.0.10', clusterName: 'd', initial: 'running', kustomizations: [] });
  const p = clusterPaths('d', { HOME_OPS_STATE_DIR: lab.stateDir });
  const tc = ['talosctl', '--talosconfig', p.talosconfig, '-e', '10.5.0.11', '-n', '10.5.0.11'];
  try {
    const applied = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'apply', '-f', '-'], { input: 'apiVersion: v1\nkind: Secret\nmetadata: {name: keep-me, namespace: kube-system}\nstringData: {a: b}\n' });
    assert.is(applied.stdout, 'secret/keep-me created\n', applied.stderr);
    const dup = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'create', '-f', '-'], { input: 'apiVersion: v1\nkind: Secret\nmetadata: {name: keep-me, namespace: kube-system}\nstringData: {a: b}\n' });
    assert.is(dup.stderr.trim(), 'Error from server (AlreadyExists): error when creating "STDIN": secrets "keep-me" already exists');
    const file = join(lab.dir, 'db.snapshot');
    const snap = await run(lab, [...tc, 'etcd', 'snapshot', file]);
    assert.is(snap.code, 0, snap.stderr);
    assert.match(snap.stdout, /^etcd snapshot saved to ".*db\.snapshot" \(\d+ bytes\)\nsnapshot info: hash [0-9a-f]{8}, revision \d+, total keys \d+, total size \d+\n$/);
    assert.is(statSync(file).size % 512, 32);

    const reset = await run(lab, [...tc, 'reset', '--system-labels-to-wipe', 'EPHEMERAL', '--graceful=false', '--reboot', '--wait=false']);
    assert.is(reset.code, 0, reset.stderr);
    assert.is(lab.state().etcd.bootstrapped, false, 'no etcd data left anywhere');
    assert.match((await run(lab, [...tc, 'service', 'etcd'])).stdout, /^STATE\s+Preparing$/m);
    const rec = await run(lab, [...tc, 'bootstrap', '--recover-from', file]);
    assert.is(rec.code, 0, rec.stderr);
    assert.match(rec.stdout, /^recovering from snapshot ".*db\.snapshot": hash [0-9a-f]{8}, revision \d+/);
    const back = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'get', 'secret', 'keep-me', '-n', 'kube-system', '-o', 'json']);
    assert.is(JSON.parse(back.stdout).data.a, 'Yg==');
    const missing = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'get', 'secret', 'nope', '-n', 'kube-system']);
    assert.is(missing.stderr.trim(), 'Error from server (NotFound): secrets "nope" not found');
    assert.is(lab.state().etcd.recoveredFrom, file);
  } finally {
    lab.cleanup();
  }
});

test('kubectl apply -f URL: the Gateway API CRD files become CRDs with their bundle version; any other URL is a 404', async () => {
  const lab = createLab({ nodes: [{ name: 'g-cp-1', ip: '10.6.0.11', role: 'controlplane' }], vip: '10.6.0.10', clusterName: 'g', initial: 'running', kustomizations: [] });
  const p = clusterPaths('g', { HOME_OPS_STATE_DIR: lab.stateDir });
  const base = 'https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.3.0/config/crd';
  try {
    const applied = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'apply', '--server-side', '-f', `${base}/standard/gateway.networking.k8s.io_gateways.yaml`, '-f', `${base}/experimental/gateway.networking.k8s.io_tlsroutes.yaml`]);
    assert.is(applied.stdout, 'customresourcedefinition.apiextensions.k8s.io/gateways.gateway.networking.k8s.io serverside-applied\ncustomresourcedefinition.apiextensions.k8s.io/tlsroutes.gateway.networking.k8s.io serverside-applied\n', applied.stderr);
    const got = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'get', 'customresourcedefinitions', 'gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', '-o', 'json', '--ignore-not-found']);
    const items = JSON.parse(got.stdout).items as { metadata: { name: string; annotations: Record<string, string> } }[];
    assert.equal(items.map((i) => [i.metadata.name, i.metadata.annotations['gateway.networking.k8s.io/bundle-version']]), [['gateways.gateway.networking.k8s.io', 'v1.3.0']]);
    const bad = await run(lab, ['kubectl', '--kubeconfig', p.kubeconfig, 'apply', '-f', 'https://example.org/x.yaml']);
    assert.is(bad.code, 1);
    assert.is(bad.stderr.trim(), 'error: unable to read URL "https://example.org/x.yaml", server reported 404 Not Found, status code=404');
  } finally {
    lab.cleanup();
  }
});

test('critical path sums the unavoidable waits and path latencies; kubectl kustomize runs the real kubectl', async () => {
  const lab = createLab({
    nodes: [{ name: 'c-cp-1', ip: '10.6.0.11', role: 'controlplane' }],
    vip: '10.6.0.10',
    kustomizations: [{ name: 'a' }, { name: 'b', dependsOn: ['a'] }],
    timings: { vmBoot: 10, applyReboot: 20, etcdBootstrap: 30, etcdJoin: 5, apiServer: 40, kubeletRegister: 50, cniReady: 60, fluxInstall: 70, kustomizationStep: 80 },
    latencyMs: { 'talosctl apply-config': 7, 'helm upgrade': 3 },
  });
  try {
    const cp = lab.criticalPath();
    // 7 + 10 + 20 + 30 + max(5, 40 + max(50, 3) + 60) + 70 + 3 × 80
    assert.is(cp.totalMs, 7 + 10 + 20 + 30 + 150 + 70 + 240);
    // flux-system counts once, whether a Kustomization lists it in dependsOn or waits for it implicitly (world.mjs).
    const root = fluxSystemKustomization('kubernetes/clusters/c');
    assert.is(dependencyDepth([root, ...explicitKustomizations([{ name: 'a', dependsOn: ['flux-system'] }, { name: 'b', dependsOn: ['a'] }])]), 3);
    assert.is(dependencyDepth([root, ...explicitKustomizations([{ name: 'a' }, { name: 'b' }])]), 2);
    assert.is(dependencyDepth([root]), 1);
    const scaled = scaleTimings(REALISTIC_TIMINGS, 100);
    assert.is(scaled.applyReboot, REALISTIC_TIMINGS.applyReboot / 100);
    const dir = mkdtempSync(join(tmpdir(), 'kustomize-'));
    writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [cm.yaml]\n');
    writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n');
    const out = await run(lab, ['kubectl', 'kustomize', dir]);
    rmSync(dir, { recursive: true, force: true });
    assert.is(out.code, 0, out.stderr);
    assert.match(out.stdout, /kind: ConfigMap/);
  } finally {
    lab.cleanup();
  }
});

test('the fakes\' small config parser reads kubeconfig/talosconfig exactly like the yaml package, and refuses the rest', () => {
  const lab = createLab({ nodes: [{ name: 'y-cp-1', ip: '10.7.0.11', role: 'controlplane' }], vip: '10.7.0.10', clusterName: 'y', initial: 'running', kustomizations: [] });
  try {
    const p = clusterPaths('y', { HOME_OPS_STATE_DIR: lab.stateDir });
    const kc = readFileSync(p.kubeconfig, 'utf8');
    const doc = parseDocument(kc);
    doc.setIn(['clusters', 0, 'cluster', 'server'], 'https://10.7.0.11:6443');
    for (const text of [kc, doc.toString(), readFileSync(p.talosconfig, 'utf8'), 'a:\n  - "x#y"\n  - \'it\'\'s\'\nb: [1, two]\nc: {}\n']) {
      assert.equal(parseMini(text), parse(text));
    }
    for (const text of ['a: |\n  x\n', 'a: &x 1\nb: *x\n', 'a: [1, [2]]\n', 'a: 1\n---\nb: 2\n']) {
      assert.throws(() => parseMini(text));
    }
  } finally {
    lab.cleanup();
  }
});

// Every fake refuses an option its real parser does not know, with the real parser's words — so a product bug like
// `pvesm list --output-format json` (pve-storage declares no output options for `list`) fails a test instead of
// passing it. Cobra tools (spf13/pflag flag.go): `unknown flag: --x`; terraform (Go `flag`): `flag provided but not
// defined: -x`; PVE tools (pve-common JSONSchema.pm get_options): `Unknown option: x` + `400 unable to parse option`.
test('strict fakes: each one rejects an unknown flag as its real option parser does', async () => {
  const lab = labFromConfig(fixture('one-node.yaml'), { initial: 'maintenance', kustomizations: [] });
  const remoteDir = mkdtempSync(join(tmpdir(), 'remote-strict-'));
  try {
    const cobra: [string[], RegExp][] = [
      [['talosctl', 'version', '--bogus'], /^Error: unknown flag: --bogus$/m],
      [['flux', 'get', 'kustomizations', '--bogus'], /unknown flag: --bogus$/m],
      [['helm', 'list', '--bogus'], /^Error: unknown flag: --bogus$/m],
      [['kubectl', 'get', 'pods', '--bogus'], /^error: unknown flag: --bogus$/m],
      [['kubeseal', '--bogus'], /^Error: unknown flag: --bogus$/m],
    ];
    for (const [argv, re] of cobra) {
      const r = await run(lab, argv);
      assert.is.not(r.code, 0, argv.join(' '));
      assert.match(r.stderr, re, argv.join(' '));
    }
    const tf = await run(lab, ['terraform', 'plan', '-bogus']);
    assert.is.not(tf.code, 0);
    assert.match(tf.stderr, /flag provided but not defined: -bogus/);

    const remote = (argv: string[]) => run(lab, [join(REPO_ROOT, 'test/lab/remote/bin', argv[0]!), ...argv.slice(1)], { env: { LAB_REMOTE_DIR: remoteDir } });
    const hs = await remote(['headscale', 'nodes', 'list', '--bogus']);
    assert.is(hs.code, 1);
    assert.match(hs.stderr, /^Error: unknown flag: --bogus$/m);
    const hsShort = await remote(['headscale', 'nodes', 'list', '-q']);
    assert.match(hsShort.stderr, /^Error: unknown shorthand flag: 'q' in -q$/m);
    for (const argv of [
      ['pvesm', 'list', 'local-lvm', '--output-format', 'json'],
      ['pveum', 'role', 'list', '--bogus', '1'],
      ['pvesh', 'get', '/cluster/resources', '--content', 'images'],
      ['pveversion', '--output-format', 'json'],
    ]) {
      const r = await remote(argv);
      assert.is(r.code, 255, argv.join(' '));
      const name = argv.find((a) => a.startsWith('--'))!.slice(2);
      assert.match(r.stderr, new RegExp(`^Unknown option: ${name}\\n400 unable to parse option\\n`), argv.join(' '));
    }
    // What the product uses instead answers.
    const ok = await remote(['pvesh', 'get', '/nodes/pve/storage/local-lvm/content', '--content', 'images', '--output-format', 'json']);
    assert.is(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout), []);
  } finally {
    lab.cleanup();
    rmSync(remoteDir, { recursive: true, force: true });
  }
});

// Kubernetes v1.34 NodeRestriction (plugin/pkg/admission/noderestriction/admission.go) as Talos v1.11.6 meets it
// (internal/app/machined/pkg/controllers/k8s/node_apply.go: a worker labels its Node with the kubelet's credentials).
test('worker nodeLabels with a label a kubelet may not set are rejected whole; the admin kubeconfig can set it', async () => {
  const cfg = fixture('five-node.yaml');
  const lab = labFromConfig(cfg, { initial: 'maintenance', kustomizations: [] });
  try {
    const { d, tc } = await genConfig(lab, cfg.network.vip);
    writeFileSync(join(d, 'labels.yaml'), 'machine:\n  nodeLabels:\n    node-role.kubernetes.io/worker: ""\n    topology.kubernetes.io/zone: pve\n');
    writeFileSync(join(d, 'allowed.yaml'), 'machine:\n  nodeLabels:\n    topology.kubernetes.io/zone: pve\n    node.kubernetes.io/pool: a\n');
    const [cp, w1, w2] = [lab.options.nodes.find((n) => n.role === 'controlplane')!, ...lab.options.nodes.filter((n) => n.role === 'worker')];
    for (const n of lab.options.nodes) {
      const file = join(d, n.role === 'controlplane' ? 'controlplane.yaml' : 'worker.yaml');
      const extra = n === w2 ? 'allowed.yaml' : 'labels.yaml';
      const r = await run(lab, ['talosctl', 'apply-config', '--insecure', '--nodes', n.ip, '--file', file, '--config-patch', `@${join(d, `${n.name}.yaml`)}`, '--config-patch', `@${join(d, extra)}`]);
      assert.is(r.code, 0, r.stderr);
    }
    while (!lab.state().nodes.every((n) => n.reachable)) await new Promise((r) => setTimeout(r, 20));
    assert.is((await run(lab, ['talosctl', ...tc, '-e', cp.ip, '-n', cp.ip, 'bootstrap'])).code, 0);
    const labels = (name: string) => lab.state().nodes.find((n) => n.name === name)?.k8s?.labels;
    for (let i = 0; i < 400 && !lab.state().nodes.every((n) => n.k8s); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(labels(w1!.name), {}, 'the whole update is rejected: the topology label is lost too');
    assert.equal(labels(w2!.name), { 'topology.kubernetes.io/zone': 'pve', 'node.kubernetes.io/pool': 'a' });
    assert.is(labels(cp.name)?.['node-role.kubernetes.io/worker'], '', 'control planes label with admin credentials');
    const kc = join(lab.dir, 'kubeconfig');
    assert.is((await run(lab, ['talosctl', ...tc, '-e', cp.ip, '-n', cp.ip, 'kubeconfig', kc, '--force', '--merge=false'])).code, 0);
    const set = await run(lab, ['kubectl', '--kubeconfig', kc, 'label', 'node', w2!.name, 'node-role.kubernetes.io/worker=']);
    assert.is(set.code, 0, set.stderr);
    assert.is(set.stdout, `node/${w2!.name} labeled\n`);
    assert.is(labels(w2!.name)?.['node-role.kubernetes.io/worker'], '');
    const listed = JSON.parse((await run(lab, ['kubectl', '--kubeconfig', kc, 'get', 'nodes', '-o', 'json'])).stdout) as { items: { metadata: { name: string; labels: Record<string, string> } }[] };
    assert.is(listed.items.find((n) => n.metadata.name === w2!.name)?.metadata.labels['node-role.kubernetes.io/worker'], '');
  } finally {
    lab.cleanup();
  }
});

test.run();
