import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { OpsContext } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';
import type { RunOptions, RunResult } from '../core/runner.ts';
import { act, probe } from '../core/steps.ts';
import { initArgv, outputArgv, workspaceSelectArgv } from './terraform.ts';

// Running terraform for a cluster (bootstrap, destroy and day-2 share it): the environment, a layer made ready for a
// plan, where its plan file goes, and the outputs of 01-infrastructure.

/** Credentials reach Terraform through the environment only. */
export function terraformEnv(p: { secrets: Record<string, string> }): Record<string, string | undefined> {
  return { PROXMOX_VE_API_TOKEN: p.secrets.PROXMOX_VE_API_TOKEN, TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
}

/**
 * `terraform output -json` of 01-infrastructure in the cluster's own workspace: TF_WORKSPACE pins it, since the layer
 * directory may have another cluster's workspace selected. A probe (printed with "?" under --dry-run).
 */
export function readInfrastructureOutputs(ctx: Pick<OpsContext, 'runner' | 'log' | 'secrets' | 'config'>): Promise<RunResult> {
  return probe(ctx, outputArgv('01-infrastructure'), { cwd: REPO_ROOT, env: { ...terraformEnv(ctx), TF_WORKSPACE: ctx.config.cluster.name } });
}

/** Where a layer's saved plan goes (private state dir): `<layer>.tfplan`, or `<layer>.destroy.tfplan` for a destroy plan. */
export function planFile(ctx: { paths: { dir: string } }, layer: string, kind: 'apply' | 'destroy' = 'apply'): string {
  return join(ctx.paths.dir, 'terraform', `${layer}${kind === 'destroy' ? '.destroy' : ''}.tfplan`);
}

/** Before a plan: the plan directory (0700), `terraform init` and the cluster's workspace (selected, or created). */
export async function prepareLayer(
  ctx: Pick<OpsContext, 'runner' | 'log' | 'config' | 'paths'>,
  layer: string,
  opts: Omit<RunOptions, 'kind'>,
  initHint?: string,
): Promise<void> {
  if (!ctx.runner.dryRun) mkdirSync(join(ctx.paths.dir, 'terraform'), { recursive: true, mode: 0o700 });
  await act(ctx, initArgv(layer), { ...opts, ...(initHint ? { hint: initHint } : {}) });
  await act(ctx, workspaceSelectArgv(layer, ctx.config.cluster.name), opts);
}
