import type { ClusterConfig } from '../config/load.ts';
import type { OpsContext } from '../core/context.ts';
import type { PowerDnsApi } from '../powerdns/api.ts';
import { compactJson } from '../powerdns/sync.ts';
import { fqdn } from '../powerdns/records.ts';
import type { RemoteHost } from '../ssh/remote.ts';

// The cluster zone served by the VPS as a secondary of the in-cluster PowerDNS (the primary), over the tailnet.
//
//   Primary (HTTP API of the in-cluster server):
//     PUT {zone}                          {"kind":"Master"}                 a primary sends NOTIFY and serves AXFR
//     PUT {zone}/metadata/ALLOW-AXFR-FROM {"metadata":["<vps.tailnetIp>"]}  AXFR only from the VPS
//     PUT {zone}/metadata/ALSO-NOTIFY     {"metadata":["<vps.tailnetIp>[:port]"]}
//     PUT {zone}/notify                                                     after a change: the VPS transfers now
//   (the server-wide allow-axfr-ips, primary=yes and xfr-cycle-interval are in the Flux tree's powerdns-config.)
//   Secondary (pdnsutil on the VPS, over SSH; vps.pdnsutil is the command prefix):
//     pdnsutil show-zone ZONE                                   kind and primaries, or "No such zone"
//     pdnsutil create-secondary-zone ZONE PRIMARY_IP[:PORT]     when missing
//     pdnsutil change-secondary-zone-primary ZONE PRIMARY       when the primary differs
//     pdnsutil delete-zone ZONE                                 cluster:destroy, only a secondary of this primary

/** ip, or ip:port when the port is not 53 — the form pdnsutil and ALSO-NOTIFY take. */
export const endpoint = (ip: string, port: number): string => (port === 53 ? ip : `${ip}:${port}`);

/** Where the VPS transfers the zone from: the in-cluster server's LoadBalancer address (reached over the tailnet). */
export function primaryEndpoint(config: ClusterConfig): string {
  const p = config.powerdns!;
  return endpoint(p.nameserver.ip, p.dnsPort);
}

/** The primary's transfer settings the config asks for (zone kind and metadata). */
export function desiredTransfer(config: ClusterConfig): { kind: string; metadata: Record<string, string[]> } {
  const v = config.vps!;
  return { kind: 'Master', metadata: { 'ALLOW-AXFR-FROM': [v.tailnetIp], 'ALSO-NOTIFY': [endpoint(v.tailnetIp, v.dnsPort)] } };
}

export const showZoneArgv = (prefix: string[], zone: string): string[] => [...prefix, 'show-zone', zone.replace(/\.$/, '')];
export const createSecondaryArgv = (prefix: string[], zone: string, primary: string): string[] => [...prefix, 'create-secondary-zone', zone.replace(/\.$/, ''), primary];
export const deleteZoneArgv = (prefix: string[], zone: string): string[] => [...prefix, 'delete-zone', zone.replace(/\.$/, '')];
export const changePrimaryArgv = (prefix: string[], zone: string, primary: string): string[] => [...prefix, 'change-secondary-zone-primary', zone.replace(/\.$/, ''), primary];

export type ShownZone = { exists: false } | { exists: true; kind: string; primaries: string[] };

/**
 * `pdnsutil show-zone` (PowerDNS 4.7–4.9): "This is a Slave zone" / "This is a Native zone", then for secondaries
 * "Primary: 10.0.10.200:53 " ("Primaries:" when several; "Master(s):" before 4.5). A missing zone exits 1 with "No such zone in the database".
 */
export function parseShowZone(res: { ok: boolean; stdout: string; stderr: string }): ShownZone | undefined {
  const text = `${res.stdout}\n${res.stderr}`;
  if (!res.ok) return /No such zone/i.test(text) ? { exists: false } : undefined;
  const kind = /This is an? (\w+) zone/i.exec(text)?.[1];
  if (!kind) return undefined;
  const primaries = (/^(?:Primaries|Primary|Masters|Master):\s*(.*)$/m.exec(text)?.[1] ?? '').split(/[\s,]+/).filter(Boolean);
  return { exists: true, kind, primaries };
}

const withPort = (e: string) => (/:\d+$/.test(e) ? e : `${e}:53`);
const isSecondaryKind = (kind: string) => /^(slave|secondary)$/i.test(kind);

/** What the VPS must run so that it holds the zone as a secondary of `primary`; a non-secondary zone is an error. */
export function secondaryCommands(prefix: string[], zone: string, primary: string, shown: ShownZone, host: string): string[][] {
  if (!shown.exists) return [createSecondaryArgv(prefix, zone, primary)];
  if (!isSecondaryKind(shown.kind)) {
    throw new Error(
      `${fqdn(zone)} exists on ${host} as a ${shown.kind} zone, not a secondary; the VPS must serve the cluster's copy. ` +
        `Delete its own copy there once (pdnsutil delete-zone ${zone.replace(/\.$/, '')}) and run again`,
    );
  }
  const same = shown.primaries.length === 1 && withPort(shown.primaries[0]!) === withPort(primary);
  return same ? [] : [changePrimaryArgv(prefix, zone, primary)];
}

/** Is the zone this cluster's secondary (a secondary transferring from `primary` alone)? */
export function isOurSecondary(shown: ShownZone, primary: string): boolean {
  return shown.exists && isSecondaryKind(shown.kind) && shown.primaries.length === 1 && withPort(shown.primaries[0]!) === withPort(primary);
}

/** The primary's kind and transfer metadata; returns how many settings changed (or would). */
export async function ensurePrimaryTransfer(ctx: OpsContext, api: PowerDnsApi, live: boolean): Promise<{ changes: number; lines: string[] }> {
  const zone = fqdn(ctx.config.powerdns!.zone);
  const want = desiredTransfer(ctx.config);
  if (!live) {
    ctx.runner.planOnly(`PUT ${api.zoneUrl(zone)} ${compactJson({ kind: want.kind })}   # only if the kind differs`);
    for (const [kind, values] of Object.entries(want.metadata)) ctx.runner.planOnly(`PUT ${api.metadataUrl(zone, kind)} ${compactJson({ kind, metadata: values })}   # only if it differs`);
    return { changes: 0, lines: [`primary ${zone}: would be kind ${want.kind} with ${Object.keys(want.metadata).join(', ')}`] };
  }
  const lines: string[] = [];
  let changes = 0;
  const zoneNow = await api.getZone(zone);
  // A plan against a server that does not have the zone yet: the sync before this creates it as a primary.
  const kind = zoneNow?.kind ?? (ctx.runner.dryRun ? want.kind : undefined);
  if (!kind) throw new Error(`zone ${zone} is missing on ${ctx.config.powerdns!.apiUrl} after the sync`);
  if (kind.toLowerCase() !== want.kind.toLowerCase() && !/^primary$/i.test(kind)) {
    changes++;
    lines.push(`  ~ kind ${kind} → ${want.kind}`);
    if (!ctx.runner.planOnly(`PUT ${api.zoneUrl(zone)} ${compactJson({ kind: want.kind })}`)) await api.putZone(zone, { kind: want.kind });
  }
  for (const [meta, values] of Object.entries(want.metadata)) {
    const have = zoneNow ? await api.getMetadata(zone, meta) : [];
    if ([...have].sort().join(',') === [...values].sort().join(',')) continue;
    changes++;
    lines.push(`  ~ ${meta} [${have.join(', ')}] → [${values.join(', ')}]`);
    if (!ctx.runner.planOnly(`PUT ${api.metadataUrl(zone, meta)} ${compactJson({ kind: meta, metadata: values })}`)) await api.putMetadata(zone, meta, values);
  }
  return { changes, lines: [`primary ${zone}: ${changes ? `${changes} change(s)` : 'no changes'} (AXFR only from ${ctx.config.vps!.tailnetIp})`, ...lines] };
}

/** The zone on the VPS as a secondary of the in-cluster server. */
export async function ensureSecondaryZone(ctx: OpsContext, host: RemoteHost): Promise<{ changes: number; lines: string[] }> {
  const v = ctx.config.vps!;
  const zone = ctx.config.powerdns!.zone;
  const primary = primaryEndpoint(ctx.config);
  const res = await host.read(showZoneArgv(v.pdnsutil, zone), { check: false, hint: 'is PowerDNS installed on the VPS? check vps.pdnsutil' });
  if (!res) {
    host.note(`create the secondary zone when missing, else point it at ${primary}:`);
    await host.change(createSecondaryArgv(v.pdnsutil, zone, primary));
    return { changes: 0, lines: [`secondary ${fqdn(zone)} on ${v.host}: would ensure it transfers from ${primary}`] };
  }
  const shown = parseShowZone(res);
  if (!shown) throw new Error(`cannot read zone ${zone} on ${v.host} with ${v.pdnsutil.join(' ')} show-zone (exit ${res.exitCode}): ${(res.stderr || res.stdout).trim().slice(0, 300)}`);
  const commands = secondaryCommands(v.pdnsutil, zone, primary, shown, v.host);
  for (const argv of commands) await host.change(argv);
  const what = !shown.exists ? `created, transfers from ${primary}` : commands.length ? `primary ${shown.primaries.join(' ')} → ${primary}` : `no changes (transfers from ${primary})`;
  return { changes: commands.length, lines: [`secondary ${fqdn(zone)} on ${v.host}: ${commands.length && ctx.runner.dryRun ? 'would be ' : ''}${what}`] };
}

/** Deletes the zone on the VPS when it is this cluster's secondary; any other zone of that name is left alone. */
export async function removeSecondaryZone(ctx: OpsContext, host: RemoteHost): Promise<{ changes: number; lines: string[] }> {
  const v = ctx.config.vps!;
  const zone = ctx.config.powerdns!.zone;
  const primary = primaryEndpoint(ctx.config);
  const res = await host.read(showZoneArgv(v.pdnsutil, zone), { check: false, hint: 'is PowerDNS installed on the VPS? check vps.pdnsutil' });
  if (!res) {
    host.note(`only when ${fqdn(zone)} there is a secondary transferring from ${primary}:`);
    await host.change(deleteZoneArgv(v.pdnsutil, zone));
    return { changes: 0, lines: [`secondary ${fqdn(zone)} on ${v.host}: would be deleted if it transfers from ${primary}`] };
  }
  const shown = parseShowZone(res);
  if (!shown) throw new Error(`cannot read zone ${zone} on ${v.host} with ${v.pdnsutil.join(' ')} show-zone (exit ${res.exitCode}): ${(res.stderr || res.stdout).trim().slice(0, 300)}`);
  if (!shown.exists) return { changes: 0, lines: [`secondary ${fqdn(zone)} on ${v.host}: not there (nothing to delete)`] };
  if (!isOurSecondary(shown, primary)) {
    const from = shown.primaries.length ? ` from ${shown.primaries.join(' ')}` : '';
    return { changes: 0, lines: [`secondary ${fqdn(zone)} on ${v.host}: a ${shown.kind} zone${from}, not this cluster's secondary of ${primary}: left as it is`] };
  }
  await host.change(deleteZoneArgv(v.pdnsutil, zone));
  return { changes: 1, lines: [`secondary ${fqdn(zone)} on ${v.host}: ${ctx.runner.dryRun ? 'would be deleted' : 'deleted'} (transferred from ${primary})`] };
}
