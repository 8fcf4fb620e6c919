import { setTimeout as sleep } from 'node:timers/promises';
import type { OpsContext } from '../core/context.ts';
import { formatArgv, type RunOptions, type RunResult } from '../core/runner.ts';
import { waitFor, type Probe } from '../core/wait.ts';

// What every day-2 operation gets, and the few helpers they share so that a --dry-run plan and a real run take one
// code path: probes print as "? cmd", actions as "$ cmd", waits as "… wait up to", local steps as "# …".

export interface Day2Context extends OpsContext {
  /** Multiplies every deadline (slow hardware: 2). */
  waitScale: number;
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

/** Default deadlines; --wait-scale multiplies them. */
export const DEADLINES = {
  /** A reset node back in maintenance mode (wipe, reboot, boot). */
  reset: 15 * MINUTE,
  /** An upgraded or rebooted node answering again with its new version. */
  reboot: 15 * MINUTE,
  /** `talosctl health` as a gate before/after a node. */
  health: 10 * MINUTE,
  /** etcd back to all members after a restore or rejoin. */
  etcd: 15 * MINUTE,
  /** The API after a restore. */
  api: 10 * MINUTE,
  /** Nodes Ready after a Cilium reinstall. */
  nodesReady: 10 * MINUTE,
  /** talosctl upgrade-k8s runs its own waits. */
  upgradeK8s: 60 * MINUTE,
  terraform: 60 * MINUTE,
  helm: 10 * MINUTE,
  /** Any single command. */
  command: 5 * MINUTE,
} as const;

export function deadline(ctx: Day2Context, name: keyof typeof DEADLINES): number {
  return Math.max(1, Math.round(DEADLINES[name] * Math.max(0.001, ctx.waitScale)));
}

/** "10m", "90s" for tools that take Go durations. */
export function goDuration(ms: number): string {
  return ms % MINUTE === 0 ? `${ms / MINUTE}m` : `${Math.max(1, Math.round(ms / SECOND))}s`;
}

/** A read-only command. Under --dry-run printed with "?" and reported not-ok. Never throws on a non-zero exit. */
export async function probe(ctx: Day2Context, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  if (ctx.runner.dryRun) ctx.runner.planOnly(`? ${formatArgv(argv)}`);
  return ctx.runner.probe(argv, { timeoutMs: DEADLINES.command, ...opts });
}

/** A quiet read-only command (polling inside a wait): not printed in the plan. */
export function poll(ctx: Day2Context, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  return ctx.runner.probe(argv, { timeoutMs: 60 * SECOND, ...opts });
}

/** A command that changes something: printed with "$" under --dry-run and not run; throws on failure. */
export function act(ctx: Day2Context, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  return ctx.runner.run(argv, { timeoutMs: DEADLINES.command, ...opts, kind: 'action' });
}

/** A local step that is not a command (writing a file): printed with "#" under --dry-run; true means "skip it". */
export function planNote(ctx: Day2Context, text: string): boolean {
  return ctx.runner.planOnly(`# ${text}`);
}

export interface WaitSpec {
  what: string;
  timeoutMs: number;
  check: () => Promise<Probe>;
  diagnose?: () => Promise<string>;
  hint?: string;
  maxIntervalMs?: number;
}

/** A bounded wait with progress; polls back off from 200 ms to `maxIntervalMs`. Under --dry-run prints the wait. */
export async function waitUntil(ctx: Day2Context, w: WaitSpec): Promise<number> {
  if (ctx.runner.planOnly(`… wait up to ${goDuration(w.timeoutMs)} for ${w.what}`)) return 0;
  const max = w.maxIntervalMs ?? 2 * SECOND;
  let next = 200;
  const res = await waitFor({
    what: w.what,
    timeoutMs: w.timeoutMs,
    intervalMs: max,
    check: w.check,
    ...(w.diagnose ? { diagnose: w.diagnose } : {}),
    ...(w.hint ? { hint: w.hint } : {}),
    log: ctx.log,
    sleep: async (ms: number) => {
      const pause = Math.min(ms, next);
      next = Math.min(max, next * 2);
      await sleep(pause);
    },
  });
  return res.elapsedMs;
}

/** The last non-empty line of a command's stderr (or stdout): what a progress line shows. */
export function lastLine(res: RunResult): string {
  const text = (res.stderr.trim() || res.stdout.trim()).split('\n');
  return text[text.length - 1]?.trim() || `exit ${res.exitCode}`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Parses --wait-scale. */
export function parseWaitScale(value: string | undefined): number {
  const scale = Number(value ?? '1');
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`--wait-scale ${value}: must be a positive number`);
  return scale;
}

/** A timestamp for file names: 20250101T120000Z (sortable, no characters a shell or Windows would mind). */
export function fileStamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}
