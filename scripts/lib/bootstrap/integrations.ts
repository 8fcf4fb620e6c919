import { join } from 'node:path';
import type { OpsContext, OpResult } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { approveHeadscaleRoutes } from '../headscale/routes.ts';
import { syncPowerDns } from '../powerdns/sync.ts';
import { ensureCsiToken } from '../proxmox/csi-token.ts';
import { exposeVps } from '../vps/expose.ts';

// The bootstrap's door to operations other modules own. Preflight calls the GitHub and SSH checks directly; the
// integrations phase runs the steps listed here. Each is an operation `(ctx, …) => Promise<OpResult>` that honours
// ctx.runner.dryRun (runner.planOnly for its SSH/HTTP calls).
//
//   scripts/lib/github/github.ts      checkGithubReady(ctx, { localSha, env })   preflight
//   scripts/lib/ssh/remote.ts         configuredSshTargets(ctx), checkSshHost    preflight (connect + `true`)
//   scripts/lib/proxmox/host.ts       checkProxmoxPrerequisites(ctx)             preflight (PVE ≥ 8.4, import content)
//   scripts/lib/headscale/routes.ts   approveHeadscaleRoutes(ctx)                 integrations, when `headscale:`
//   scripts/lib/proxmox/csi-token.ts  ensureCsiToken(ctx)                         integrations, when `proxmoxCsi:`
//   scripts/lib/powerdns/sync.ts      syncPowerDns(ctx)                           integrations, when `powerdns:` (with
//                                                                                 `external:` it only checks the other
//                                                                                 cluster's zone, waiting for nothing here)
//   scripts/lib/vps/expose.ts         exposeVps(ctx)                              integrations, when `vps:` (it runs the
//                                                                                 PowerDNS sync first, in place of that step)
//
// The order between them is real, not incidental: the in-cluster PowerDNS (Vault's volumes) needs Proxmox CSI, which
// needs the CSI token in git. So a step says what it needs from Flux (`needs`: Kustomizations that must be Ready
// before it runs) and what it gives Flux (`publishes`: files committed, pushed and reconciled as soon as the step is
// done, then `publishes.ready` waited for). Steps with neither run at once. To add a step, add one entry.

export interface Integration {
  name: string;
  /** Flux Kustomizations (flux-system namespace) this step talks to: it waits, bounded, until they are Ready. */
  needs?: string[];
  /** What the step writes into this cluster's GitOps tree for Flux: pushed right after it, then `ready` waited for. */
  publishes?: { files: string[]; message: string; ready: string[] };
  run: (ctx: OpsContext) => Promise<OpResult>;
}

/** Kustomizations of kubernetes/clusters/<cluster>/flux the steps depend on. */
export const KUSTOMIZATION_FOR = { proxmoxCsi: 'proxmox-csi', powerdns: 'powerdns' } as const;

/** The integration steps the config turns on. */
export function integrations(ctx: OpsContext): Integration[] {
  const c = ctx.config;
  const tree = join(REPO_ROOT, 'kubernetes', 'clusters', c.cluster.name);
  const out: Integration[] = [];
  if (c.proxmoxCsi) {
    out.push({
      name: 'proxmox csi token',
      publishes: { files: [tree], message: `bootstrap(${c.cluster.name}): Proxmox CSI token`, ready: [KUSTOMIZATION_FOR.proxmoxCsi] },
      run: (x) => ensureCsiToken(x),
    });
  }
  if (c.headscale) out.push({ name: 'headscale routes', run: (x) => approveHeadscaleRoutes(x) });
  // PowerDNS in another cluster (powerdns.external): nothing here to wait for; the step only checks that server's zone.
  if (c.powerdns?.external) out.push({ name: 'powerdns (external)', run: (x) => syncPowerDns(x) });
  else if (c.powerdns && !c.vps) out.push({ name: 'powerdns', needs: [KUSTOMIZATION_FOR.powerdns], run: (x) => syncPowerDns(x) });
  if (c.vps) out.push({ name: 'vps expose', needs: [KUSTOMIZATION_FOR.powerdns], run: (x) => exposeVps(x) });
  return out;
}
