import { createInterface } from 'node:readline/promises';
import type { OpsContext } from '../core/context.ts';

// Confirmation for destructive steps (token rotation/deletion, freeing volumes): `--confirm <cluster-name>`, `--yes`,
// or — on a terminal — typing the cluster name. Never asked under --dry-run (nothing is destroyed).

export interface ConfirmOptions {
  /** What will happen, e.g. "rotate the Proxmox CSI token kubernetes-csi@pve!csi". */
  action: string;
  yes?: boolean;
  /** The value of --confirm: must equal the cluster name. */
  confirm?: string | undefined;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

export class ConfirmationError extends Error {
  override name = 'ConfirmationError';
}

export async function confirmDestructive(ctx: OpsContext, opts: ConfirmOptions): Promise<void> {
  if (ctx.runner.dryRun) return;
  const cluster = ctx.config.cluster.name;
  if (opts.confirm !== undefined) {
    if (opts.confirm !== cluster) throw new ConfirmationError(`--confirm ${opts.confirm} does not match the cluster name "${cluster}"; nothing was changed`);
    return;
  }
  if (opts.yes) return;
  const input = opts.input ?? process.stdin;
  if (!(input as { isTTY?: boolean }).isTTY) {
    throw new ConfirmationError(`refusing to ${opts.action} without confirmation: pass --confirm ${cluster} (or --yes); nothing was changed`);
  }
  const rl = createInterface({ input, output: opts.output ?? process.stderr });
  try {
    const answer = (await rl.question(`About to ${opts.action}.\nType the cluster name (${cluster}) to continue: `)).trim();
    if (answer !== cluster) throw new ConfirmationError(`"${answer}" is not the cluster name "${cluster}"; nothing was changed`);
  } finally {
    rl.close();
  }
}
