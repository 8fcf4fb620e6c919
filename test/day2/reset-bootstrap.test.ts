import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StateStore } from '../../scripts/lib/core/state.ts';
import { safeResetScript } from '../../scripts/lib/day2/scripts.ts';
import { labForWorld, makeWorld, type World, type WorldLab } from '../bootstrap/harness.ts';
import type { Lab } from '../lab/lab.ts';
import { run } from './harness.ts';

// The round trip the design promises: a bootstrapped cluster, `cluster:safe-reset`, then `task bootstrap` again ends
// healthy — with the same Talos secrets and sealed-secrets key (nothing regenerated), and a fresh etcd.

let world: World;
let lab: Lab;
let bootstrap: WorldLab['run'];

function healthy(): void {
  const s = lab.state();
  assert.ok(s.nodes.every((n) => n.mode === 'configured' && n.k8s?.ready), `every node configured and Ready: ${JSON.stringify(s.nodes.map((n) => [n.name, n.mode, n.k8s?.ready]))}`);
  assert.ok(s.etcd.quorum);
  assert.is(s.etcd.members.length, 3);
  assert.ok(s.vipUp);
  assert.ok(s.flux?.kustomizations.every((k) => k.ready === 'True' && !k.suspended), 'every Kustomization Ready, none suspended');
}

test.before(async () => {
  world = await makeWorld('five-node.yaml');
  ({ lab, run: bootstrap } = labForWorld(world));
});
test.after(async () => {
  lab?.cleanup();
  await world?.cleanup();
});

test('bootstrap → safe-reset → bootstrap ends healthy, reusing the secrets', async () => {
  const first = await bootstrap();
  assert.is(first.exitCode, 0, first.text);
  healthy();
  const applies = lab.calls({ cmd: 'terraform apply' }).length;

  const reset = await run(lab, safeResetScript, ['--confirm', world.repo.config.cluster.name], {}, world.repo.configFile);
  assert.is(reset.code, 0, reset.text);
  assert.ok(lab.state().nodes.every((n) => n.mode === 'maintenance'));
  const state = new StateStore(join(lab.stateDir, world.repo.config.cluster.name, 'bootstrap-state.json'), world.repo.config.cluster.name);
  assert.is(state.phase('talos').status, 'pending');

  const again = await bootstrap();
  assert.is(again.exitCode, 0, again.text);
  healthy();
  assert.is(lab.calls({ cmd: 'talosctl gen secrets' }).length, 1, 'the Talos secrets of the first bootstrap are reused');
  assert.is(lab.calls({ cmd: 'talosctl bootstrap' }).filter((c) => c.exitCode === 0).length, 2, 'a fresh etcd after the reset');
  assert.is(lab.calls({ cmd: 'terraform apply' }).length, applies, 'the VMs were kept: no terraform apply after the reset');
});

test.run();
