import type { ClusterConfig } from '../config/load.ts';
import { RefusalError } from '../core/cli.ts';
import type { NodeConfig } from '../config/schema.ts';

// Which nodes a day-2 command acts on, in which order, and whether etcd keeps its quorum: pure, unit-tested.

/**
 * `--nodes a,b --nodes 10.0.10.21` → the config's nodes, in config order. Names or IPs; unknown entries are an error
 * that lists what exists (a typo must never shrink or widen the set silently). No value → every node.
 */
export function selectNodes(config: ClusterConfig, specs: string[] | undefined): NodeConfig[] {
  const wanted = (specs ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (wanted.length === 0) return [...config.nodes];
  const unknown = wanted.filter((w) => !config.nodes.some((n) => n.name === w || n.ip === w));
  if (unknown.length) {
    const known = config.nodes.map((n) => `${n.name} (${n.ip})`).join(', ');
    throw new RefusalError(`unknown node${unknown.length === 1 ? '' : 's'} ${unknown.join(', ')}; the config has ${known}`);
  }
  return config.nodes.filter((n) => wanted.includes(n.name) || wanted.includes(n.ip));
}

export function isWholeCluster(config: ClusterConfig, targets: NodeConfig[]): boolean {
  return config.nodes.every((n) => targets.some((t) => t.name === n.name));
}

/**
 * Reset order: workers first (they hold no etcd), then control planes one at a time, the first control plane last —
 * it is the bootstrap node, the one etcd snapshots are taken from and restored to, so it stays up longest.
 */
export function resetOrder(config: ClusterConfig, targets: NodeConfig[]): NodeConfig[] {
  const chosen = (n: NodeConfig) => targets.some((t) => t.name === n.name);
  const workers = config.nodes.filter((n) => n.role === 'worker' && chosen(n));
  const cps = config.nodes.filter((n) => n.role === 'controlplane' && chosen(n)).reverse();
  return [...workers, ...cps];
}

/**
 * Upgrade order: control planes first, one at a time, in config order (the first one leads, so a bad image stops on
 * one node), then workers one at a time.
 */
export function upgradeOrder(config: ClusterConfig, targets: NodeConfig[]): NodeConfig[] {
  const chosen = (n: NodeConfig) => targets.some((t) => t.name === n.name);
  return [...config.nodes.filter((n) => n.role === 'controlplane' && chosen(n)), ...config.nodes.filter((n) => n.role === 'worker' && chosen(n))];
}

/** Members etcd needs up to have quorum: a majority. */
export function quorumSize(members: number): number {
  return Math.floor(members / 2) + 1;
}

export interface QuorumInput {
  /** etcd members (control plane hostnames) as etcd lists them; the config's control planes if etcd cannot be asked. */
  members: string[];
  /** Members that are healthy now. */
  healthy: string[];
  /** Control planes the command takes down. */
  targets: string[];
  /** The whole cluster goes: quorum does not matter. */
  wholeCluster: boolean;
  /**
   * etcd health was not probed (a --dry-run): only what holds in the best case (every member healthy) is decided —
   * a set that breaks quorum even then is refused; anything else is "unknown", never a state made up from no answer.
   */
  unprobed?: boolean;
}

export type QuorumVerdict = { ok: true; detail: string } | { ok: false; detail: string };

/**
 * A partial reset may take down at most as many healthy members as leave a majority of all members running: etcd
 * counts a member that is down (or reset without leaving) against the quorum until it is removed.
 */
export function checkQuorum(q: QuorumInput): QuorumVerdict {
  const members = new Set(q.members);
  const need = quorumSize(members.size);
  if (q.wholeCluster) return { ok: true, detail: 'the whole cluster is reset: etcd is rebuilt by the next bootstrap' };
  // Unprobed: the best case (every member healthy) is all that can be said without asking etcd.
  const healthy = q.unprobed ? [...members] : q.healthy.filter((h) => members.has(h));
  const remaining = healthy.filter((h) => !q.targets.includes(h));
  const detail = q.unprobed
    ? `${members.size} etcd members need ${need} up; etcd health is unknown in a dry-run (not probed): with every member healthy, ${remaining.length} after this`
    : `${members.size} etcd members need ${need} up; ${healthy.length} healthy now, ${remaining.length} after this`;
  if (remaining.length >= need) {
    return { ok: true, detail: q.unprobed ? `${detail}; the real run probes etcd and checks quorum again before each control plane` : detail };
  }
  const canTake = Math.max(0, healthy.length - need);
  const advice =
    canTake > 0
      ? `Take at most ${canTake} healthy control plane${canTake === 1 ? '' : 's'} at a time, or reset the whole cluster.`
      : q.unprobed
        ? 'Even with every member healthy no control plane can be taken down: reset the whole cluster instead.'
        : 'No control plane can be taken down now; restore etcd first (task cluster:emergency-recovery -- etcd:restore) or reset the whole cluster.';
  return { ok: false, detail: `${detail}: etcd would lose quorum and the API would stop. ${advice}` };
}

/** The etcd rule: a control plane counts as healthy when its etcd runs, does not report Fail, and is a member (any, while the member list is unknown). Pure. */
export function isHealthyEtcdMember(name: string, service: { state?: string; health?: string } | undefined, memberNames: string[] | undefined): boolean {
  return service?.state === 'Running' && service.health !== 'Fail' && (memberNames === undefined || memberNames.includes(name));
}
