import { setTimeout as sleep } from 'node:timers/promises';
import type { OpsContext } from '../core/context.ts';
import { formatArgv, type RunOptions, type RunResult } from '../core/runner.ts';
import { waitFor, type Probe } from '../core/wait.ts';
import type { PhaseRecord } from '../core/state.ts';
import type { PhaseName } from './phases.ts';

// What a phase gets, and the few helpers every phase uses so that the plan (--dry-run) and the real run share one
// code path: probes print as "? cmd" and report not-ok under --dry-run (the plan shows the cold-start path), waits
// print what they would wait for, local file writes print as "# …".

export interface BootstrapOptions {
  /** Multiplies every deadline (slow hardware: 2). */
  waitScale: number;
  /** Environment (GITHUB_API_URL, DBUS_SESSION_BUS_ADDRESS, …); process.env unless a test passes its own. */
  env: NodeJS.ProcessEnv;
}

export interface PhaseContext extends OpsContext {
  phase: PhaseName;
  opts: BootstrapOptions;
  /** Remembers one line per thing done or skipped; the summary shows them. */
  note(line: string): void;
  /** Versions the phase acted with, recorded in the state file. */
  versions: Record<string, string>;
  /** Facts for the state file (what was applied, hashes of inputs). */
  facts: Record<string, unknown>;
  /** This phase's record from an earlier run, if any. */
  previous?: PhaseRecord;
}

export interface PhaseOutcome {
  /** One line for the summary table. */
  summary: string;
  changed: boolean;
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

/** Default deadlines; `--wait-scale` multiplies them. */
export const DEADLINES = {
  nodesReachable: 10 * MINUTE,
  nodesConfigured: 15 * MINUTE,
  etcdService: 10 * MINUTE,
  etcdMembers: 10 * MINUTE,
  apiServer: 10 * MINUTE,
  vip: 5 * MINUTE,
  nodesReady: 10 * MINUTE,
  health: 10 * MINUTE,
  kustomizations: 30 * MINUTE,
  terraformApply: 60 * MINUTE,
  terraformOther: 10 * MINUTE,
  helm: 10 * MINUTE,
  fluxBootstrap: 12 * MINUTE,
  command: 5 * MINUTE,
  integration: 10 * MINUTE,
} as const;

export function deadline(p: PhaseContext, name: keyof typeof DEADLINES): number {
  return Math.max(1, Math.round(DEADLINES[name] * Math.max(0.0001, p.opts.waitScale)));
}

/** "10m", "90s" for tools that take Go durations. */
export function goDuration(ms: number): string {
  return ms % MINUTE === 0 ? `${ms / MINUTE}m` : `${Math.max(1, Math.round(ms / SECOND))}s`;
}

/** A read-only command that decides whether an action is needed. Under --dry-run: printed with "?", returns not-ok. */
export async function probe(p: PhaseContext, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  if (p.runner.dryRun) p.runner.planOnly(`? ${formatArgv(argv)}`);
  return p.runner.probe(argv, { timeoutMs: DEADLINES.command, ...opts });
}

/** A command that changes something (printed with "$" under --dry-run, not run). */
export function act(p: PhaseContext, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  return p.runner.run(argv, { timeoutMs: DEADLINES.command, ...opts, kind: 'action' });
}

/** A local step that is not a command (writing a file); printed with "#" under --dry-run. Returns true to skip it. */
export function planNote(p: PhaseContext, text: string): boolean {
  return p.runner.planOnly(`# ${text}`);
}

export interface WaitSpec {
  what: string;
  timeoutMs: number;
  check: () => Promise<Probe>;
  diagnose?: () => Promise<string>;
  hint?: string;
  /** Longest pause between polls; polls start fast and back off to it. */
  maxIntervalMs?: number;
}

/**
 * A bounded wait with progress. The pause between polls is 1/20 of the time waited so far (at least 100 ms, at most
 * `maxIntervalMs`, 2 s by default): a wait ends within ~5% of its condition becoming true, and a long one costs few
 * probes. Under --dry-run prints the wait instead.
 */
export async function waitUntil(p: PhaseContext, w: WaitSpec): Promise<void> {
  if (p.runner.planOnly(`… wait up to ${goDuration(w.timeoutMs)} for ${w.what}`)) return;
  const max = w.maxIntervalMs ?? 2 * SECOND;
  const started = Date.now();
  await waitFor({
    what: w.what,
    timeoutMs: w.timeoutMs,
    intervalMs: max,
    check: w.check,
    ...(w.diagnose ? { diagnose: w.diagnose } : {}),
    ...(w.hint ? { hint: w.hint } : {}),
    log: p.log,
    sleep: (ms: number) => sleep(Math.min(ms, pollPause(Date.now() - started, max))),
  });
}

/** The pause before the next poll after waiting `elapsedMs`. Pure. */
export function pollPause(elapsedMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(100, Math.round(elapsedMs / 20)));
}

/** Runs `fn` on every item at once; waits for all of them, then rethrows the first failure (others are logged). */
export async function parallel<T, R>(p: PhaseContext, items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const settled = await Promise.allSettled(items.map(fn));
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  for (const f of failures.slice(1)) p.log.error(String((f.reason as Error)?.message ?? f.reason));
  if (failures[0]) throw failures[0].reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
