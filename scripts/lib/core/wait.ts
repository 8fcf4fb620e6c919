import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './log.ts';

export interface Probe {
  done: boolean;
  /** Short state shown in the progress line, e.g. "2/5 nodes Ready". */
  detail?: string;
}

export interface WaitOptions {
  /** What we wait for, as the user reads it: "etcd to be healthy". */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  check: () => Promise<Probe>;
  /** Gathers what a user needs to see when the deadline passes (command outputs, states). */
  diagnose?: () => Promise<string>;
  /** What to try next, printed with the timeout error. */
  hint?: string;
  log: Logger;
  /** Minimum time between two identical progress lines. */
  progressEveryMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastDetail: string | undefined,
    readonly diagnostics: string | undefined,
    readonly hint?: string,
  ) {
    const parts = [`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}`];
    if (lastDetail) parts.push(`  last state: ${lastDetail}`);
    if (diagnostics) parts.push(`  diagnostics:\n    ${diagnostics.trim().split('\n').join('\n    ')}`);
    if (hint) parts.push(`  next: ${hint}`);
    super(parts.join('\n'));
    this.name = 'WaitTimeoutError';
  }
}

export function progressLine(what: string, elapsedMs: number, timeoutMs: number, detail?: string): string {
  return `waiting for ${what} (${Math.floor(elapsedMs / 1000)}s/${Math.round(timeoutMs / 1000)}s)${detail ? `: ${detail}` : ''}`;
}

/**
 * Polls `check` until it reports done or the deadline passes. Prints a progress line whenever the state changes (and
 * at most every `progressEveryMs` otherwise); on timeout runs `diagnose` and throws WaitTimeoutError.
 * A check that throws counts as "not yet" (the thing we wait for is often what makes the probe fail).
 */
export async function waitFor(opts: WaitOptions): Promise<{ elapsedMs: number; polls: number }> {
  const now = opts.now ?? Date.now;
  const pause = opts.sleep ?? sleep;
  const interval = opts.intervalMs ?? 2000;
  const progressEvery = opts.progressEveryMs ?? 10_000;
  const start = now();
  let polls = 0;
  let lastDetail: string | undefined;
  let lastPrinted = -Infinity;
  let lastPrintedDetail: string | undefined;
  for (;;) {
    polls++;
    let probe: Probe;
    try {
      probe = await opts.check();
    } catch (err) {
      probe = { done: false, detail: (err as Error).message.split('\n')[0] };
    }
    const elapsed = now() - start;
    if (probe.done) {
      if (polls > 1) opts.log.info(`done waiting for ${opts.what}`, { seconds: Math.round(elapsed / 1000) });
      return { elapsedMs: elapsed, polls };
    }
    lastDetail = probe.detail;
    if (elapsed >= opts.timeoutMs) {
      let diagnostics: string | undefined;
      if (opts.diagnose) {
        try {
          diagnostics = await opts.diagnose();
        } catch (err) {
          diagnostics = `(diagnostics failed: ${(err as Error).message})`;
        }
      }
      throw new WaitTimeoutError(opts.what, opts.timeoutMs, lastDetail, diagnostics, opts.hint);
    }
    if (probe.detail !== lastPrintedDetail || elapsed - lastPrinted >= progressEvery) {
      opts.log.info(progressLine(opts.what, elapsed, opts.timeoutMs, probe.detail));
      lastPrinted = elapsed;
      lastPrintedDetail = probe.detail;
    }
    await pause(Math.min(interval, Math.max(0, opts.timeoutMs - elapsed)));
  }
}
