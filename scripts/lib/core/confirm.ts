import { createInterface } from 'node:readline/promises';
import { EXIT_REFUSED, RefusalError } from './cli.ts';
import type { Logger } from './log.ts';

// The typed confirmation every destructive command asks for (day-2, recovery, Proxmox token and volumes): the cluster's
// name, typed by a human at a terminal, or `--confirm <name>` from a script. Anything else aborts (exit 4) before a
// single state-changing command runs.

export { EXIT_REFUSED };

/** CI or no terminal on stdin/stdout: nobody can type, so only `--confirm <name>` counts. */
export function isInteractive(env: NodeJS.ProcessEnv = process.env, stdin: { isTTY?: boolean } = process.stdin, stdout: { isTTY?: boolean } = process.stdout): boolean {
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  return !ci && stdin.isTTY === true && stdout.isTTY === true;
}

export type ConfirmCheck = { ok: true } | { ok: false; message: string };

/** Exact match only: no trimming beyond surrounding whitespace, no case folding, no prefixes. */
export function checkConfirmation(expected: string, typed: string | undefined): ConfirmCheck {
  if (typed === undefined) return { ok: false, message: 'no confirmation given' };
  const value = typed.trim();
  if (value === '') return { ok: false, message: 'empty confirmation' };
  if (value !== expected) return { ok: false, message: `"${value}" is not the cluster name "${expected}"` };
  return { ok: true };
}

export interface ConfirmOptions {
  /** The cluster name that must be typed. */
  cluster: string;
  /** What will happen, one line ("reset 5 Talos nodes of cluster infra"). */
  action: string;
  /** The `--confirm` value, if given. */
  provided: string | undefined;
  /** The command to suggest for scripts (e.g. "task cluster:safe-reset -- --confirm infra"). */
  scriptHint: string;
  log: Logger;
  interactive?: boolean;
  /** Reads one line from the user; readline on the terminal by default. */
  ask?: (question: string) => Promise<string>;
}

async function askTerminal(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/**
 * Resolves when the cluster name was confirmed; throws RefusalError (exit 4) otherwise. `--confirm` wins over the
 * prompt, so a script never hangs on a terminal it does not have.
 */
export async function confirmByName(o: ConfirmOptions): Promise<void> {
  const interactive = o.interactive ?? isInteractive();
  let typed = o.provided;
  if (typed === undefined) {
    if (!interactive) {
      throw new RefusalError(`${o.action}: needs confirmation, and there is no terminal to ask (CI or piped input).\n  next: ${o.scriptHint}`);
    }
    o.log.print(`\n  ${o.action}.\n  Type the cluster name (${o.cluster}) to continue, anything else aborts.\n`);
    typed = await (o.ask ?? askTerminal)(`  cluster name: `);
  }
  const check = checkConfirmation(o.cluster, typed);
  if (!check.ok) throw new RefusalError(`aborted: ${check.message}`);
  o.log.info('confirmed by cluster name', { cluster: o.cluster });
}
