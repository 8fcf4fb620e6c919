import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError, type OptionSpec } from './cli.ts';
import type { Logger } from './log.ts';
import { formatArgv, type Runner, type RunOptions, type RunResult } from './runner.ts';
import { waitFor, type Probe } from './wait.ts';

// The step primitives every operation uses (bootstrap phases, day-2 and recovery), so that a --dry-run plan and a real
// run take one code path: probes print as "? cmd" and report not-ok under --dry-run (the plan shows the cold path),
// actions as "$ cmd", waits as "… wait up to", local steps as "# …".

/** What the primitives need of a phase or operation context. */
export interface StepContext {
  runner: Runner;
  log: Logger;
}

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

/** Default deadline of a single command. */
export const COMMAND_TIMEOUT_MS = 5 * MINUTE;

/** `deadlines[name]` times the --wait-scale factor (at least 1 ms). */
export function scaledDeadline<K extends string>(deadlines: Record<K, number>, name: K, waitScale: number): number {
  return Math.max(1, Math.round(deadlines[name] * Math.max(0.0001, waitScale)));
}

/** "10m", "90s" for tools that take Go durations. */
export function goDuration(ms: number): string {
  return ms % MINUTE === 0 ? `${ms / MINUTE}m` : `${Math.max(1, Math.round(ms / SECOND))}s`;
}

/** A read-only command that decides whether an action is needed. Under --dry-run: printed with "?", returns not-ok. */
export async function probe(ctx: StepContext, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  if (ctx.runner.dryRun) ctx.runner.planOnly(`? ${formatArgv(argv)}`);
  return ctx.runner.probe(argv, { timeoutMs: COMMAND_TIMEOUT_MS, ...opts });
}

/** A quiet read-only command (polling inside a wait): not printed in the plan. */
export function poll(ctx: StepContext, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  return ctx.runner.probe(argv, { timeoutMs: 60 * SECOND, ...opts });
}

/** A command that changes something: printed with "$" under --dry-run and not run; throws on failure. */
export function act(ctx: StepContext, argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
  return ctx.runner.run(argv, { timeoutMs: COMMAND_TIMEOUT_MS, ...opts, kind: 'action' });
}

/** A local step that is not a command (writing a file): printed with "#" under --dry-run; true means "skip it". */
export function planNote(ctx: StepContext, text: string): boolean {
  return ctx.runner.planOnly(`# ${text}`);
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
 * A bounded wait with progress; returns the time waited. The pause between polls is 1/20 of the time waited so far
 * (at least 100 ms, at most `maxIntervalMs`, 2 s by default): a wait ends within ~5% of its condition becoming true,
 * and a long one costs few probes. Under --dry-run prints the wait instead.
 */
export async function waitUntil(ctx: StepContext, w: WaitSpec): Promise<number> {
  if (ctx.runner.planOnly(`… wait up to ${goDuration(w.timeoutMs)} for ${w.what}`)) return 0;
  const max = w.maxIntervalMs ?? 2 * SECOND;
  const started = Date.now();
  const res = await waitFor({
    what: w.what,
    timeoutMs: w.timeoutMs,
    intervalMs: max,
    check: w.check,
    ...(w.diagnose ? { diagnose: w.diagnose } : {}),
    ...(w.hint ? { hint: w.hint } : {}),
    log: ctx.log,
    sleep: (ms: number) => sleep(Math.min(ms, pollPause(Date.now() - started, max))),
  });
  return res.elapsedMs;
}

/** The pause before the next poll after waiting `elapsedMs`. Pure. */
export function pollPause(elapsedMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(100, Math.round(elapsedMs / 20)));
}

/** Runs `fn` on every item at once; waits for all of them, then rethrows the first failure (others are logged). */
export async function parallel<T, R>(ctx: StepContext, items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const settled = await Promise.allSettled(items.map(fn));
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  for (const f of failures.slice(1)) ctx.log.error(String((f.reason as Error)?.message ?? f.reason));
  if (failures[0]) throw failures[0].reason;
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

/** The last non-empty line of a command's stderr (or stdout): what a progress line shows. */
export function lastLine(res: RunResult): string {
  const text = (res.stderr.trim() || res.stdout.trim()).split('\n');
  return text[text.length - 1]?.trim() || `exit ${res.exitCode}`;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The --wait-scale option every long-running script takes. */
export const WAIT_SCALE_OPTION = {
  type: 'string',
  value: 'FACTOR',
  help: 'multiply every deadline (slow hardware: 2)',
  default: '1',
} as const satisfies OptionSpec;

/** Parses --wait-scale; a usage error (exit 2) names the flag. */
export function parseWaitScale(value: string | undefined): number {
  const scale = Number(value ?? '1');
  if (!Number.isFinite(scale) || scale <= 0) throw new UsageError(`--wait-scale ${value}: must be a positive number`);
  return scale;
}

/** A timestamp for file names: 20250101T120000Z (sortable, no characters a shell or Windows would mind). */
export function fileStamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
}
