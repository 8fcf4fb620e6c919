import { execFileSync } from 'node:child_process';
import { utimesSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generatedPaths } from '../../scripts/lib/configure/render.ts';
import { REPO_ROOT, clusterPaths } from '../../scripts/lib/core/paths.ts';
import { EXIT_REFUSED } from '../../scripts/lib/core/confirm.ts';
import { applyNodeScript, upgradeK8sScript, upgradeNodeScript } from '../../scripts/lib/day2/scripts.ts';
import * as machineConfig from '../../scripts/lib/talos/machine-config.ts';
import type { Lab } from '../lab/lab.ts';
import { CLUSTER, config, ip, mutatingCalls, nodeOf, run, runningLab } from './harness.ts';

// talos:upgrade-node, talos:upgrade-k8s and talos:apply-node against the lab: the target comes from the config and
// Terraform's schematic (never from the nodes), control planes strictly one at a time, health gates around each node.

const FAST = ['--wait-scale', '0.02'];

function installerOutput(lab: Lab): string {
  const out = execFileSync('terraform', ['-chdir=terraform/01-infrastructure', 'output', '-json'], { cwd: REPO_ROOT, env: { ...process.env, ...lab.env }, encoding: 'utf8' });
  return (JSON.parse(out) as { schematic_id: { value: string } }).schematic_id.value;
}

test('upgrade-node: config version + Terraform schematic, control planes first and one at a time, health before and after each node', async () => {
  const lab = runningLab({ talosVersion: 'v1.11.5' });
  try {
    const r = await run(lab, upgradeNodeScript, FAST);
    assert.is(r.code, 0, r.text);
    const schematic = installerOutput(lab);
    const want = `factory.talos.dev/metal-installer/${schematic}:${config.versions.talos}`;
    const upgrades = lab.calls({ cmd: 'talosctl upgrade' }).filter((c) => c.cmd === 'talosctl upgrade');
    assert.equal(upgrades.map((c) => nodeOf(c.argv)), ['infra-cp-1', 'infra-cp-2', 'infra-cp-3', 'infra-worker-1', 'infra-worker-2'].map(ip));
    for (const c of upgrades) assert.is(c.argv[c.argv.indexOf('--image') + 1], want);
    assert.is(lab.maxConcurrency('talosctl upgrade'), 1);
    // A health gate finished before the first upgrade and between every two.
    const health = lab.calls({ cmd: 'talosctl health' });
    assert.ok(health.length >= upgrades.length + 1);
    assert.ok(health[0]!.end <= upgrades[0]!.start);
    for (let i = 1; i < upgrades.length; i++) {
      assert.ok(health.some((h) => h.start >= upgrades[i - 1]!.end && h.end <= upgrades[i]!.start && h.exitCode === 0), `health gate between ${i} and ${i + 1}`);
    }
    assert.ok(lab.state().nodes.every((n) => n.talosVersion === config.versions.talos && n.installImage === want));

    // A re-run finds every node at the target: nothing to do.
    const again = await run(lab, upgradeNodeScript, FAST);
    assert.is(again.code, 0, again.text);
    assert.is(lab.calls({ cmd: 'talosctl upgrade' }).filter((c) => c.cmd === 'talosctl upgrade').length, 5);
  } finally {
    lab.cleanup();
  }
});

test('upgrade-node stops before touching anything when the cluster is unhealthy', async () => {
  const lab = runningLab({ talosVersion: 'v1.11.5', faults: [{ kind: 'cni-gone' }] });
  try {
    const r = await run(lab, upgradeNodeScript, ['--nodes', 'infra-worker-1', ...FAST]);
    assert.is(r.code, 1, r.text);
    assert.match(r.stderr, /the cluster is not healthy \(before the upgrade\): nothing more is changed/);
    assert.equal(mutatingCalls(lab), []);
  } finally {
    lab.cleanup();
  }
});

test('upgrade-k8s: to the config version through the first control plane, health gates around it; --preview changes nothing', async () => {
  const lab = runningLab({ kubernetesVersion: '1.34.0' });
  try {
    const preview = await run(lab, upgradeK8sScript, ['--preview', ...FAST]);
    assert.is(preview.code, 0, preview.text);
    assert.match(preview.stdout, /dry-run/);
    assert.equal(mutatingCalls(lab), []);

    const r = await run(lab, upgradeK8sScript, FAST);
    assert.is(r.code, 0, r.text);
    const up = lab.calls({ cmd: 'talosctl upgrade-k8s' }).filter((c) => !c.argv.includes('--dry-run'));
    assert.is(up.length, 1);
    assert.is(nodeOf(up[0]!.argv), ip('infra-cp-1'));
    assert.is(up[0]!.argv[up[0]!.argv.indexOf('--to') + 1], config.versions.kubernetes);
    const health = lab.calls({ cmd: 'talosctl health' });
    assert.ok(health.some((h) => h.end <= up[0]!.start) && health.some((h) => h.start >= up[0]!.end));

    const again = await run(lab, upgradeK8sScript, FAST);
    assert.is(again.code, 0);
    assert.match(again.text, /every node runs Kubernetes v1\.34\.1 already/);

    // upgrade-k8s patched the configs on the nodes, not the local files (generated with 1.34.0): apply-node refuses
    // to send one, which would revert the node's Kubernetes, and says how to regenerate.
    const applies = lab.calls({ cmd: 'talosctl apply-config' }).length;
    const apply = await run(lab, applyNodeScript, ['--node', 'infra-worker-1', ...FAST]);
    assert.is(apply.code, EXIT_REFUSED, apply.text);
    assert.match(apply.stderr, /worker\.yaml is stale \(generated for Kubernetes 1\.34\.0, versions\.kubernetes is 1\.34\.1\): applying it would revert the node\. Run `task bootstrap -- --only talos`/);
    assert.is(lab.calls({ cmd: 'talosctl apply-config' }).length, applies);
  } finally {
    lab.cleanup();
  }
});

test('apply-node: the role config + the node patch to a configured node; refuses stale machine configs and unknown nodes', async () => {
  const lab = runningLab();
  try {
    const none = await run(lab, applyNodeScript, []);
    assert.is(none.code, 2, 'no --node is a usage error');
    assert.match(none.text, 'needs --nodes N[,N]');
    const unknown = await run(lab, applyNodeScript, ['--node', 'infra-worker-9']);
    assert.is(unknown.code, EXIT_REFUSED);
    // What the bootstrap's talos phase generates (same secrets as the running cluster).
    const p = clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir });
    const gen = generatedPaths(CLUSTER);
    execFileSync(
      'talosctl',
      machineConfig.genConfigArgv({
        clusterName: CLUSTER, vip: config.network.vip, secretsFile: p.talosSecrets, commonPatch: gen.talosCommon,
        controlPlanePatch: gen.talosControlPlane, workerPatch: gen.talosWorker, kubernetesVersion: config.versions.kubernetes,
        talosVersion: config.versions.talos, outDir: p.talosDir,
      }).slice(1),
      { cwd: REPO_ROOT, env: { ...process.env, ...lab.env } },
    );
    // Generated before the patches last changed: stale, refused.
    const worker = `${p.talosDir}/worker.yaml`;
    utimesSync(worker, new Date(0), new Date(0));
    const stale = await run(lab, applyNodeScript, ['--node', 'infra-worker-1']);
    assert.is(stale.code, EXIT_REFUSED, stale.text);
    assert.match(stale.stderr, /changed after .*worker\.yaml was generated: run `task bootstrap -- --only talos`/);
    assert.equal(mutatingCalls(lab), []);
    const now = new Date();
    utimesSync(worker, now, now);

    const r = await run(lab, applyNodeScript, ['--node', 'infra-worker-1', ...FAST]);
    assert.is(r.code, 0, r.text);
    const applies = lab.calls({ cmd: 'talosctl apply-config' });
    assert.is(applies.length, 1);
    const argv = applies[0]!.argv.join(' ');
    assert.ok(argv.includes(`--file ${p.talosDir}/worker.yaml`));
    assert.ok(argv.includes(`--config-patch @${gen.talosNode('infra-worker-1')}`));
    assert.ok(argv.includes('--mode auto') && !argv.includes('--insecure'));
    assert.is(nodeOf(applies[0]!.argv), ip('infra-worker-1'));
  } finally {
    lab.cleanup();
  }
});

test.run();
