import type { OpsContext } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';
import type { RunResult } from '../core/runner.ts';
import { probe } from '../core/steps.ts';
import { outputArgv } from './terraform.ts';

// Running terraform for a cluster (bootstrap, destroy and day-2 share it): the environment and the outputs of a layer.

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
