import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from '../core/runner.ts';
import { act, type StepContext } from '../core/steps.ts';
import { at, columns } from './talosctl.ts';

// etcd through the Talos API: `bootstrap` (plain or --recover-from a snapshot, retried while the node is not ready
// yet), `etcd members|status|snapshot|remove-member`, and their output parsers.

export function bootstrapArgv(ip: string): string[] {
  return [...at(ip), 'bootstrap'];
}

export function etcdMembersArgv(ip: string): string[] {
  return [...at(ip), 'etcd', 'members'];
}

/** `rpc error: code = AlreadyExists` / "etcd data directory is not empty": the cluster is bootstrapped already. */
export function isAlreadyBootstrapped(text: string): boolean {
  return /code = AlreadyExists|etcd data directory is not empty|already bootstrapped/i.test(text);
}

/** FailedPrecondition while the node is still starting ("bootstrap is not available yet", "time is not in sync yet"). */
export function isBootstrapNotReadyYet(text: string): boolean {
  return /bootstrap is not available yet|time is not in sync yet|code = Unavailable|connection refused/i.test(text);
}

export function etcdSnapshotArgv(ip: string, file: string): string[] {
  return [...at(ip), 'etcd', 'snapshot', file];
}

export function etcdStatusArgv(ip: string): string[] {
  return [...at(ip), 'etcd', 'status'];
}

export function etcdRemoveMemberArgv(ip: string, memberId: string): string[] {
  return [...at(ip), 'etcd', 'remove-member', memberId];
}

/** `rawCopy`: the snapshot is a copied `member/snap/db` file, which has no integrity hash. */
export function bootstrapRecoverArgv(ip: string, snapshot: string, rawCopy = false): string[] {
  return [...at(ip), 'bootstrap', `--recover-from=${snapshot}`, ...(rawCopy ? ['--recover-skip-hash-check'] : [])];
}

export interface EtcdMember {
  id: string;
  hostname: string;
  learner: boolean;
}

/**
 * `talosctl etcd members`: `NODE  ID  HOSTNAME  PEER URLS  CLIENT URLS  LEARNER` (NODE only through apid), a
 * tabwriter table. A learner that has not started yet has empty HOSTNAME and CLIENT URLS cells (Talos v1.11
 * cmd/talosctl/cmd/talos/etcd.go prints `member.Hostname` and the joined client URLs as they are), so cells are cut at
 * the header's column offsets, never split on whitespace (which would shift the peer URL into HOSTNAME).
 */
export function parseEtcdMemberTable(stdout: string): EtcdMember[] {
  return columns(stdout, (l) => /\bHOSTNAME\b/.test(l) && /\bID\b/.test(l)).flatMap((r) => (r.ID ? [{ id: r.ID, hostname: r.HOSTNAME ?? '', learner: r.LEARNER === 'true' }] : []));
}

export interface EtcdStatusRow {
  node?: string;
  member: string;
  leader: string;
  /** The ERRORS column (empty when healthy). */
  errors: string;
}

/**
 * `talosctl etcd status`: `NODE  MEMBER  DB SIZE  IN USE  LEADER  RAFT INDEX  RAFT TERM  RAFT APPLIED INDEX  LEARNER
 * [PROTOCOL  STORAGE]  ERRORS` (PROTOCOL/STORAGE since 1.11; NODE only through apid).
 */
export function parseEtcdStatus(stdout: string): EtcdStatusRow[] {
  return columns(stdout, (l) => /\bMEMBER\b/.test(l) && /\bLEADER\b/.test(l)).map((r) => ({
    ...(r.NODE ? { node: r.NODE } : {}),
    member: r.MEMBER ?? '',
    leader: r.LEADER ?? '',
    errors: r.ERRORS ?? '',
  }));
}

/** `etcd snapshot saved to "db.snapshot" (2015264 bytes)`. */
export function parseSnapshotSaved(stdout: string): { file: string; bytes: number } | undefined {
  const m = /etcd snapshot saved to "([^"]+)" \((\d+) bytes\)/.exec(stdout);
  return m ? { file: m[1]!, bytes: Number(m[2]) } : undefined;
}

/**
 * Runs the bootstrap call; retries a not-ready-yet answer (pauses 0.5 s doubling to 5 s) until `retryForMs` has
 * passed. Returns the last result: accepted, the --dry-run line, or the failure for the caller to judge and report.
 */
export async function callBootstrap(ctx: StepContext, argv: string[], o: { retryForMs: number; timeoutMs?: number }): Promise<RunResult> {
  const until = Date.now() + o.retryForMs;
  for (let pause = 500; ; pause = Math.min(pause * 2, 5000)) {
    const res = await act(ctx, argv, { check: false, ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) });
    if (res.ok || res.dryRun) return res;
    const text = `${res.stderr}\n${res.stdout}`;
    if (!isBootstrapNotReadyYet(text) || Date.now() > until) return res;
    ctx.log.info('bootstrap not possible yet, retrying', { reason: text.trim().split('\n')[0] });
    await sleep(pause);
  }
}
