import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StateStore } from '../../scripts/lib/core/state.ts';
import { destroyScript, safeResetScript } from '../../scripts/lib/day2/scripts.ts';
import { emergencyRecoveryScript } from '../../scripts/lib/recovery/script.ts';
import { GITHUB_TOKEN, labForWorld, makeWorld, PROXMOX_TOKEN, type World, type WorldLab } from '../bootstrap/harness.ts';
import type { Lab } from '../lab/lab.ts';
import { nextSteps, run, taskCommand } from './harness.ts';

// The round trips the design promises, each finished by running exactly the "next:" lines safe-reset printed: a
// bootstrapped cluster, `cluster:safe-reset` (partial, then whole), then those steps end healthy — with the same Talos
// secrets and sealed-secrets key (nothing regenerated).

let world: World;
let lab: Lab;
let bootstrap: WorldLab['run'];

function healthy(): void {
  const s = lab.state();
  assert.ok(s.nodes.every((n) => n.mode === 'configured' && n.k8s?.ready), `every node configured and Ready: ${JSON.stringify(s.nodes.map((n) => [n.name, n.mode, n.k8s?.ready]))}`);
  assert.ok(s.etcd.quorum);
  assert.is(s.etcd.members.length, 3);
  assert.ok(s.vipUp);
  assert.ok(s.flux?.kustomizations.every((k) => k.ready === 'True' && !k.suspended), `every Kustomization Ready, none suspended: ${JSON.stringify(s.flux?.kustomizations)}`);
}

/**
 * Runs one printed line the way `task` would (Taskfile: bootstrap → scripts/bootstrap.ts, cluster:emergency-recovery
 * → scripts/emergency-recovery.ts). The only additions: the cluster name a person would type at the prompt
 * (--confirm; the tests run with CI=true) and --wait-scale for the lab's quicker clock.
 */
async function runPrinted(line: string): Promise<{ code: number; text: string; stdout: string }> {
  const { task, args } = taskCommand(line);
  if (task === 'bootstrap') {
    assert.equal(args, [], line);
    const r = await bootstrap();
    return { code: r.exitCode, text: r.text, stdout: r.out.join('\n') };
  }
  if (task === 'cluster:emergency-recovery') {
    const confirm = args[0]?.startsWith('etcd:re') ? ['--confirm', world.repo.config.cluster.name] : [];
    return run(lab, emergencyRecoveryScript, [...args, ...confirm, '--wait-scale', '0.05'], {}, world.repo.configFile);
  }
  throw new Error(`a printed step this test does not know how to run: ${line}`);
}

test.before(async () => {
  world = await makeWorld('five-node.yaml');
  ({ lab, run: bootstrap } = labForWorld(world));
});
test.after(async () => {
  lab?.cleanup();
  await world?.cleanup();
});

test('bootstrap, then a partial safe-reset (a worker and a control plane): the printed next steps end healthy', async () => {
  const first = await bootstrap();
  assert.is(first.exitCode, 0, first.text);
  healthy();

  const reset = await run(lab, safeResetScript, ['--confirm', world.repo.config.cluster.name, '--nodes', 'infra-worker-2,infra-cp-3'], {}, world.repo.configFile);
  assert.is(reset.code, 0, reset.text);
  assert.ok(lab.state().flux!.kustomizations.every((k) => k.suspended), 'safe-reset suspended Flux');
  const steps = nextSteps(reset.stdout);
  assert.ok(steps.length > 0, reset.stdout);
  for (const step of steps) {
    const r = await runPrinted(step);
    assert.is(r.code, 0, `${step}:\n${r.text}`);
    if (step === 'task bootstrap') assert.match(r.text, /Flux was suspended by cluster:safe-reset at .*: resuming those/);
  }
  healthy();
  assert.equal(steps, ['task bootstrap'], 'one step: the bootstrap resumes what safe-reset suspended');
  assert.is(lab.calls({ cmd: 'talosctl gen secrets' }).length, 1, 'the Talos secrets of the first bootstrap are reused');
});

test('a whole safe-reset: the printed next steps (bootstrap, then the optional restore of the old etcd) end healthy', async () => {
  const applies = lab.calls({ cmd: 'terraform apply' }).length;
  const bootstraps = lab.calls({ cmd: 'talosctl bootstrap' }).filter((c) => c.exitCode === 0).length;
  const reset = await run(lab, safeResetScript, ['--confirm', world.repo.config.cluster.name], {}, world.repo.configFile);
  assert.is(reset.code, 0, reset.text);
  assert.ok(lab.state().nodes.every((n) => n.mode === 'maintenance'));
  const state = new StateStore(join(lab.stateDir, world.repo.config.cluster.name, 'bootstrap-state.json'), world.repo.config.cluster.name);
  assert.is(state.phase('talos').status, 'pending');

  const steps = nextSteps(reset.stdout);
  assert.is(steps.length, 2, steps.join('\n'));
  assert.is(steps[0], 'task bootstrap');
  assert.match(steps[1]!, /^task cluster:emergency-recovery -- etcd:restore --snapshot \S+-before-safe-reset\.db$/);
  let restored = '';
  for (const step of steps) {
    const r = await runPrinted(step);
    assert.is(r.code, 0, `${step}:\n${r.text}`);
    healthy();
    restored = r.text;
  }
  // The restore names its own next step: the diagnosis, which finds the cluster healthy.
  const next = /Next: (task cluster:emergency-recovery) \(diagnose\)/.exec(restored)?.[1];
  assert.ok(next, restored);
  const diagnosis = await runPrinted(next!);
  assert.is(diagnosis.code, 0, diagnosis.text);
  assert.match(diagnosis.stdout, /likely fault: .*\[healthy\]/);
  assert.is(lab.calls({ cmd: 'talosctl gen secrets' }).length, 1, 'the Talos secrets of the first bootstrap are reused');
  assert.is(lab.calls({ cmd: 'talosctl bootstrap' }).filter((c) => c.exitCode === 0).length, bootstraps + 2, 'a fresh etcd after the reset, then the restore');
  assert.is(lab.calls({ cmd: 'terraform apply' }).length, applies, 'the VMs were kept: no terraform apply after the reset');
});

test('Flux paused by suspend-all (a repair in progress): the gitops phase leaves it paused and stops at once, saying how to go on', async () => {
  const cluster = world.repo.config.cluster.name;
  const suspend = await run(lab, emergencyRecoveryScript, ['flux', 'suspend-all'], {}, world.repo.configFile);
  assert.is(suspend.code, 0, suspend.text);
  const stopped = await bootstrap({ only: 'gitops' });
  assert.is(stopped.exitCode, 1, stopped.text);
  assert.match(stopped.text, /every Flux Kustomization is suspended \(.*; by emergency-recovery at .*\): this phase waits for what Flux applies/);
  assert.match(stopped.text, /`task cluster:emergency-recovery -- flux resume-all`, then `task bootstrap` again/);
  assert.not.match(stopped.text, /timed out/, 'no wait for a deadline');
  assert.ok(lab.state().flux!.kustomizations.every((k) => k.suspended), `${cluster}: suspend-all's pause is left alone`);

  const resumed = await run(lab, emergencyRecoveryScript, ['flux', 'resume-all'], {}, world.repo.configFile);
  assert.is(resumed.code, 0, resumed.text);
  const again = await bootstrap({ only: 'gitops' });
  assert.is(again.exitCode, 0, again.text);
  healthy();
});

test('destroy, then the printed "rebuild: task bootstrap" builds the cluster again from nothing', async () => {
  const cluster = world.repo.config.cluster.name;
  const env = { GITHUB_API_URL: world.github.url, GITHUB_TOKEN, PROXMOX_VE_API_TOKEN: PROXMOX_TOKEN };
  const destroyed = await run(lab, destroyScript, ['--confirm', cluster], env, world.repo.configFile);
  assert.is(destroyed.code, 0, destroyed.text);
  assert.ok(lab.state().nodes.every((n) => !n.present), 'the VMs are gone');
  const rebuild = /\nrebuild: (task .*)\n/.exec(destroyed.stdout)?.[1];
  assert.is(rebuild, 'task bootstrap', destroyed.stdout);
  const r = await runPrinted(rebuild!);
  assert.is(r.code, 0, r.text);
  healthy();
  assert.is(lab.calls({ cmd: 'talosctl gen secrets' }).length, 1, 'the kept Talos secrets are reused');
});

test.run();
