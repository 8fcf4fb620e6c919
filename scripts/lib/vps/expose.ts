import type { OpResult, OpsContext } from '../core/context.ts';
import { waitUntil } from '../core/steps.ts';
import { digArgv, fqdn } from '../powerdns/records.ts';
import type { PowerDnsApi } from '../powerdns/api.ts';
import { powerDnsApi, syncPowerDns, type PowerDnsSyncOptions } from '../powerdns/sync.ts';
import type { SshTarget } from '../ssh/client.ts';
import { withRemote, type RemoteOptions } from '../ssh/remote.ts';
import { ensureSniPassthrough, removeSniPassthrough } from './nginx.ts';
import { ensurePrimaryTransfer, ensureSecondaryZone, removeSecondaryZone } from './secondary.ts';
import { soaSerial } from './verify.ts';

// exposeVps(ctx, opts): the public entry to the cluster through the VPS (config section `vps`), in order:
//   1. syncPowerDns: the zone (a primary), its records — the public names point at vps.publicIp — and the parent
//      zone's delegation to the VPS's nameserver name (powerdns.delegation)
//   2. the primary's transfer settings: kind Master, AXFR only from vps.tailnetIp, ALSO-NOTIFY to it   (HTTP API)
//   3. the zone on the VPS's PowerDNS as a secondary of the primary                                    (pdnsutil, SSH)
//   4. nginx stream SNI passthrough of the public names to the ingress over the tailnet                (nginx, SSH)
//   5. after a change to 2 or 3: NOTIFY, then wait (bounded) until the VPS answers with the primary's SOA serial

export function vpsTarget(ctx: Pick<OpsContext, 'config'>): SshTarget {
  const v = ctx.config.vps;
  if (!v) throw new Error('the config has no vps section');
  return { host: v.host, port: v.sshPort, user: v.sshUser };
}

export async function exposeVps(ctx: OpsContext, opts: PowerDnsSyncOptions = {}): Promise<OpResult> {
  const c = ctx.config;
  if (!c.vps || !c.powerdns) return { changed: false, summary: 'no vps section: nothing to expose' };
  const v = c.vps;
  const zone = fqdn(c.powerdns.zone);
  const live = !ctx.runner.dryRun || !!opts.inspect;
  const dns = await syncPowerDns(ctx, opts);
  ctx.runner.heading(`Public entry through the VPS ${v.host} (${zone}: secondary DNS, SNI passthrough to ${c.network.loadBalancerIps!.ingress}):`);
  const api = powerDnsApi(ctx, live, opts.http);
  const primary = await ensurePrimaryTransfer(ctx, api, live);
  const { secondary, nginx } = await withRemote(ctx, vpsTarget(ctx), opts, async (host) => ({
    secondary: await ensureSecondaryZone(ctx, host),
    nginx: await ensureSniPassthrough(ctx, host),
  }));
  if (live) ctx.log.print([...primary.lines, ...secondary.lines, ...nginx.lines].join('\n'));
  const transferChanged = primary.changes + secondary.changes > 0;
  if (transferChanged || !live) {
    if (!ctx.runner.planOnly(`PUT ${api.notifyUrl(zone)}   # NOTIFY: the VPS transfers the zone now`)) await api.notify(zone);
  }
  if (!ctx.runner.dryRun) await waitForSecondary(ctx, api, opts);
  const changes = [transferChanged && 'zone transfer', nginx.changes > 0 && 'nginx'].filter(Boolean);
  const summary = !live
    ? `would ensure the secondary on ${v.host}, AXFR/NOTIFY on the primary and SNI passthrough; dns: ${dns.summary}`
    : ctx.runner.dryRun
      ? `would change: ${changes.join(', ') || 'nothing'}; dns: ${dns.summary}`
      : `${changes.length ? `changed ${changes.join(' and ')}` : 'no changes'}; ${v.host} serves ${zone} as a secondary; dns: ${dns.summary}`;
  return { changed: !ctx.runner.dryRun && (dns.changed || changes.length > 0), summary };
}

/**
 * cluster:destroy: what exposeVps put on the VPS — the nginx stream file first (no more traffic to the ingress), then
 * the secondary zone. Each only when it is this cluster's (the file's managed line, a secondary of this primary);
 * a second run finds neither and changes nothing. The primary's records go with the cluster.
 */
export async function removeVpsExposure(ctx: OpsContext, opts: RemoteOptions = {}): Promise<OpResult> {
  const c = ctx.config;
  if (!c.vps || !c.powerdns) return { changed: false, summary: 'no vps section: nothing to remove' };
  const v = c.vps;
  ctx.runner.heading(`VPS ${v.host}: the SNI passthrough file ${v.nginx.file} and the secondary zone ${fqdn(c.powerdns.zone)}:`);
  return withRemote(ctx, vpsTarget(ctx), opts, async (host) => {
    const nginx = await removeSniPassthrough(ctx, host);
    const secondary = await removeSecondaryZone(ctx, host);
    if (host.live) ctx.log.print([...nginx.lines, ...secondary.lines].join('\n'));
    const removed = [nginx.changes > 0 && 'nginx file', secondary.changes > 0 && 'secondary zone'].filter(Boolean);
    if (!host.live) return { changed: false, summary: `would remove ${v.nginx.file} and the secondary zone from ${v.host} (each only if it is this cluster's)` };
    if (!removed.length) return { changed: false, summary: `no changes (nothing of cluster ${c.cluster.name} on ${v.host})` };
    return { changed: !ctx.runner.dryRun, summary: `${ctx.runner.dryRun ? 'would remove' : 'removed'} ${removed.join(' and ')} on ${v.host}` };
  });
}

/**
 * The VPS answers the zone with the primary's SOA serial (bounded; the AXFR after NOTIFY takes seconds). While it does
 * not, NOTIFY is sent again every 10 s: on a first bootstrap the tailnet route to the primary may be approved only
 * now (the Headscale step runs alongside), and a NOTIFY makes the VPS try the transfer at once instead of at its next
 * refresh.
 */
async function waitForSecondary(ctx: OpsContext, api: PowerDnsApi, opts: PowerDnsSyncOptions): Promise<void> {
  const p = ctx.config.powerdns!;
  const v = ctx.config.vps!;
  const zone = fqdn(p.zone);
  let notified = Date.now();
  await waitUntil(ctx, {
    what: `${v.host} to serve ${zone} with the primary's SOA serial`,
    timeoutMs: opts.verifyTimeoutMs ?? 90_000,
    maxIntervalMs: opts.verifyIntervalMs ?? 2_000,
    check: async () => {
      const [a, b] = await Promise.all([
        ctx.runner.probe(digArgv(p.nameserver.ip, p.dnsPort, zone, 'SOA'), { timeoutMs: 10_000 }),
        ctx.runner.probe(digArgv(v.host, v.dnsPort, zone, 'SOA'), { timeoutMs: 10_000 }),
      ]);
      const [sa, sb] = [soaSerial(a.stdout), soaSerial(b.stdout)];
      if ((sa === undefined || sa !== sb) && Date.now() - notified >= 10_000) {
        notified = Date.now();
        await api.notify(zone);
      }
      return { done: sa !== undefined && sa === sb, detail: `primary serial ${sa ?? 'no answer'}, VPS ${sb ?? 'no answer'}` };
    },
    hint: `on the VPS: pdnsutil show-zone ${zone} and its PowerDNS log; the primary (${p.nameserver.ip}) must allow AXFR from ${v.tailnetIp} and be reachable over the tailnet (Headscale routes)`,
  });
}
