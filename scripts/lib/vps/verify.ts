import { X509Certificate } from 'node:crypto';
import type { OpsContext } from '../core/context.ts';
import { waitUntil } from '../core/steps.ts';
import { digArgv, fqdn, parseDig, publicNameserver, sameRecords } from '../powerdns/records.ts';
import { powerDnsApi, type PowerDnsSyncOptions } from '../powerdns/sync.ts';
import { shellLine } from '../ssh/client.ts';

// The chain from the internet to the cluster, checked from here with dig and openssl (read-only but for one TXT
// record it writes to the primary and deletes again):
//
//   1. the parent zone delegates the cluster zone to the VPS's nameserver
//        dig @{delegation.host} -p {delegation.dnsPort} +norecurse … +authority ZONE NS
//   2. the VPS answers the zone with the primary's SOA serial
//        dig @{nameserver.ip} -p {dnsPort} ZONE SOA   vs   dig @{vps.host} -p {vps.dnsPort} ZONE SOA
//   3. a TXT record written to the primary shows up on the VPS (as an ACME challenge does); the time is measured
//        PATCH {zone} _home-ops-verify.ZONE TXT "…" ; dig @{vps.host} … TXT until it answers ; PATCH … DELETE
//   4. a TLS handshake with the VPS for an app's name returns the cluster's certificate (the one the ingress shows)
//        openssl s_client -connect {vps.host}:{listen} -servername APP   vs   -connect {ingress}:{ingressPort}

export interface VerifyOptions {
  /** Server name for the TLS check (default: the first public name, "*" → verify.<zone>). */
  sni?: string;
  timeoutMs?: number;
  intervalMs?: number;
  http?: PowerDnsSyncOptions['http'];
}

export interface VerifyResult {
  lines: string[];
  failed: string[];
  /** Time from writing the TXT record to the primary until the VPS answered it. */
  propagationMs?: number;
}

export function defaultSni(config: OpsContext['config']): string {
  const zone = config.powerdns!.zone.replace(/\.$/, '');
  const name = config.vps!.publicNames.find((n) => n !== '*');
  return name === undefined ? `verify.${zone}` : name === '@' ? zone : `${name}.${zone}`;
}

/** The SOA serial in `dig +answer ZONE SOA` output. */
export function soaSerial(stdout: string): number | undefined {
  const soa = parseDig(stdout).find((l) => l.type === 'SOA');
  const serial = soa?.content.split(/\s+/)[2];
  return serial === undefined ? undefined : Number(serial);
}

export const sClientArgv = (host: string, port: number, sni: string): string[] => ['openssl', 's_client', '-connect', `${host}:${port}`, '-servername', sni];

/** The SHA-256 fingerprint and subject of the first certificate s_client printed. */
export function peerCertificate(stdout: string): { fingerprint: string; subject: string } | undefined {
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
  if (!pem) return undefined;
  const cert = new X509Certificate(pem);
  return { fingerprint: cert.fingerprint256, subject: cert.subject.replace(/\n/g, ', ') };
}

export async function verifyExposure(ctx: OpsContext, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const c = ctx.config;
  const p = c.powerdns!;
  const v = c.vps!;
  const zone = fqdn(p.zone);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const interval = opts.intervalMs ?? 1_000;
  const sni = opts.sni ?? defaultSni(c);
  const ingress = c.network.loadBalancerIps!.ingress!;
  const lines: string[] = [];
  const failed: string[] = [];
  const dig = (server: string, port: number, name: string, type: string, sections: ('answer' | 'authority')[] = ['answer']) => digArgv(server, port, name, type, sections);
  const txtName = `_home-ops-verify.${zone}`;
  const txtValue = `"checked ${new Date().toISOString()}"`;
  const api = powerDnsApi(ctx, !ctx.runner.dryRun, opts.http);
  const delegationArgv = p.delegation && dig(p.delegation.host, p.delegation.dnsPort, zone, 'NS', ['answer', 'authority']);
  const soaPrimary = dig(p.nameserver.ip, p.dnsPort, zone, 'SOA');
  const soaVps = dig(v.host, v.dnsPort, zone, 'SOA');
  const txtVps = dig(v.host, v.dnsPort, txtName, 'TXT');
  const viaVps = sClientArgv(v.host, v.nginx.listen, sni);
  const direct = sClientArgv(ingress, v.nginx.ingressPort, sni);
  if (ctx.runner.dryRun) {
    ctx.runner.heading(`Verify the public path of ${zone} (read-only but for one TXT record):`);
    if (delegationArgv) ctx.runner.planOnly(`? ${shellLine(delegationArgv)}   # NS must be ${fqdn(v.nameserver)}`);
    ctx.runner.planOnly(`? ${shellLine(soaPrimary)}   # serial must equal:`);
    ctx.runner.planOnly(`? ${shellLine(soaVps)}`);
    ctx.runner.planOnly(`PATCH ${api.zoneUrl(zone)} {"rrsets":[{"name":"${txtName}","type":"TXT",…,"changetype":"REPLACE"}]}`);
    ctx.runner.planOnly(`? ${shellLine(txtVps)}   # until it answers (the time is reported); then the record is deleted`);
    ctx.runner.planOnly(`? ${shellLine(viaVps)} < /dev/null   # certificate must equal the ingress's:`);
    ctx.runner.planOnly(`? ${shellLine(direct)} < /dev/null`);
    return { lines: [`would verify delegation, SOA serial, TXT propagation and TLS passthrough for ${sni}`], failed };
  }

  // 1. Delegation.
  if (delegationArgv) {
    const res = await ctx.runner.probe(delegationArgv, { timeoutMs: 10_000 });
    const ns = parseDig(res.stdout).filter((l) => l.type === 'NS' && l.name === zone).map((l) => l.content);
    if (sameRecords('NS', ns, [publicNameserver(c)!.name])) lines.push(`ok   ${fqdn(p.delegation!.parentZone)} delegates ${zone} to ${ns.join(', ')}`);
    else failed.push(`the parent zone on ${p.delegation!.host} delegates ${zone} to [${ns.join(', ') || 'nothing'}], not ${fqdn(v.nameserver)} (task dns:sync)`);
  } else {
    lines.push(`--   no powerdns.delegation: check at your registrar that ${zone} has NS ${fqdn(v.nameserver)} (dig +trace ${zone} NS)`);
  }

  // 2. SOA serial.
  let serials: [number | undefined, number | undefined] = [undefined, undefined];
  const readSerials = async () => {
    const [a, b] = await Promise.all([ctx.runner.probe(soaPrimary, { timeoutMs: 10_000 }), ctx.runner.probe(soaVps, { timeoutMs: 10_000 })]);
    serials = [soaSerial(a.stdout), soaSerial(b.stdout)];
    return serials;
  };
  try {
    await waitUntil(ctx, {
      what: `the VPS to answer ${zone} with the primary's SOA serial`,
      timeoutMs,
      maxIntervalMs: interval,
      check: async () => {
        const [a, b] = await readSerials();
        return { done: a !== undefined && a === b, detail: `primary ${a ?? 'no answer'}, VPS ${b ?? 'no answer'}` };
      },
      hint: `on the VPS: pdnsutil show-zone ${zone}; the primary must allow AXFR from ${v.tailnetIp} and reach it over the tailnet`,
    });
    lines.push(`ok   ${v.host} answers ${zone} with the primary's SOA serial ${serials[0]}`);
  } catch (err) {
    failed.push((err as Error).message.split('\n')[0]!);
  }

  // 3. A TXT record written to the primary, answered by the VPS (what cert-manager's DNS-01 self-check waits for).
  let propagationMs: number | undefined;
  const txtSet = (changetype: 'REPLACE' | 'DELETE') => ({
    rrsets: [{ name: txtName, type: 'TXT', ttl: 60, changetype, ...(changetype === 'REPLACE' ? { records: [{ content: txtValue, disabled: false }] } : {}) }],
  });
  await api.patchZone(zone, txtSet('REPLACE'));
  const written = Date.now();
  try {
    await waitUntil(ctx, {
      what: `the VPS to answer the TXT record ${txtName} written to the primary`,
      timeoutMs,
      maxIntervalMs: Math.min(interval, 250),
      check: async () => {
        const res = await ctx.runner.probe(txtVps, { timeoutMs: 10_000 });
        const seen = parseDig(res.stdout).some((l) => l.type === 'TXT' && l.content === txtValue);
        return { done: seen, detail: seen ? 'answered' : 'not yet' };
      },
      hint: 'NOTIFY must reach the VPS from an address it lists as primary (pdnsutil show-zone on the VPS); without it the VPS only polls at the SOA refresh',
    });
    propagationMs = Date.now() - written;
    lines.push(`ok   a TXT record written to the primary was answered by the VPS after ${(propagationMs / 1000).toFixed(1)} s`);
  } catch (err) {
    failed.push((err as Error).message.split('\n')[0]!);
  } finally {
    await api.patchZone(zone, txtSet('DELETE'));
  }

  // 4. TLS passthrough: the VPS shows the certificate the ingress shows.
  // "Q" on stdin ends s_client right after the handshake (an empty input would leave stdin open).
  const [through, straight] = await Promise.all([ctx.runner.probe(viaVps, { input: 'Q\n', timeoutMs: 15_000 }), ctx.runner.probe(direct, { input: 'Q\n', timeoutMs: 15_000 })]);
  const a = peerCertificate(through.stdout);
  const b = peerCertificate(straight.stdout);
  if (!a) failed.push(`no TLS handshake with ${v.host}:${v.nginx.listen} for ${sni}: ${through.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
  else if (!b) failed.push(`no TLS handshake with the ingress ${ingress}:${v.nginx.ingressPort} for ${sni} (are you on the LAN or the tailnet?): ${straight.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
  else if (a.fingerprint !== b.fingerprint) failed.push(`${v.host}:${v.nginx.listen} answered ${sni} with ${a.subject} (${a.fingerprint}), not the ingress's certificate ${b.subject} (${b.fingerprint})`);
  else lines.push(`ok   ${v.host}:${v.nginx.listen} passes ${sni} through to the ingress: certificate ${a.subject} (SHA-256 ${a.fingerprint.slice(0, 23)}…)`);
  for (const f of failed) lines.push(`FAIL ${f}`);
  return { lines, failed, ...(propagationMs !== undefined ? { propagationMs } : {}) };
}
