import type { OpsContext, OpResult } from '../core/context.ts';
import { checkGithubReady } from '../github/github.ts';
import { approveHeadscaleRoutes } from '../headscale/routes.ts';
import { syncPowerDns } from '../powerdns/sync.ts';
import { ensureCsiToken } from '../proxmox/csi-token.ts';
import { describeTarget, sshLine, withSsh } from '../ssh/client.ts';

// The bootstrap's door to operations other modules own: the GitHub and SSH checks of preflight, and the Headscale
// routes, Proxmox CSI token and PowerDNS steps of the integrations phase. Each is an operation
// `(ctx, …) => Promise<OpResult>` that honours ctx.runner.dryRun (runner.planOnly for its SSH/HTTP calls).
//
//   scripts/lib/github/github.ts      checkGithubReady(ctx, { localSha, env })   preflight
//   scripts/lib/ssh/client.ts         withSsh(ctx, target, session => …)         preflight (connect + `true`)
//   scripts/lib/headscale/routes.ts   approveHeadscaleRoutes(ctx)                 integrations, when `headscale:`
//   scripts/lib/proxmox/csi-token.ts  ensureCsiToken(ctx)                         integrations, when `proxmoxCsi:`
//   scripts/lib/powerdns/sync.ts      syncPowerDns(ctx)                           integrations, when `powerdns:`

export interface SshTarget {
  /** What the host is for, e.g. "Proxmox". */
  role: string;
  host: string;
  port: number;
  user: string;
}

/** Every SSH host the config names (Proxmox always; Headscale and the DNS parent when configured). */
export function sshTargets(ctx: OpsContext): SshTarget[] {
  const c = ctx.config;
  const out: SshTarget[] = [{ role: 'Proxmox', host: c.proxmox.host, port: c.proxmox.sshPort, user: c.proxmox.sshUser }];
  if (c.headscale) out.push({ role: 'Headscale', host: c.headscale.host, port: c.headscale.sshPort, user: c.headscale.sshUser });
  const d = c.powerdns?.delegation;
  if (d) out.push({ role: 'DNS parent zone', host: d.host, port: d.sshPort, user: d.sshUser });
  // One check per distinct host:port:user.
  return out.filter((t, i) => out.findIndex((o) => o.host === t.host && o.port === t.port && o.user === t.user) === i);
}

/**
 * Preflight: the local commit is on the branch Flux reads (the branch contains it), and the token may add deploy keys
 * (scripts/lib/github: @octokit/rest with the API base URL from GITHUB_API_URL).
 */
export async function checkGithub(ctx: OpsContext, localSha: string, env: NodeJS.ProcessEnv): Promise<OpResult> {
  return checkGithubReady(ctx, { localSha, env });
}

/**
 * Preflight: the host answers SSH, its host key matches the known_hosts file (never trust-on-first-use) and our key
 * logs in: connects with scripts/lib/ssh (withSsh) and runs `true`.
 */
export async function checkSshHost(ctx: OpsContext, target: SshTarget): Promise<OpResult> {
  const t = { host: target.host, port: target.port, user: target.user };
  if (ctx.runner.planOnly(`? ${sshLine(t, ['true'])}   # ${target.role}: host key checked against ${ctx.config.ssh.knownHostsFile}`)) {
    return { changed: false, summary: 'planned' };
  }
  await withSsh(ctx, t, (s) => s.exec(['true'], { kind: 'probe', timeoutMs: 30_000 }));
  return { changed: false, summary: `${target.role} ${describeTarget(t)} reachable, host key verified` };
}

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
  if (c.powerdns) out.push({ name: 'powerdns', run: (x) => syncPowerDns(x) });
  return out;
}
