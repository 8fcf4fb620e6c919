import type { OpResult, OpsContext } from '../core/context.ts';
import { waitUntil } from '../core/steps.ts';
import { shellLine, type SshTarget } from '../ssh/client.ts';
import { withRemote, type RemoteOptions } from '../ssh/remote.ts';
import { PowerDnsApi } from './api.ts';
import {
  desiredDelegation,
  desiredZoneRRsets,
  diffRRsets,
  digArgv,
  digMatches,
  formatDiff,
  fqdn,
  fromApiRRsets,
  increaseSerialArgv,
  listZoneArgv,
  parseDig,
  parseListZone,
  patchBody,
  publicNameserver,
  zoneKind,
  replaceRRsetArgv,
  type CurrentRRset,
  type RRset,
} from './records.ts';

// syncPowerDns(ctx, { inspect?, verifyTimeoutMs? }): the zone and records the config describes, and the parent
// zone's NS delegation. Creates what is missing, replaces what differs, leaves every other record alone; under
// --dry-run prints the diff (with inspect: against the live servers) and the exact requests/commands.
//
//   In-cluster server, HTTP API (X-API-Key = PDNS_API_KEY):
//     GET   {apiUrl}/api/v1/servers/{serverId}/zones/{zone}.
//     POST  {apiUrl}/api/v1/servers/{serverId}/zones  {"name":"{zone}.","kind":"Native","nameservers":["{ns}."]}  (missing zone;
//           kind Master and the VPS's nameserver when the config has a vps section: the VPS is its secondary)
//     PATCH {apiUrl}/api/v1/servers/{serverId}/zones/{zone}.  {"rrsets":[{name,type,ttl,changetype:"REPLACE",records}]}
//   Parent zone on the VPS, over SSH (powerdns.delegation.pdnsutil is the command prefix):
//     pdnsutil list-zone PARENT
//     pdnsutil replace-rrset PARENT CHILD NS TTL NS.           (and the glue: NSNAME A TTL IP, when inside PARENT)
//     pdnsutil increase-serial PARENT                          (only after a change, so secondaries pick it up)
//   Verification by DNS (local dig, bounded wait for caches):
//     dig @{nameserver.ip} -p {dnsPort} +norecurse +time=2 +tries=1 +noall +answer NAME TYPE      (every rrset)
//     dig @{delegation.host} -p {delegation.dnsPort} … +answer +authority +additional CHILD NS

export interface PowerDnsSyncOptions extends RemoteOptions {
  /** Bound for the DNS verification (caches: packet cache 20 s, negative cache 60 s by default). Default 90 s. */
  verifyTimeoutMs?: number;
  verifyIntervalMs?: number;
  /** HTTP attempts/backoff (tests shorten them). */
  http?: { attempts?: number; backoffMs?: number; timeoutMs?: number };
}

export function delegationTarget(ctx: Pick<OpsContext, 'config'>): SshTarget | undefined {
  const d = ctx.config.powerdns?.delegation;
  return d && { host: d.host, port: d.sshPort, user: d.sshUser };
}

export const compactJson = (v: unknown) => JSON.stringify(v);

/** The client of the in-cluster server's API; without PDNS_API_KEY only a plan can be printed (live: an error). */
export function powerDnsApi(ctx: OpsContext, live: boolean, http: PowerDnsSyncOptions['http'] = {}): PowerDnsApi {
  const p = ctx.config.powerdns!;
  const apiKey = ctx.secrets.PDNS_API_KEY ?? '';
  if (live && !apiKey) {
    const missing = 'PDNS_API_KEY is missing: add it to .env (the PowerDNS api-key; see .env.example)';
    // A dry-run reads the zone to show the diff; say which read it could not make.
    throw new Error(
      ctx.runner.dryRun
        ? `--dry-run could not read zone ${fqdn(p.zone)} from the PowerDNS API (GET ${p.apiUrl.replace(/\/+$/, '')}/api/v1/servers/${p.serverId}/zones/${fqdn(p.zone)}) to show the diff: ${missing}; nothing was changed`
        : missing,
    );
  }
  return new PowerDnsApi({ apiUrl: p.apiUrl, serverId: p.serverId, apiKey: apiKey || '<PDNS_API_KEY>', log: ctx.log, ...http });
}

async function syncZone(ctx: OpsContext, api: PowerDnsApi, desired: RRset[], live: boolean): Promise<{ changes: number; lines: string }> {
  const p = ctx.config.powerdns!;
  const zone = fqdn(p.zone);
  const createBody = { name: zone, kind: zoneKind(ctx.config), nameservers: [publicNameserver(ctx.config)!.name] };
  if (!live) {
    ctx.runner.planOnly(`? GET ${api.zoneUrl(zone)}`);
    ctx.runner.planOnly(`POST ${api.zonesUrl()} ${compactJson(createBody)}   # only if the zone is missing`);
    ctx.runner.planOnly(`PATCH ${api.zoneUrl(zone)} ${compactJson(patchBody(desired.map((d) => ({ kind: 'create', desired: d }))))}   # only the rrsets that differ`);
    return { changes: 0, lines: `zone ${zone}: would ensure ${desired.length} rrset(s)` };
  }
  let existing = await api.getZone(zone);
  let current: CurrentRRset[];
  let created = false;
  if (!existing) {
    if (ctx.runner.planOnly(`POST ${api.zonesUrl()} ${compactJson(createBody)}`)) {
      // The new zone would hold its SOA and the apex NS from `nameservers`.
      current = [{ name: zone, type: 'NS', ttl: 3600, records: createBody.nameservers }];
    } else {
      existing = await api.createZone(createBody);
      ctx.log.info(`created zone ${zone}`, { server: p.apiUrl });
      current = fromApiRRsets(existing.rrsets ?? []);
    }
    created = true;
  } else {
    current = fromApiRRsets(existing.rrsets ?? []);
  }
  const diff = diffRRsets(desired, current);
  if (diff.changes.length && !ctx.runner.planOnly(`PATCH ${api.zoneUrl(zone)} ${compactJson(patchBody(diff.changes))}`)) {
    await api.patchZone(zone, patchBody(diff.changes));
  }
  const head = created ? `zone ${zone} (${ctx.runner.dryRun ? 'would be ' : ''}created)` : `zone ${zone}`;
  return { changes: diff.changes.length + (created ? 1 : 0), lines: formatDiff(diff, head) };
}

async function syncDelegation(ctx: OpsContext, opts: PowerDnsSyncOptions): Promise<{ changes: number; lines: string }> {
  const p = ctx.config.powerdns!;
  const d = p.delegation!;
  const desired = desiredDelegation(ctx.config);
  return withRemote(ctx, delegationTarget(ctx)!, opts, async (host) => {
    const listed = await host.read(listZoneArgv(d.pdnsutil, d.parentZone), {
      hint: `the parent zone ${d.parentZone} must exist on ${d.host} (pdnsutil create-zone ${d.parentZone}); check powerdns.delegation.pdnsutil`,
    });
    if (!listed) {
      for (const r of desired) await host.change(replaceRRsetArgv(d.pdnsutil, d.parentZone, r));
      await host.change(increaseSerialArgv(d.pdnsutil, d.parentZone));
      return { changes: 0, lines: `delegation in ${d.parentZone} on ${d.host}: would ensure ${desired.length} rrset(s) (only those that differ)` };
    }
    const diff = diffRRsets(desired, parseListZone(listed.stdout));
    for (const c of diff.changes) await host.change(replaceRRsetArgv(d.pdnsutil, d.parentZone, c.desired));
    if (diff.changes.length) await host.change(increaseSerialArgv(d.pdnsutil, d.parentZone));
    return { changes: diff.changes.length, lines: formatDiff(diff, `delegation of ${fqdn(p.zone)} in ${fqdn(d.parentZone)} on ${d.host}`) };
  });
}

/** One dig command line and the rrsets its answer must hold (the delegation's NS and glue come from one query). */
interface DigCheck {
  argv: string[];
  wants: RRset[];
}

function verificationChecks(ctx: OpsContext, zoneRRsets: RRset[]): DigCheck[] {
  const p = ctx.config.powerdns!;
  const checks: DigCheck[] = zoneRRsets.map((want) => ({ argv: digArgv(p.nameserver.ip, p.dnsPort, want.name, want.type), wants: [want] }));
  const d = p.delegation;
  // With a vps section the VPS serves the child zone itself (a secondary), so it answers the NS instead of referring
  // with glue; the glue is compared in the parent zone's listing (syncDelegation).
  const delegation = ctx.config.vps ? desiredDelegation(ctx.config).filter((r) => r.type === 'NS') : desiredDelegation(ctx.config);
  if (d) checks.push({ argv: digArgv(d.host, d.dnsPort, fqdn(p.zone), 'NS', ['answer', 'authority', 'additional']), wants: delegation });
  return checks;
}

const DIG_MISSING = 'dig is not installed (Debian/Ubuntu: apt-get install dnsutils): it verifies the records by DNS';

async function verifyByDns(ctx: OpsContext, checks: DigCheck[], opts: PowerDnsSyncOptions): Promise<void> {
  if (ctx.runner.dryRun) {
    for (const c of checks) ctx.runner.planOnly(`? ${shellLine(c.argv)}`);
    return;
  }
  // Once, before the wait: a missing dig is a clear error at once, not a wait that cannot succeed.
  const version = await ctx.runner.probe(['dig', '-v'], { timeoutMs: 10_000 });
  if (version.exitCode === 127 || /not found|ENOENT/i.test(version.stderr)) throw new Error(DIG_MISSING);
  const rrsets = checks.reduce((n, c) => n + c.wants.length, 0);
  let failing: string[] = [];
  await waitUntil(ctx, {
    what: `DNS answers to match the config (${rrsets} rrset(s))`,
    timeoutMs: opts.verifyTimeoutMs ?? 90_000,
    maxIntervalMs: opts.verifyIntervalMs ?? 2_000,
    check: async () => {
      failing = [];
      for (const c of checks) {
        const res = await ctx.runner.probe(c.argv, { timeoutMs: 10_000 });
        const answer = parseDig(res.ok ? res.stdout : '');
        for (const want of c.wants) if (!digMatches(answer, want)) failing.push(`${want.name} ${want.type} @${c.argv[1]!.slice(1)}:${c.argv[3]}`);
      }
      return { done: failing.length === 0, detail: `${rrsets - failing.length}/${rrsets} rrset(s) answer as configured${failing.length ? `; not yet: ${failing.slice(0, 4).join(', ')}` : ''}` };
    },
    diagnose: async () => `still different: ${failing.join(', ')}`,
    hint: 'check that the DNS server answers on that address/port (powerdns.nameserver.ip/dnsPort, delegation.host/dnsPort) and is not a stale secondary',
  });
}

/**
 * powerdns.external: why the other cluster's PowerDNS cannot serve this one yet (its zone is missing), or undefined.
 * A read only; the bootstrap's preflight asks it too, so a missing zone stops the run before any VM exists.
 */
export async function externalZoneProblem(ctx: OpsContext, api: PowerDnsApi = powerDnsApi(ctx, true)): Promise<string | undefined> {
  const p = ctx.config.powerdns!;
  const zone = fqdn(p.zone);
  if (await api.getZone(zone)) return undefined;
  return `zone ${zone} does not exist on the PowerDNS at ${p.apiUrl}: it belongs to the cluster that runs that server — run its bootstrap (or \`task dns:sync\` with its config) first, or fix powerdns.zone here`;
}

/**
 * powerdns.external: the server, its zone and records belong to the cluster that runs it; this cluster only uses the
 * API (external-dns, the DNS-01 webhook). So nothing is written: the zone must exist there, and the key must open it.
 */
async function checkExternalZone(ctx: OpsContext, api: PowerDnsApi, live: boolean): Promise<OpResult> {
  const p = ctx.config.powerdns!;
  const zone = fqdn(p.zone);
  ctx.runner.heading(`PowerDNS of another cluster at ${p.apiUrl} (powerdns.external): zone ${zone}, names under ${p.external!.domain}:`);
  if (!live) {
    ctx.runner.planOnly(`? GET ${api.zoneUrl(zone)}   # the zone must exist there; nothing is written (external-dns publishes this cluster's names)`);
    return { changed: false, summary: `would check that ${zone} exists at ${p.apiUrl}` };
  }
  const missing = await externalZoneProblem(ctx, api);
  if (missing) throw new Error(missing);
  const summary = `zone ${zone} exists at ${p.apiUrl}; external-dns publishes ${p.external!.domain} there`;
  if (!ctx.runner.dryRun) ctx.log.print(summary);
  return { changed: false, summary };
}

export async function syncPowerDns(ctx: OpsContext, opts: PowerDnsSyncOptions = {}): Promise<OpResult> {
  const p = ctx.config.powerdns;
  if (!p) return { changed: false, summary: 'no powerdns section: nothing to do' };
  const live = !ctx.runner.dryRun || !!opts.inspect;
  const api = powerDnsApi(ctx, live, opts.http);
  if (p.external) return checkExternalZone(ctx, api, live);
  ctx.runner.heading(`PowerDNS zone ${fqdn(p.zone)} at ${p.apiUrl}${p.delegation ? `, delegation in ${fqdn(p.delegation.parentZone)} on ${p.delegation.host}` : ''}:`);
  const desired = desiredZoneRRsets(ctx.config);
  const zone = await syncZone(ctx, api, desired, live);
  const delegation = p.delegation ? await syncDelegation(ctx, opts) : { changes: 0, lines: '' };
  if (live) ctx.log.print([zone.lines, delegation.lines].filter(Boolean).join('\n'));
  await verifyByDns(ctx, verificationChecks(ctx, desired), opts);
  const changes = zone.changes + delegation.changes;
  const would = ctx.runner.dryRun ? 'would change' : 'changed';
  const summary = !live
    ? `would ensure ${desired.length} rrset(s) in ${fqdn(p.zone)}${p.delegation ? ' and the delegation' : ''}`
    : changes
      ? `${would} ${zone.changes} in the zone, ${delegation.changes} in the delegation${ctx.runner.dryRun ? '' : '; verified by DNS'}`
      : `no changes (${desired.length} rrset(s)${p.delegation ? ' and the delegation' : ''} in sync${ctx.runner.dryRun ? '' : ', verified by DNS'})`;
  if (live && !ctx.runner.dryRun) ctx.log.print(summary);
  return { changed: changes > 0 && !ctx.runner.dryRun, summary };
}
