import ipaddr from 'ipaddr.js';
import type { ClusterConfig } from '../config/load.ts';

// PowerDNS records: what the config asks for, what the server has, the difference, and the commands/requests that
// close it — pure functions (tool-facts.md §5; pdnsutil/dig output shapes verified against PowerDNS 4.7 and dig 9.18).
//
//   desiredZoneRRsets(config)          the in-cluster zone: config records + apex NS + in-zone glue for the nameserver
//   desiredDelegation(config)          the parent zone (VPS): child NS + glue when the nameserver is inside the parent
//   canonicalContent(type, content)    the form PowerDNS stores and returns (trailing dots, quoted TXT, compact IPv6)
//   diffRRsets(desired, current)       create / replace / unchanged, per name+type; other records are never touched
//   patchBody(changes)                 {"rrsets":[{…, "changetype":"REPLACE"}]} for PATCH /zones/{zone}
//   parseListZone(stdout)              `pdnsutil list-zone ZONE` → rrsets
//   pdnsutil argv: listZoneArgv, replaceRRsetArgv (name relative to the zone), increaseSerialArgv
//   digArgv / parseDig                 verification by DNS query

export interface RRset {
  /** Fully qualified, lower case, with the trailing dot. */
  name: string;
  type: string;
  ttl: number;
  /** Canonical contents, sorted. */
  records: string[];
}

export interface CurrentRRset extends RRset {
  /** Some record of the set is disabled (counts as a difference). */
  disabled?: boolean;
}

export const fqdn = (name: string): string => (name.endsWith('.') ? name : `${name}.`).toLowerCase();

function quoteTxt(s: string): string {
  return s.startsWith('"') ? s : `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function canonicalContent(type: string, content: string): string {
  const c = content.trim();
  switch (type) {
    case 'AAAA':
      try {
        return ipaddr.IPv6.parse(c).toString();
      } catch {
        return c;
      }
    case 'CNAME':
    case 'NS':
    case 'PTR':
    case 'DNAME':
      return fqdn(c);
    case 'MX': {
      const [prio, target] = c.split(/\s+/);
      return target ? `${prio} ${fqdn(target)}` : c;
    }
    case 'SRV': {
      const parts = c.split(/\s+/);
      if (parts.length !== 4) return c;
      return `${parts[0]} ${parts[1]} ${parts[2]} ${fqdn(parts[3]!)}`;
    }
    case 'TXT':
      return quoteTxt(c);
    case 'CAA': {
      const m = /^(\d+)\s+(\S+)\s+(.*)$/.exec(c);
      return m ? `${m[1]} ${m[2]} ${quoteTxt(m[3]!)}` : c;
    }
    default:
      return c;
  }
}

const sortUnique = (xs: string[]) => [...new Set(xs)].sort();

/** Whether `contents` (in the form a server shows them) are exactly the rrset's records, in any order, duplicates aside. */
export function sameRecords(type: string, contents: string[], want: readonly string[]): boolean {
  const got = sortUnique(contents.map((c) => canonicalContent(type, c)));
  return got.length === want.length && got.every((c, i) => c === want[i]);
}

/** A zone-file line as pdnsutil list-zone and dig print it: "name ttl IN type content". */
export interface ZoneLine {
  name: string;
  ttl: number;
  type: string;
  content: string;
}

function parseZoneLine(line: string): ZoneLine | undefined {
  const m = /^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/.exec(line.trim());
  return m ? { name: fqdn(m[1]!), ttl: Number(m[2]), type: m[3]!, content: m[4]!.trim() } : undefined;
}

export function rrset(name: string, type: string, ttl: number, contents: string[]): RRset {
  return { name: fqdn(name), type: type.toUpperCase(), ttl, records: sortUnique(contents.map((c) => canonicalContent(type.toUpperCase(), c))) };
}

/** True when `name` is `zone` or below it (both FQDN or not). */
export function inZone(name: string, zone: string): boolean {
  const n = fqdn(name);
  const z = fqdn(zone);
  return n === z || n.endsWith(`.${z}`);
}

export function nsTtl(config: ClusterConfig): number {
  return config.powerdns?.delegation?.ttl ?? 3600;
}

/**
 * The nameserver the world is told about: with a `vps` section the VPS's public name and address (it serves the zone
 * as a secondary), else the in-cluster server itself.
 */
export function publicNameserver(config: ClusterConfig): { name: string; ip: string } | undefined {
  const p = config.powerdns;
  if (!p) return undefined;
  return config.vps ? { name: fqdn(config.vps.nameserver), ip: config.vps.publicIp } : { name: fqdn(p.nameserver.name), ip: p.nameserver.ip };
}

/** The public names (vps.publicNames) as FQDNs of the zone ("*" → "*.zone.", "@" → "zone."). */
export function publicNames(config: ClusterConfig): string[] {
  const p = config.powerdns;
  if (!p || !config.vps) return [];
  const zone = fqdn(p.zone);
  return config.vps.publicNames.map((n) => (n === '@' ? zone : `${n}.${zone}`));
}

/**
 * The in-cluster zone's records: the config's, plus the apex NS and the nameserver's glue, plus (with `vps`) an A
 * record to the VPS's public address for each public name — unless the config sets that name and type itself.
 */
export function desiredZoneRRsets(config: ClusterConfig): RRset[] {
  const p = config.powerdns;
  if (!p) return [];
  const zone = fqdn(p.zone);
  const ns = publicNameserver(config)!;
  const out = p.records.map((r) => rrset(r.name, r.type, r.ttl, r.content));
  const has = (name: string, type: string) => out.some((r) => r.name === name && r.type === type);
  if (!has(zone, 'NS')) out.push(rrset(zone, 'NS', nsTtl(config), [ns.name]));
  if (inZone(ns.name, zone) && !has(ns.name, 'A')) out.push(rrset(ns.name, 'A', nsTtl(config), [ns.ip]));
  for (const name of publicNames(config)) if (!has(name, 'A')) out.push(rrset(name, 'A', 300, [config.vps!.publicIp]));
  return out;
}

/** The parent zone's delegation of the cluster zone: NS, and the nameserver's A record when it lies inside the parent. */
export function desiredDelegation(config: ClusterConfig): RRset[] {
  const p = config.powerdns;
  const d = p?.delegation;
  if (!p || !d) return [];
  const ns = publicNameserver(config)!;
  const out = [rrset(p.zone, 'NS', d.ttl, [ns.name])];
  if (inZone(ns.name, d.parentZone)) out.push(rrset(ns.name, 'A', d.ttl, [ns.ip]));
  return out;
}

/** The kind the in-cluster zone is created with: a primary (sends NOTIFY, serves AXFR) when the VPS is its secondary. */
export function zoneKind(config: ClusterConfig): 'Native' | 'Master' {
  return config.vps ? 'Master' : 'Native';
}

export interface RRsetChange {
  kind: 'create' | 'replace';
  desired: RRset;
  current?: CurrentRRset;
}

export interface RRsetDiff {
  changes: RRsetChange[];
  unchanged: RRset[];
}

export function diffRRsets(desired: RRset[], current: CurrentRRset[]): RRsetDiff {
  const changes: RRsetChange[] = [];
  const unchanged: RRset[] = [];
  for (const want of desired) {
    const have = current.find((c) => fqdn(c.name) === want.name && c.type.toUpperCase() === want.type);
    if (!have) changes.push({ kind: 'create', desired: want });
    else {
      const same = have.ttl === want.ttl && !have.disabled && sameRecords(want.type, have.records, want.records);
      if (same) unchanged.push(want);
      else changes.push({ kind: 'replace', desired: want, current: have });
    }
  }
  return { changes, unchanged };
}

export function formatDiff(diff: RRsetDiff, where: string): string {
  if (!diff.changes.length) return `${where}: no changes (${diff.unchanged.length} rrset(s) in sync)`;
  const lines = [`${where}: ${diff.changes.length} change(s), ${diff.unchanged.length} rrset(s) in sync`];
  for (const c of diff.changes) {
    if (c.kind === 'create') {
      lines.push(`  + ${c.desired.name} ${c.desired.ttl} ${c.desired.type} ${c.desired.records.join(' | ')}`);
    } else {
      lines.push(`  ~ ${c.desired.name} ${c.desired.type}`);
      lines.push(`    - ${c.current!.ttl} ${c.current!.records.join(' | ')}${c.current!.disabled ? ' (disabled)' : ''}`);
      lines.push(`    + ${c.desired.ttl} ${c.desired.records.join(' | ')}`);
    }
  }
  return lines.join('\n');
}

export function patchBody(changes: RRsetChange[]): { rrsets: unknown[] } {
  return {
    rrsets: changes.map((c) => ({
      name: c.desired.name,
      type: c.desired.type,
      ttl: c.desired.ttl,
      changetype: 'REPLACE',
      records: c.desired.records.map((content) => ({ content, disabled: false })),
    })),
  };
}

/** PowerDNS API zone rrsets → CurrentRRset[]. */
export function fromApiRRsets(rrsets: { name: string; type: string; ttl: number; records: { content: string; disabled?: boolean }[] }[]): CurrentRRset[] {
  return rrsets.map((r) => ({
    name: fqdn(r.name),
    type: r.type,
    ttl: r.ttl,
    records: r.records.map((x) => x.content),
    disabled: r.records.some((x) => x.disabled),
  }));
}

// --- pdnsutil (the parent zone on the VPS) -------------------------------------------------------------------------

export const listZoneArgv = (prefix: string[], zone: string): string[] => [...prefix, 'list-zone', zone.replace(/\.$/, '')];
export const increaseSerialArgv = (prefix: string[], zone: string): string[] => [...prefix, 'increase-serial', zone.replace(/\.$/, '')];

/** pdnsutil names records relative to the zone ("@" for the apex). */
export function relativeName(name: string, zone: string): string {
  const n = fqdn(name);
  const z = fqdn(zone);
  if (n === z) return '@';
  if (!n.endsWith(`.${z}`)) throw new Error(`${n} is not inside zone ${z}`);
  return n.slice(0, -(z.length + 1));
}

export function replaceRRsetArgv(prefix: string[], zone: string, r: RRset): string[] {
  return [...prefix, 'replace-rrset', zone.replace(/\.$/, ''), relativeName(r.name, zone), r.type, String(r.ttl), ...r.records];
}

/** `pdnsutil list-zone` prints "$ORIGIN ." then "name\tttl\tIN\ttype\tcontent" (names without the trailing dot). */
export function parseListZone(stdout: string): CurrentRRset[] {
  const sets = new Map<string, CurrentRRset>();
  for (const line of stdout.split('\n')) {
    if (line.startsWith('$')) continue;
    const r = parseZoneLine(line);
    if (!r) continue;
    const key = `${r.name} ${r.type}`;
    const set = sets.get(key) ?? { name: r.name, type: r.type, ttl: r.ttl, records: [] };
    set.records.push(r.content);
    sets.set(key, set);
  }
  return [...sets.values()];
}

// --- verification by DNS ---------------------------------------------------------------------------------------------

export function digArgv(server: string, port: number, name: string, type: string, sections: ('answer' | 'authority' | 'additional')[] = ['answer']): string[] {
  return ['dig', `@${server}`, '-p', String(port), '+norecurse', '+time=2', '+tries=1', '+noall', ...sections.map((s) => `+${s}`), name, type];
}

/** dig's "+noall +answer" lines: "name ttl IN type content". */
export function parseDig(stdout: string): ZoneLine[] {
  return stdout.split('\n').flatMap((line) => parseZoneLine(line) ?? []);
}

/** Whether the answer holds exactly the rrset's records (by name and type). */
export function digMatches(answer: ReturnType<typeof parseDig>, want: RRset): boolean {
  return sameRecords(want.type, answer.filter((a) => a.name === want.name && a.type === want.type).map((a) => a.content), want.records);
}
