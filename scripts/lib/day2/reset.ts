import { existsSync } from 'node:fs';
import type { ClusterConfig } from '../config/load.ts';
import type { NodeConfig } from '../config/schema.ts';
import { PHASES, type PhaseName } from '../bootstrap/phases.ts';
import { controlPlanes } from '../config/nodes.ts';
import { StateStore } from '../core/state.ts';
import * as talosModes from '../talos/modes.ts';
import * as talosReset from '../talos/reset.ts';
import * as talosEtcd from '../talos/etcd.ts';
import { assertQuorumWithout, etcdView, memberNames, nodeMode, nodeModes, snapshotSource, type NodeMode } from './cluster.ts';
import { confirmByName } from '../core/confirm.ts';
import { RefusalError } from '../core/cli.ts';
import { suspendAll } from './flux.ts';
import { checkQuorum, isWholeCluster, resetOrder, selectNodes, type QuorumVerdict } from './selection.ts';
import { takeSnapshot, type SnapshotEntry } from './snapshot.ts';
import { act, deadline, lastLine, planNote, poll, waitUntil, type Day2Context } from './steps.ts';

// cluster:safe-reset. Order of events, each one a precondition of the next:
//   probe every node and etcd → plan (skips, order, quorum) → print the plan → typed confirmation → etcd snapshot
//   (kept outside git; a failure aborts with nothing changed) → suspend Flux → mark the bootstrap's later phases
//   pending → reset node by node (workers, then control planes one at a time), each waited for until it answers in
//   maintenance mode → summary and the next command (`task bootstrap`).

export interface SafeResetOptions {
  nodes?: string[];
  confirm?: string;
  /** Wipe the whole system disk (OS and META too) instead of STATE + EPHEMERAL. */
  fullWipe: boolean;
  /** Skip cordon/drain and etcd leave even for a partial reset (a broken node). */
  ungraceful: boolean;
  /** Reset without a snapshot (etcd is beyond saving); loudly logged. */
  skipSnapshot: boolean;
  interactive?: boolean;
  ask?: (q: string) => Promise<string>;
}

export interface ResetStep {
  node: NodeConfig;
  mode: NodeMode;
  action: 'reset' | 'skip';
  graceful: boolean;
  why: string;
}

export interface ResetPlan {
  whole: boolean;
  steps: ResetStep[];
  quorum?: QuorumVerdict;
  /** Set when the plan must not run; the reason and what to do instead. */
  refusal?: string;
}

export interface PlanInput {
  config: ClusterConfig;
  targets: NodeConfig[];
  modes: Map<string, NodeMode>;
  /** etcd members (hostnames) and the healthy ones. */
  members: string[];
  healthy: string[];
  /** False under --dry-run: `healthy` is unknown (see checkQuorum). */
  probed?: boolean;
  fullWipe: boolean;
  ungraceful: boolean;
}

/** Pure: which nodes to reset, in which order, how, and whether the set is allowed at all. */
export function planReset(i: PlanInput): ResetPlan {
  const whole = isWholeCluster(i.config, i.targets);
  const ordered = resetOrder(i.config, i.targets);
  const steps: ResetStep[] = ordered.map((node) => {
    const mode = i.modes.get(node.name) ?? 'down';
    if (mode === 'maintenance') return { node, mode, action: 'skip', graceful: false, why: 'already in maintenance mode' };
    // Graceful (cordon, drain, leave etcd) only where someone is left to take over, and the node can still do it.
    // Unprobed (a dry-run): planned as for a healthy member, and the plan says that this is an assumption.
    const unknownEtcd = node.role === 'controlplane' && i.probed === false;
    const healthyNode = node.role === 'worker' || unknownEtcd || i.healthy.includes(node.name);
    const graceful = !whole && !i.ungraceful && !i.fullWipe && healthyNode;
    return {
      node,
      mode,
      action: 'reset',
      graceful,
      why: whole
        ? 'whole cluster'
        : graceful
          ? `partial: drained and leaves etcd first${unknownEtcd ? '; if its etcd is healthy (not probed in a dry-run)' : ''}`
          : 'partial, ungraceful',
    };
  });
  const down = steps.filter((s) => s.action === 'reset' && s.mode === 'down');
  if (down.length) {
    return {
      whole,
      steps,
      refusal:
        `${down.map((s) => `${s.node.name} (${s.node.ip})`).join(', ')} answer${down.length === 1 ? 's' : ''} neither in maintenance mode nor with our certificates: ` +
        `a reset goes through the Talos API, so it cannot reach ${down.length === 1 ? 'it' : 'them'}. Start the VM(s) or leave them out with --nodes.`,
    };
  }
  const cpTargets = steps.filter((s) => s.action === 'reset' && s.node.role === 'controlplane').map((s) => s.node.name);
  if (cpTargets.length === 0) return { whole, steps };
  const quorum = checkQuorum({ members: i.members, healthy: i.healthy, targets: cpTargets, wholeCluster: whole, unprobed: i.probed === false });
  if (!quorum.ok) return { whole, steps, quorum, refusal: `refusing a partial reset that breaks etcd quorum: ${quorum.detail}` };
  return { whole, steps, quorum };
}

function wipeScope(o: SafeResetOptions): talosReset.WipeScope {
  return o.fullWipe ? 'all' : 'state-ephemeral';
}

export function printPlan(ctx: Day2Context, plan: ResetPlan, o: SafeResetOptions, snapshotSource: NodeConfig | undefined): void {
  const c = ctx.config;
  const lines = [
    '',
    `safe-reset of cluster ${c.cluster.name}: ${plan.whole ? 'the WHOLE cluster' : `${plan.steps.filter((s) => s.action === 'reset').length} of ${c.nodes.length} nodes`}`,
    o.fullWipe
      ? '  wipe: the WHOLE system disk (--full-wipe): OS and META (static IP) are gone; the VM comes back only if it boots the Image Factory ISO'
      : '  wipe: STATE (machine config) and EPHEMERAL (/var, etcd data) only; the OS and META (static IP) stay, nodes boot into maintenance mode',
    `  1. etcd snapshot: ${o.skipSnapshot ? 'SKIPPED (--skip-snapshot): no way back to the current etcd state' : snapshotSource ? `from ${snapshotSource.name} into ${ctx.paths.snapshots}/` : 'none (no configured control plane: no etcd to save)'}`,
    '  2. suspend Flux (every Kustomization and HelmRelease; recorded for resume-all)',
    '  3. reset, one node at a time, each waited for until it answers in maintenance mode:',
    ...plan.steps.map(
      (s, i) =>
        `     ${String(i + 1).padStart(2)}. ${s.node.name.padEnd(18)} ${s.node.ip.padEnd(15)} ${s.node.role.padEnd(12)} ` +
        (s.action === 'skip' ? `skip: ${s.why}` : `reset (${s.graceful ? 'graceful' : 'ungraceful'}; ${s.why})`),
    ),
    ...(plan.quorum ? [`  etcd quorum: ${plan.quorum.detail}`] : []),
    '  afterwards: task bootstrap (configures the reset nodes again and resumes the Flux objects suspended in step 2)',
    '',
  ];
  ctx.log.print(lines.join('\n'));
}

/** The bootstrap must redo everything after the Terraform layers: its state file must not say "done" any more. */
export function invalidateBootstrapState(ctx: Day2Context, why: string, fromPhase: PhaseName = 'talos'): string[] {
  if (!existsSync(ctx.paths.bootstrapState)) return [];
  const store = new StateStore(ctx.paths.bootstrapState, ctx.config.cluster.name);
  const from = PHASES.indexOf(fromPhase);
  const marked: string[] = [];
  for (const phase of PHASES.slice(from)) {
    if (store.phase(phase).status === 'pending') continue;
    store.update(phase, { status: 'pending', summary: why });
    marked.push(phase);
  }
  return marked;
}

async function waitMaintenance(ctx: Day2Context, n: NodeConfig): Promise<void> {
  await waitUntil(ctx, {
    what: `${n.name} (${n.ip}) to come back in maintenance mode`,
    timeoutMs: deadline(ctx, 'reset'),
    maxIntervalMs: 5000,
    check: async () => {
      const maint = await poll(ctx, talosModes.maintenanceProbeArgv(n.ip), { timeoutMs: 20_000 });
      if (maint.ok) return { done: true, detail: 'maintenance mode' };
      const configured = await poll(ctx, talosModes.machineStatusArgv(n.ip), { timeoutMs: 20_000 });
      return { done: false, detail: configured.ok ? 'still running its old config (resetting)' : `not answering (${lastLine(maint)})` };
    },
    diagnose: async () => {
      const r = await poll(ctx, talosModes.maintenanceProbeArgv(n.ip), { timeoutMs: 20_000 });
      return `talosctl get disks --insecure --nodes ${n.ip}: exit ${r.exitCode}\n${r.stderr || r.stdout}`;
    },
    hint: `watch ${n.name}'s console in Proxmox; once it shows maintenance mode, run the same command again (nodes already in maintenance mode are skipped)`,
  });
}

/** After an ungraceful reset of one control plane in a partial reset: remove its dead member so it can rejoin later. */
async function removeStaleMember(ctx: Day2Context, n: NodeConfig): Promise<void> {
  const cps = controlPlanes(ctx.config).filter((x) => x.name !== n.name);
  const modes = await nodeModes(ctx, cps, true);
  const view = await etcdView(ctx, cps, modes, true);
  const stale = view.members?.find((m) => m.hostname === n.name);
  if (!stale || !view.from) return;
  await act(ctx, talosEtcd.etcdRemoveMemberArgv(view.from.ip, stale.id), {
    hint: `remove it by hand: talosctl -e ${view.from.ip} -n ${view.from.ip} etcd remove-member ${stale.id}`,
  });
  ctx.log.info(`removed stale etcd member ${stale.id} (${n.name})`);
}

export interface SafeResetResult {
  reset: string[];
  skipped: string[];
  snapshot?: SnapshotEntry;
  plan: ResetPlan;
}

export async function safeReset(ctx: Day2Context, o: SafeResetOptions): Promise<SafeResetResult> {
  const c = ctx.config;
  const targets = selectNodes(c, o.nodes);
  const cps = controlPlanes(c);
  ctx.runner.heading('\n== probe nodes and etcd');
  const modes = await nodeModes(ctx, c.nodes);
  const etcd = await etcdView(ctx, cps, modes);
  const plan = planReset({
    config: c,
    targets,
    modes,
    members: memberNames(etcd, cps),
    healthy: etcd.healthy,
    probed: etcd.probed,
    fullWipe: o.fullWipe,
    ungraceful: o.ungraceful,
  });
  const source = snapshotSource(controlPlanes(c), modes, etcd);
  printPlan(ctx, plan, o, source);
  if (plan.refusal) throw new RefusalError(plan.refusal);
  // Read now, so that a damaged state file stops the reset before anything changed, not after the first node.
  if (existsSync(ctx.paths.bootstrapState)) new StateStore(ctx.paths.bootstrapState, c.cluster.name);

  const toReset = plan.steps.filter((s) => s.action === 'reset');
  if (toReset.length === 0) {
    ctx.log.info('nothing to reset: every selected node is in maintenance mode already');
    if (!ctx.runner.dryRun) invalidateBootstrapState(ctx, 'nodes found in maintenance mode by safe-reset');
    printSummary(ctx, plan, [], plan.steps.map((s) => s.node.name), undefined);
    return { reset: [], skipped: plan.steps.map((s) => s.node.name), plan };
  }

  if (!ctx.runner.dryRun) {
    await confirmByName({
      cluster: c.cluster.name,
      action: `${o.fullWipe ? 'FULL WIPE' : 'reset'} of ${toReset.length} node(s) of cluster ${c.cluster.name} (${toReset.map((s) => s.node.name).join(', ')})`,
      provided: o.confirm,
      scriptHint: `task cluster:safe-reset -- --confirm ${c.cluster.name}${o.nodes?.length ? ` --nodes ${o.nodes.join(',')}` : ''}`,
      log: ctx.log,
      ...(o.interactive !== undefined ? { interactive: o.interactive } : {}),
      ...(o.ask ? { ask: o.ask } : {}),
    });
  }

  // 1. The way back: a snapshot, or a loud note why there is none.
  ctx.runner.heading('\n== 1. etcd snapshot');
  let snapshot: SnapshotEntry | undefined;
  if (o.skipSnapshot) {
    ctx.log.warn('--skip-snapshot: resetting WITHOUT an etcd snapshot; the current cluster state cannot be restored afterwards');
  } else if (source) {
    snapshot = await takeSnapshot(ctx, source, 'before safe-reset');
  } else {
    ctx.log.info('no configured control plane: there is no etcd to snapshot');
  }

  // 2. Flux must not fight the reset (re-applying, rescheduling) while nodes go.
  ctx.runner.heading('\n== 2. suspend Flux');
  const suspended = await suspendAll(ctx, { by: 'safe-reset', tolerateUnreachable: true });
  ctx.log.info(suspended.summary);

  // 3. From here the bootstrap must redo its Talos phase and everything after it.
  if (!planNote(ctx, `mark the bootstrap phases talos…verify pending in ${ctx.paths.bootstrapState}`)) {
    const marked = invalidateBootstrapState(ctx, `reset by cluster:safe-reset at ${new Date().toISOString()}`);
    if (marked.length) ctx.log.info(`bootstrap state: ${marked.join(', ')} marked pending`);
  }

  ctx.runner.heading('\n== 3. reset nodes (workers first, then control planes one at a time)');
  const done: string[] = [];
  const skipped = plan.steps.filter((s) => s.action === 'skip').map((s) => s.node.name);
  for (const step of toReset) {
    const n = step.node;
    if (!ctx.runner.dryRun) {
      // A re-run (or a node that reset itself meanwhile): the probe decides, not the plan made minutes ago.
      const now = await nodeMode(ctx, n, true);
      if (now === 'maintenance') {
        ctx.log.info(`${n.name} is in maintenance mode already: skipped`);
        skipped.push(n.name);
        continue;
      }
      if (!plan.whole && n.role === 'controlplane') {
        await assertQuorumWithout(ctx, n, false, (detail) => `stopping before ${n.name}: ${detail}\n  reset so far: ${done.join(', ') || 'none'}; the snapshot is ${snapshot?.file ?? 'not taken'}`);
      }
    }
    ctx.log.info(`resetting ${n.name} (${n.ip}, ${n.role}, ${step.graceful ? 'graceful' : 'ungraceful'})`);
    await act(ctx, talosReset.resetArgv({ ip: n.ip, wipe: wipeScope(o), graceful: step.graceful }), {
      hint: `reset of ${n.name} refused; \`talosctl -e ${n.ip} -n ${n.ip} service\` shows its state. A re-run skips nodes already in maintenance mode`,
    });
    await waitMaintenance(ctx, n);
    if (!plan.whole && n.role === 'controlplane' && !step.graceful) await removeStaleMember(ctx, n);
    done.push(n.name);
  }

  printSummary(ctx, plan, done, skipped, snapshot);
  return { reset: done, skipped, ...(snapshot ? { snapshot } : {}), plan };
}

function printSummary(ctx: Day2Context, plan: ResetPlan, done: string[], skipped: string[], snapshot: SnapshotEntry | undefined): void {
  if (ctx.runner.dryRun) return;
  ctx.log.print(
    [
      '',
      `reset: ${done.join(', ') || 'none'}${skipped.length ? `; skipped (already in maintenance mode): ${skipped.join(', ')}` : ''}`,
      `etcd snapshot: ${snapshot ? `${snapshot.file} (${snapshot.bytes} bytes)` : 'none'}`,
      'next:',
      '  task bootstrap   # configures the nodes in maintenance mode again, then resumes the Flux objects safe-reset suspended',
      ...(plan.whole && snapshot
        ? [`  task cluster:emergency-recovery -- etcd:restore --snapshot ${snapshot.file}   # only to bring back the old etcd state`]
        : []),
      '',
    ].join('\n'),
  );
}
