import type { OpsContext, OpResult } from '../core/context.ts';
import { approveHeadscaleRoutes } from '../headscale/routes.ts';
import { syncPowerDns } from '../powerdns/sync.ts';
import { ensureCsiToken } from '../proxmox/csi-token.ts';
import { exposeVps } from '../vps/expose.ts';

// The bootstrap's door to operations other modules own. Preflight calls the GitHub and SSH checks directly; the
// integrations phase runs the Headscale routes, Proxmox CSI token and PowerDNS steps listed here. Each is an operation
// `(ctx, …) => Promise<OpResult>` that honours ctx.runner.dryRun (runner.planOnly for its SSH/HTTP calls).
//
//   scripts/lib/github/github.ts      checkGithubReady(ctx, { localSha, env })   preflight
//   scripts/lib/ssh/remote.ts         configuredSshTargets(ctx), checkSshHost    preflight (connect + `true`)
//   scripts/lib/headscale/routes.ts   approveHeadscaleRoutes(ctx)                 integrations, when `headscale:`
//   scripts/lib/proxmox/csi-token.ts  ensureCsiToken(ctx)                         integrations, when `proxmoxCsi:`
//   scripts/lib/powerdns/sync.ts      syncPowerDns(ctx)                           integrations, when `powerdns:`
//   scripts/lib/vps/expose.ts         exposeVps(ctx)                              integrations, when `vps:` (it runs the
//                                                                                 PowerDNS sync first, in place of that step)

export interface Integration {
  name: string;
  run: (ctx: OpsContext) => Promise<OpResult>;
}

/** The integration steps the config turns on; they are independent of each other and run concurrently. */
export function integrations(ctx: OpsContext): Integration[] {
  const c = ctx.config;
  const out: Integration[] = [];
  if (c.headscale) out.push({ name: 'headscale routes', run: (x) => approveHeadscaleRoutes(x) });
  if (c.proxmoxCsi) out.push({ name: 'proxmox csi token', run: (x) => ensureCsiToken(x) });
  if (c.powerdns && !c.vps) out.push({ name: 'powerdns', run: (x) => syncPowerDns(x) });
  if (c.vps) out.push({ name: 'vps expose', run: (x) => exposeVps(x) });
  return out;
}
