import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { checkConfirmation, confirmByName, isInteractive } from '../../scripts/lib/core/confirm.ts';
import { RefusalError, UsageError } from '../../scripts/lib/core/cli.ts';
import { DESTROY_STEP_IDS, planDestroy, summarizeDestroyPlan } from '../../scripts/lib/day2/destroy.ts';
import { planReset } from '../../scripts/lib/day2/reset.ts';
import { checkQuorum, quorumSize, resetOrder, selectNodes, upgradeOrder } from '../../scripts/lib/day2/selection.ts';
import { snapshotFileName } from '../../scripts/lib/day2/snapshot.ts';
import type { NodeMode } from '../../scripts/lib/day2/cluster.ts';

const config = (name: string) => parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid', name), 'utf8'), name);
const example = parseConfigText(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8'), 'cluster.example.yaml');
const names = (ns: { name: string }[]) => ns.map((n) => n.name);
async function rejects(fn: () => Promise<unknown>, check: RegExp | (new (...a: never[]) => Error)): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (check instanceof RegExp) assert.match((err as Error).message, check);
    else assert.instance(err, check);
    return;
  }
  assert.unreachable('expected a rejection');
}
const quiet = () => new Logger({ level: 'fatal', write: () => {} });

// ---- confirmation -----------------------------------------------------------------------------------------------

test('confirmation: only the exact cluster name counts', () => {
  assert.ok(checkConfirmation('infra', 'infra').ok);
  assert.ok(checkConfirmation('infra', '  infra\n').ok, 'surrounding whitespace of a typed line is fine');
  for (const typed of ['Infra', 'infr', 'infra2', 'yes', 'y', '', undefined]) {
    assert.not.ok(checkConfirmation('infra', typed).ok, `"${typed}" must not confirm`);
  }
});

test('confirmation: non-interactive without --confirm refuses with exit 4 and never prompts', async () => {
  let asked = false;
  try {
    await confirmByName({ cluster: 'infra', action: 'reset', provided: undefined, scriptHint: 'x --confirm infra', log: quiet(), interactive: false, ask: async () => ((asked = true), 'infra') });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, RefusalError);
    assert.match((err as Error).message, /nothing was changed$/);
    assert.match((err as Error).message, /--confirm infra/);
  }
  assert.not.ok(asked);
});

test('confirmation: a wrong --confirm refuses; the right one passes without a prompt', async () => {
  await rejects(() => confirmByName({ cluster: 'infra', action: 'reset', provided: 'apps', scriptHint: '', log: quiet(), interactive: false }), /not the cluster name "infra"/);
  let asked = false;
  await confirmByName({ cluster: 'infra', action: 'reset', provided: 'infra', scriptHint: '', log: quiet(), interactive: true, ask: async () => ((asked = true), 'nope') });
  assert.not.ok(asked, '--confirm wins over the prompt');
});

test('confirmation: interactive prompt accepts the typed name and refuses anything else', async () => {
  await confirmByName({ cluster: 'infra', action: 'reset', provided: undefined, scriptHint: '', log: quiet(), interactive: true, ask: async () => 'infra' });
  await rejects(() => confirmByName({ cluster: 'infra', action: 'reset', provided: undefined, scriptHint: '', log: quiet(), interactive: true, ask: async () => 'y' }), RefusalError);
});

test('interactive only with a terminal on both ends and outside CI', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  assert.ok(isInteractive({}, tty, tty));
  assert.not.ok(isInteractive({ CI: 'true' }, tty, tty));
  assert.ok(isInteractive({ CI: 'false' }, tty, tty));
  assert.not.ok(isInteractive({}, pipe, tty));
  assert.not.ok(isInteractive({}, tty, pipe));
});

// ---- node selection, order, quorum ------------------------------------------------------------------------------

test('--nodes takes names and IPs, comma-separated or repeated; unknown entries are an error listing the real ones', () => {
  assert.equal(names(selectNodes(example, undefined)), names(example.nodes));
  assert.equal(names(selectNodes(example, ['infra-worker-2,10.0.10.11'])), ['infra-cp-1', 'infra-worker-2']);
  assert.equal(names(selectNodes(example, ['infra-cp-3', ' 10.0.10.21 '])), ['infra-cp-3', 'infra-worker-1']);
  assert.throws(() => selectNodes(example, ['infra-cp-4']), (e: Error) => e instanceof RefusalError && /infra-cp-4/.test(e.message) && /infra-cp-1 \(10\.0\.10\.11\)/.test(e.message));
});

test('reset order: workers first, then control planes one at a time with the first control plane last', () => {
  assert.equal(names(resetOrder(example, example.nodes)), ['infra-worker-1', 'infra-worker-2', 'infra-cp-3', 'infra-cp-2', 'infra-cp-1']);
  assert.equal(names(resetOrder(example, selectNodes(example, ['infra-cp-1', 'infra-worker-2']))), ['infra-worker-2', 'infra-cp-1']);
  assert.equal(names(upgradeOrder(example, example.nodes)), ['infra-cp-1', 'infra-cp-2', 'infra-cp-3', 'infra-worker-1', 'infra-worker-2']);
});

test('quorum: a majority of all members must stay healthy unless the whole cluster goes', () => {
  assert.equal([1, 2, 3, 4, 5].map(quorumSize), [1, 2, 2, 3, 3]);
  const three = ['cp1', 'cp2', 'cp3'];
  assert.ok(checkQuorum({ members: three, healthy: three, targets: ['cp3'], wholeCluster: false }).ok);
  const two = checkQuorum({ members: three, healthy: three, targets: ['cp2', 'cp3'], wholeCluster: false });
  assert.not.ok(two.ok);
  assert.match(two.detail, /at most 1 healthy control plane/);
  assert.ok(checkQuorum({ members: three, healthy: three, targets: three, wholeCluster: true }).ok);
  // One member already dead: taking a healthy one breaks quorum; taking the dead one does not.
  assert.not.ok(checkQuorum({ members: three, healthy: ['cp1', 'cp2'], targets: ['cp2'], wholeCluster: false }).ok);
  assert.ok(checkQuorum({ members: three, healthy: ['cp1', 'cp2'], targets: ['cp3'], wholeCluster: false }).ok);
  const five = ['a', 'b', 'c', 'd', 'e'];
  assert.ok(checkQuorum({ members: five, healthy: five, targets: ['d', 'e'], wholeCluster: false }).ok);
  assert.not.ok(checkQuorum({ members: five, healthy: five, targets: ['c', 'd', 'e'], wholeCluster: false }).ok);
  // A single control plane can only go with the whole cluster.
  assert.not.ok(checkQuorum({ members: ['a'], healthy: ['a'], targets: ['a'], wholeCluster: false }).ok);
});

// ---- reset plan -------------------------------------------------------------------------------------------------

function modes(entries: Record<string, NodeMode>, fallback: NodeMode = 'configured'): Map<string, NodeMode> {
  return new Map(example.nodes.map((n) => [n.name, entries[n.name] ?? fallback]));
}
const cps = ['infra-cp-1', 'infra-cp-2', 'infra-cp-3'];

test('reset plan: whole cluster is ungraceful, skips nodes in maintenance mode, keeps the order', () => {
  const plan = planReset({ config: example, targets: example.nodes, modes: modes({ 'infra-worker-1': 'maintenance' }), members: cps, healthy: cps, fullWipe: false, ungraceful: false });
  assert.ok(plan.whole);
  assert.is(plan.refusal, undefined);
  assert.equal(plan.steps.map((s) => `${s.node.name}:${s.action}`), ['infra-worker-1:skip', 'infra-worker-2:reset', 'infra-cp-3:reset', 'infra-cp-2:reset', 'infra-cp-1:reset']);
  assert.ok(plan.steps.filter((s) => s.action === 'reset').every((s) => !s.graceful));
});

test('reset plan: a partial reset drains (graceful) healthy nodes, not broken ones, and refuses to break quorum', () => {
  const one = planReset({ config: example, targets: selectNodes(example, ['infra-cp-2', 'infra-worker-1']), modes: modes({}), members: cps, healthy: cps, fullWipe: false, ungraceful: false });
  assert.is(one.refusal, undefined);
  assert.not.ok(one.whole);
  assert.ok(one.steps.every((s) => s.graceful));
  const broken = planReset({ config: example, targets: selectNodes(example, ['infra-cp-3']), modes: modes({}), members: cps, healthy: ['infra-cp-1', 'infra-cp-2'], fullWipe: false, ungraceful: false });
  assert.is(broken.refusal, undefined, 'resetting the member that is already lost keeps quorum');
  assert.not.ok(broken.steps[0]!.graceful, 'a node whose etcd is broken cannot leave etcd gracefully');
  const two = planReset({ config: example, targets: selectNodes(example, ['infra-cp-2', 'infra-cp-3']), modes: modes({}), members: cps, healthy: cps, fullWipe: false, ungraceful: false });
  assert.match(two.refusal ?? '', /breaks etcd quorum/);
  const forced = planReset({ config: example, targets: selectNodes(example, ['infra-worker-2']), modes: modes({}), members: cps, healthy: cps, fullWipe: false, ungraceful: true });
  assert.not.ok(forced.steps[0]!.graceful);
});

test('reset plan: nodes already in maintenance mode do not count against quorum; unreachable targets are refused', () => {
  // cp3 already reset: resetting cp2 now would leave 1 of 3.
  const plan = planReset({ config: example, targets: selectNodes(example, ['infra-cp-2', 'infra-cp-3']), modes: modes({ 'infra-cp-3': 'maintenance' }), members: cps, healthy: ['infra-cp-1', 'infra-cp-2'], fullWipe: false, ungraceful: false });
  assert.match(plan.refusal ?? '', /quorum/);
  const down = planReset({ config: example, targets: example.nodes, modes: modes({ 'infra-worker-2': 'down' }), members: cps, healthy: cps, fullWipe: false, ungraceful: false });
  assert.match(down.refusal ?? '', /infra-worker-2 \(10\.0\.10\.22\)/);
  assert.match(down.refusal ?? '', /--nodes/);
});

test('reset plan: a one-node cluster can only be reset whole', () => {
  const one = config('one-node.yaml');
  const plan = planReset({ config: one, targets: one.nodes, modes: new Map(one.nodes.map((n) => [n.name, 'configured' as NodeMode])), members: names(one.nodes), healthy: names(one.nodes), fullWipe: false, ungraceful: false });
  assert.ok(plan.whole);
  assert.is(plan.refusal, undefined);
});

// ---- snapshots, destroy plan -------------------------------------------------------------------------------------

test('snapshot file names carry the cluster, a sortable UTC timestamp and the reason', () => {
  const at = new Date('2026-03-04T05:06:07.890Z');
  assert.is(snapshotFileName('infra', 'before safe-reset', at), 'infra-20260304T050607Z-before-safe-reset.db');
  const later = snapshotFileName('infra', 'manual', new Date('2026-03-04T05:06:08Z'));
  assert.ok([later, snapshotFileName('infra', 'manual', at)].sort()[1] === later, 'lexical order is time order');
});

test('destroy plan: reverse order of creation; optional sections and the persistent layer are off unless asked', () => {
  const steps = planDestroy(example, { includePersistent: false, skip: [] });
  assert.equal(steps.map((s) => s.id), ['vps-expose', 'flux-deploy-key', 'csi-token', 'headscale-nodes', 'terraform:01-infrastructure', 'terraform:00-persistent-auth']);
  assert.equal(steps.filter((s) => s.enabled).map((s) => s.id), ['vps-expose', 'flux-deploy-key', 'csi-token', 'headscale-nodes', 'terraform:01-infrastructure']);
  assert.ok(planDestroy(example, { includePersistent: true, skip: [] }).every((s) => s.enabled));
  const minimal = planDestroy(config('one-node.yaml'), { includePersistent: false, skip: ['flux-deploy-key'] });
  assert.equal(minimal.filter((s) => s.enabled).map((s) => s.id), ['terraform:01-infrastructure']);
  assert.throws(() => planDestroy(example, { includePersistent: false, skip: ['terraform'] }), (err: Error) => err instanceof UsageError && /unknown step/.test(err.message));
  assert.equal(DESTROY_STEP_IDS.length, 6);
  assert.equal(minimal.find((s) => s.id === 'vps-expose')?.why, 'no vps section');
});

test('terraform destroy plan summary', () => {
  const out = [
    '  # module.node["infra-cp-1"].proxmox_virtual_environment_vm.this will be destroyed',
    '  - resource "proxmox_virtual_environment_vm" "this" {',
    '  # talos_image_factory_schematic.this will be destroyed',
    'Plan: 0 to add, 0 to change, 2 to destroy.',
  ].join('\n');
  assert.equal(summarizeDestroyPlan(out), { count: 2, resources: ['module.node["infra-cp-1"].proxmox_virtual_environment_vm.this', 'talos_image_factory_schematic.this'] });
  assert.equal(summarizeDestroyPlan('No changes. No objects need to be destroyed.'), { count: 0, resources: [] });
});

test.run();
