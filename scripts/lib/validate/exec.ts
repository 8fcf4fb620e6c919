import type { Logger } from '../core/log.ts';
import { Runner } from '../core/runner.ts';
import type { Exec } from './kustomize.ts';

/** Commands validate runs (kustomize builds, terraform fmt) are read-only: they run even under --dry-run. */
export function runnerExec(log: Logger): Exec {
  const runner = new Runner({ log });
  return async (argv, opts) => {
    const r = await runner.probe(argv, { cwd: opts?.cwd, env: opts?.env, timeoutMs: 120_000 });
    return { ok: r.ok, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
}
