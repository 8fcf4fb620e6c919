import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './log.ts';

// Bounded retries with exponential backoff, for connections and requests that can fail transiently (an SSH connect
// refused while the host boots, a 503 from an API):
//
//   retry({ attempts, backoffMs, log, what, retryable, fail? }, (attempt) => …)
//
// Runs fn up to `attempts` times; between attempts waits backoffMs, 2×, 4×… and warns
// "<what>: <reason>; retrying in <pause>ms (attempt <next>/<attempts>)". A failure `retryable` refuses, or the last
// attempt's failure, ends it: `fail(err, attemptsMade)` turns that into the error thrown (default: the error itself).

export interface RetryOptions {
  /** Attempts in all (at least 1). */
  attempts: number;
  /** The pause before the second attempt; doubled before each further one. */
  backoffMs: number;
  log: Pick<Logger, 'warn'>;
  /** What is tried, as the warning starts: "ssh root@pve", "PowerDNS GET https://…". */
  what: string;
  /** True when the failure is worth another attempt. */
  retryable: (err: unknown) => boolean;
  /** The failure as the warning shows it (default: the first line of its message). */
  describe?: (err: unknown) => string;
  /** The error thrown when it ends in failure, with the number of attempts made (default: the failure itself). */
  fail?: (err: unknown, attempts: number) => unknown;
}

const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

export async function retry<T>(opts: RetryOptions, fn: (attempt: number) => Promise<T>): Promise<T> {
  const attempts = Math.max(1, opts.attempts);
  const describe = opts.describe ?? firstLine;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || !opts.retryable(err)) throw opts.fail ? opts.fail(err, attempt) : err;
      const pause = opts.backoffMs * 2 ** (attempt - 1);
      opts.log.warn(`${opts.what}: ${describe(err)}; retrying in ${pause}ms (attempt ${attempt + 1}/${attempts})`);
      await sleep(pause);
    }
  }
}
