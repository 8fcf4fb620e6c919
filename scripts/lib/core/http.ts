import type { Logger } from './log.ts';
import { redact } from './redact.ts';
import { retry } from './retry.ts';

// Every HTTP call of the scripts (the GitHub API through Octokit, the PowerDNS API) goes through here: a deadline per
// request, a progress line while an answer is slow, bounded retries of what is transient (no answer, a refused
// connection, 429/502/503/504), and an error in our words when it ends in failure.
//
//   fetchOnce(url, init, policy)   one request with its deadline and progress line
//   httpFetch(policy)              a fetch-compatible function with the retries (Octokit's `request.fetch`)

export interface HttpPolicy {
  /** What is asked, as messages start: "GitHub API", "PowerDNS API". */
  what: string;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Deadline of one request, answer included (default 20 s). */
  timeoutMs?: number;
  /** Attempts in all (default 3). */
  attempts?: number;
  /** First pause between attempts, doubled each time (default 1 s). */
  backoffMs?: number;
  /** A progress line this often while a request waits (default 5 s). */
  progressEveryMs?: number;
}

/** A request that got no usable answer: no answer in time, a refused or reset connection, a DNS failure. */
export class NoAnswerError extends Error {
  override name = 'NoAnswerError';
}

const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);

/** The method and URL as messages show them (query strings can hold tokens: redacted like everything logged). */
function requestText(url: string | URL | Request, init: RequestInit | undefined): string {
  const u = typeof url === 'string' ? url : url instanceof URL ? url.href : url.url;
  return redact(`${(init?.method ?? (url instanceof Request ? url.method : 'GET')).toUpperCase()} ${u}`);
}

function reason(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000}s`;
  const code = e?.cause?.code;
  return code ? `${code}${e.cause?.message && !e.cause.message.includes(code) ? ` (${e.cause.message})` : ''}` : (e?.message ?? String(err));
}

/** One request with its deadline; a line every progressEveryMs says it is still waiting. */
export async function fetchOnce(url: string | URL | Request, init: RequestInit | undefined, p: HttpPolicy): Promise<Response> {
  const timeoutMs = p.timeoutMs ?? 20_000;
  const started = Date.now();
  const shown = requestText(url, init);
  const progress = setInterval(
    () => p.log.info(`waiting for ${p.what} (${shown}): no answer yet after ${Math.round((Date.now() - started) / 1000)}s; gives up at ${timeoutMs / 1000}s`),
    p.progressEveryMs ?? 5_000,
  );
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
    p.log.debug(`${p.what} ${shown}`, { status: res.status, ms: Date.now() - started });
    return res;
  } catch (err) {
    if (init?.signal?.aborted) throw err; // the caller's own cancel
    throw new NoAnswerError(reason(err, timeoutMs));
  } finally {
    clearInterval(progress);
  }
}

/**
 * A fetch with the deadline, progress line and bounded retries of the policy. The last attempt's 5xx/429 answer is
 * returned as it is (the caller reports the status); no answer at all ends in a NoAnswerError that says so.
 */
export function httpFetch(p: HttpPolicy): typeof fetch {
  const attempts = Math.max(1, p.attempts ?? 3);
  return (async (url: string | URL | Request, init?: RequestInit) => {
    const shown = requestText(url, init);
    return retry(
      {
        attempts,
        backoffMs: p.backoffMs ?? 1_000,
        log: p.log,
        what: `${p.what} ${shown}`,
        retryable: (err) => err instanceof NoAnswerError,
        fail: (err, made) =>
          err instanceof NoAnswerError
            ? new NoAnswerError(`${p.what} did not answer ${shown} (${made} attempt${made === 1 ? '' : 's'}): ${err.message}`)
            : err,
      },
      async (attempt) => {
        const res = await fetchOnce(url, init, p);
        if (TRANSIENT_STATUS.has(res.status) && attempt < attempts) {
          await res.body?.cancel();
          throw new NoAnswerError(`HTTP ${res.status} ${res.statusText}`);
        }
        return res;
      },
    );
  }) as typeof fetch;
}

/** The NoAnswerError behind an error, if any (Octokit wraps what its fetch throws as a "500" RequestError). */
export function noAnswerCause(err: unknown): NoAnswerError | undefined {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof NoAnswerError) return e;
  }
  return undefined;
}
