import type { NodeConfig } from '../config/schema.ts';
import { controlPlanes } from '../config/nodes.ts';
import { RefusalError } from '../core/cli.ts';
import { checkQuorum, isHealthyEtcdMember } from './selection.ts';
import { nodeModePlanLine, pollRead, probeNodeMode, type NodeMode, type NodeRead } from '../talos/modes.ts';
import * as nodeHealth from '../talos/health.ts';
import * as talosEtcd from '../talos/etcd.ts';
import { poll, probe, type Day2Context } from './steps.ts';

// State probes shared by the day-2 commands: which mode each node is in, and what etcd looks like. Read-only.

export type { NodeMode } from '../talos/modes.ts';

/**
 * The node's mode (talos/modes.ts), configured probed first. Under --dry-run nothing runs and `assume` is returned
 * (the plan shows the path for a running cluster).
 */
export async function nodeMode(ctx: Day2Context, n: NodeConfig, quiet = false, assume: NodeMode = 'configured', read: NodeRead = pollRead(ctx)): Promise<NodeMode> {
  if (ctx.runner.dryRun) {
    if (!quiet) ctx.runner.planOnly(nodeModePlanLine(n.ip));
    return assume;
  }
  return probeNodeMode(read, n);
}

/** `read` runs each probe (the recovery passes one that records what it ran for its report). */
export async function nodeModes(ctx: Day2Context, nodes: NodeConfig[], quiet = false, read: NodeRead = pollRead(ctx)): Promise<Map<string, NodeMode>> {
  const modes = await Promise.all(nodes.map(async (n) => [n.name, await nodeMode(ctx, n, quiet, 'configured', read)] as const));
  return new Map(modes);
}

export interface EtcdView {
  /** The member list, from the first configured control plane that answered; undefined when none did. */
  members?: talosEtcd.EtcdMember[];
  from?: NodeConfig;
  /** etcd service state per control plane name (configured ones only). */
  services: Map<string, { state?: string; health?: string }>;
  /** Control planes whose etcd runs, reports healthy and is a member. */
  healthy: string[];
  /** False under --dry-run: nothing was asked, so `healthy` and `members` say nothing about the cluster. */
  probed: boolean;
}

export async function etcdView(ctx: Day2Context, controlPlanes: NodeConfig[], modes: Map<string, NodeMode>, quiet = false, read?: NodeRead): Promise<EtcdView> {
  const run = read ?? ((argv: string[]) => (quiet ? poll : probe)(ctx, argv, { timeoutMs: 30_000 }));
  const configured = controlPlanes.filter((n) => modes.get(n.name) === 'configured');
  const services = new Map<string, { state?: string; health?: string }>();
  await Promise.all(
    configured.map(async (n) => {
      const res = await run(nodeHealth.serviceArgv(n.ip, 'etcd'), `${n.name}: etcd service`);
      services.set(n.name, res.ok ? nodeHealth.parseServiceInfo(res.stdout) : {});
    }),
  );
  let members: talosEtcd.EtcdMember[] | undefined;
  let from: NodeConfig | undefined;
  // Ask a control plane whose etcd runs: a member that is down cannot list the others.
  const ordered = [...configured].sort((a, b) => Number(services.get(b.name)?.state === 'Running') - Number(services.get(a.name)?.state === 'Running'));
  for (const n of ordered) {
    const res = await run(talosEtcd.etcdMembersArgv(n.ip), `etcd members (from ${n.name})`);
    if (res.ok) {
      members = talosEtcd.parseEtcdMemberTable(res.stdout);
      from = n;
      break;
    }
  }
  const names = members?.map((m) => m.hostname);
  const healthy = configured.filter((n) => isHealthyEtcdMember(n.name, services.get(n.name), names)).map((n) => n.name);
  return { ...(members ? { members } : {}), ...(from ? { from } : {}), services, healthy, probed: !ctx.runner.dryRun };
}

/** etcd member names for quorum arithmetic: the member list, or the configured control planes when etcd did not answer. */
export function memberNames(view: EtcdView, controlPlanes: NodeConfig[]): string[] {
  const names = new Set(view.members?.map((m) => m.hostname) ?? []);
  // A control plane missing from the list still counts: it was a member and is expected back.
  for (const n of controlPlanes) names.add(n.name);
  return [...names];
}

/** The control plane to take an etcd snapshot from: the first with healthy etcd, else the first configured one (the snapshot then fails loudly). Pure. */
export function snapshotSource(controlPlanes: NodeConfig[], modes: Map<string, NodeMode>, view: EtcdView): NodeConfig | undefined {
  return controlPlanes.find((n) => view.healthy.includes(n.name)) ?? controlPlanes.find((n) => modes.get(n.name) === 'configured');
}

/**
 * Right before taking `n` down: probes etcd again and refuses (exit 4) with `stop(detail)` unless it keeps quorum
 * without `n`. A mid-run stop: the message says what was done so far, never "nothing was changed".
 */
export async function assertQuorumWithout(ctx: Day2Context, n: NodeConfig, wholeCluster: boolean, stop: (detail: string) => string): Promise<void> {
  const cps = controlPlanes(ctx.config);
  const modes = await nodeModes(ctx, cps, true);
  const view = await etcdView(ctx, cps, modes, true);
  const q = checkQuorum({ members: memberNames(view, cps), healthy: view.healthy, targets: [n.name], wholeCluster, unprobed: !view.probed });
  if (!q.ok) throw new RefusalError(stop(q.detail), { beforeAnyChange: false });
}
