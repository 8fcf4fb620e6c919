import { setTimeout as sleep } from 'node:timers/promises';
import type { RunResult } from '../core/runner.ts';
import { act, type StepContext } from '../core/steps.ts';
import { isBootstrapNotReadyYet } from './talosctl.ts';

// `talosctl bootstrap` (plain, or with --recover-from a snapshot) right after etcd went to "Preparing": the node may
// still answer FailedPrecondition ("bootstrap is not available yet", "time is not in sync yet") for a few seconds.
// The bootstrap's talos phase and etcd:restore both call it through here.

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
