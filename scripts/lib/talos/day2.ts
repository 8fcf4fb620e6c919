import { at } from './talosctl.ts';

// talosctl argv builders and output parsers for day-2 operations (reset, etcd snapshot/restore, upgrades, apply,
// diagnosis): small pure functions, no I/O. The bootstrap's builders live in talosctl.ts and are reused as they are;
// this file only adds the commands the bootstrap does not run. Same conventions: a full argv starting with 'talosctl',
// every authenticated command names its endpoint and node explicitly (-e IP -n IP), never the VIP.
//
//   resetArgv(ResetInput)                       talosctl -e IP -n IP reset --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL --graceful=… --reboot --wait=false
//   resetManyArgv(endpoint, ips, …)             talosctl -e EP -n IP1,IP2,IP3 reset …   (one call: apid on EP fans out to all at once)
//   etcdSnapshotArgv(ip, file)                  talosctl -e IP -n IP etcd snapshot FILE
//   etcdStatusArgv(ip)                          talosctl -e IP -n IP etcd status
//   etcdRemoveMemberArgv(ip, memberId)          talosctl -e IP -n IP etcd remove-member ID          (hex member ID, Talos ≥1.7)
//   bootstrapRecoverArgv(ip, snapshot, raw)     talosctl -e IP -n IP bootstrap --recover-from=FILE [--recover-skip-hash-check]
//   servicesArgv(ip)                            talosctl -e IP -n IP service                        (table of every service)
//   versionArgv(ip)                             talosctl -e IP -n IP version                        (client and server versions)
//   bootIdArgv(ip)                              talosctl -e IP -n IP read /proc/sys/kernel/random/boot_id   (changes with every boot)
//   upgradeArgv(ip, image)                      talosctl -e IP -n IP upgrade --image IMG --wait=false
//   upgradeK8sArgv(ip, to, preview)             talosctl -e IP -n IP upgrade-k8s --to V [--dry-run]
//   applyConfigArgv(ApplyInput)                 talosctl -e IP -n IP apply-config --file F --config-patch @P --mode M [--dry-run]
//   installerImage(factoryUrl, schematic, v)    factory.talos.dev/metal-installer/<schematic>:<v>
//
// Parsers:
//   parseEtcdMemberTable(stdout)   `etcd members` → [{ id, hostname, learner }]
//   parseEtcdStatus(stdout)        `etcd status`  → [{ node, member, leader, errors }]
//   parseServiceTable(stdout)      `service`      → [{ node, service, state, health }]
//   parseServerVersion(stdout)     `version`      → the server's Tag ("v1.11.6")
//   parseSnapshotSaved(stdout)     `etcd snapshot` → { file, bytes } from `etcd snapshot saved to "F" (N bytes)`

/**
 * What a reset wipes. 'state-ephemeral': machine config and data, the OS and META (static IP, key 10) stay, the node
 * boots into maintenance mode. 'ephemeral': only /var (etcd data, containers); the machine config stays, the node
 * rejoins as it was. 'all': the whole system disk, META included — the VM keeps no bootable OS unless it boots from
 * the Image Factory ISO.
 */
export type WipeScope = 'state-ephemeral' | 'ephemeral' | 'all';

export interface ResetInput {
  ip: string;
  wipe: WipeScope;
  /** Cordon/drain and leave etcd first. Impossible for the last etcd member and pointless when the whole cluster goes. */
  graceful: boolean;
}

export function resetArgv(r: ResetInput): string[] {
  const wipe =
    r.wipe === 'all'
      ? ['--wipe-mode', 'all']
      : r.wipe === 'ephemeral'
        ? ['--system-labels-to-wipe', 'EPHEMERAL']
        : ['--system-labels-to-wipe', 'STATE', '--system-labels-to-wipe', 'EPHEMERAL'];
  // --reboot: without it the node shuts down and never reaches maintenance mode. --wait=false: we poll ourselves
  // (bounded, with progress), because the node drops the connection mid-reset.
  return [...at(r.ip), 'reset', ...wipe, `--graceful=${r.graceful}`, '--reboot', '--wait=false'];
}

/**
 * One reset call for several nodes, fanned out by apid on `endpoint`: they all start wiping at the same moment. The etcd
 * restore needs that — wiped one by one, a control plane would rejoin the members not wiped yet.
 */
export function resetManyArgv(endpoint: string, ips: string[], r: Omit<ResetInput, 'ip'>): string[] {
  const one = resetArgv({ ...r, ip: endpoint });
  return ['talosctl', '--endpoints', endpoint, '--nodes', ips.join(','), ...one.slice(5)];
}

export function etcdSnapshotArgv(ip: string, file: string): string[] {
  return [...at(ip), 'etcd', 'snapshot', file];
}

export function etcdStatusArgv(ip: string): string[] {
  return [...at(ip), 'etcd', 'status'];
}

export function etcdRemoveMemberArgv(ip: string, memberId: string): string[] {
  return [...at(ip), 'etcd', 'remove-member', memberId];
}

/** `rawCopy`: the snapshot is a copied `member/snap/db` file, which has no integrity hash. */
export function bootstrapRecoverArgv(ip: string, snapshot: string, rawCopy = false): string[] {
  return [...at(ip), 'bootstrap', `--recover-from=${snapshot}`, ...(rawCopy ? ['--recover-skip-hash-check'] : [])];
}

export function servicesArgv(ip: string): string[] {
  return [...at(ip), 'service'];
}

export function versionArgv(ip: string): string[] {
  return [...at(ip), 'version'];
}

/** A new UUID after every boot: proof that a node really rebooted (an upgrade to the same version changes no version). */
export function bootIdArgv(ip: string): string[] {
  return [...at(ip), 'read', '/proc/sys/kernel/random/boot_id'];
}

export function upgradeArgv(ip: string, image: string): string[] {
  return [...at(ip), 'upgrade', '--image', image, '--wait=false'];
}

export function upgradeK8sArgv(ip: string, to: string, preview = false): string[] {
  return [...at(ip), 'upgrade-k8s', '--to', to, ...(preview ? ['--dry-run'] : [])];
}

export type ApplyMode = 'auto' | 'no-reboot' | 'reboot' | 'staged' | 'try';

export interface ApplyInput {
  ip: string;
  file: string;
  /** Node patch (talos/generated/<cluster>/nodes/<node>.yaml), applied on top of the role's machine config. */
  patch?: string;
  mode: ApplyMode;
  /** talosctl's own --dry-run: shows the config diff and what the node would do; changes nothing. */
  preview?: boolean;
}

export function applyConfigArgv(a: ApplyInput): string[] {
  return [
    ...at(a.ip), 'apply-config',
    '--file', a.file,
    ...(a.patch ? ['--config-patch', `@${a.patch}`] : []),
    '--mode', a.mode,
    ...(a.preview ? ['--dry-run'] : []),
  ];
}

/**
 * The installer image of a node, built from the config's Talos version and the schematic Terraform registered — never
 * read from a running node (which may run the image we are trying to leave).
 */
export function installerImage(factoryUrl: string, schematicId: string, talosVersion: string, platform = 'metal'): string {
  if (!/^[0-9a-f]{64}$/.test(schematicId)) throw new Error(`not an Image Factory schematic id: ${JSON.stringify(schematicId)}`);
  if (!/^v\d+\.\d+\.\d+/.test(talosVersion)) throw new Error(`not a Talos version: ${JSON.stringify(talosVersion)}`);
  const host = new URL(factoryUrl).host;
  return `${host}/${platform}-installer/${schematicId}:${talosVersion}`;
}

/** The tag of an installer image reference ("…:v1.11.6" → "v1.11.6"). */
export function imageTag(image: string): string | undefined {
  const m = /:([^/:@]+)$/.exec(image);
  return m?.[1];
}

// ---------------------------------------------------------------------------------------------------------------
// Parsers

/** Splits a tabwriter table (two or more spaces or tabs between columns) into header names and rows. */
function table(stdout: string): { header: string[]; rows: string[][] } {
  const lines = stdout.split('\n').filter((l) => l.trim());
  const split = (l: string) => l.trim().split(/\t+|\s{2,}/).map((c) => c.trim());
  const [first, ...rest] = lines;
  if (!first) return { header: [], rows: [] };
  return { header: split(first), rows: rest.map(split) };
}

export interface EtcdMember {
  id: string;
  hostname: string;
  learner: boolean;
}

/**
 * `talosctl etcd members`: `NODE  ID  HOSTNAME  PEER URLS  CLIENT URLS  LEARNER` (NODE only through apid). Columns
 * are located by header name; the URL columns may hold commas but no spaces.
 */
export function parseEtcdMemberTable(stdout: string): EtcdMember[] {
  const lines = stdout.split('\n').filter((l) => l.trim());
  const headerAt = lines.findIndex((l) => /\bHOSTNAME\b/.test(l) && /\bID\b/.test(l));
  if (headerAt < 0) return [];
  const header = lines[headerAt]!.trim().split(/\t+|\s{2,}/);
  const idCol = header.indexOf('ID');
  const hostCol = header.indexOf('HOSTNAME');
  const learnerCol = header.indexOf('LEARNER');
  return lines.slice(headerAt + 1).flatMap((l) => {
    const cells = l.trim().split(/\s+/);
    const id = cells[idCol];
    const hostname = cells[hostCol];
    if (!id || !hostname) return [];
    return [{ id, hostname, learner: learnerCol >= 0 && cells[learnerCol] === 'true' }];
  });
}

export interface EtcdStatusRow {
  node?: string;
  member: string;
  leader: string;
  /** The ERRORS column (empty when healthy). */
  errors: string;
}

/**
 * Cells of a tabwriter table by the header's column offsets: tabwriter pads every column to the width of its widest
 * cell, so a header name starts where its column starts — cells with single spaces ("4.5 MB (100.00%)") stay whole.
 */
function columns(lines: string[], headerAt: number): Record<string, string>[] {
  const header = lines[headerAt]!;
  const starts: { name: string; at: number }[] = [];
  const re = /\S+(?: \S+)*/g;
  for (let m = re.exec(header); m; m = re.exec(header)) starts.push({ name: m[0], at: m.index });
  return lines.slice(headerAt + 1).map((line) =>
    Object.fromEntries(starts.map((c, i) => [c.name, line.slice(c.at, starts[i + 1]?.at ?? line.length).trim()])),
  );
}

/**
 * `talosctl etcd status`: `NODE  MEMBER  DB SIZE  IN USE  LEADER  RAFT INDEX  RAFT TERM  RAFT APPLIED INDEX  LEARNER
 * [PROTOCOL  STORAGE]  ERRORS` (PROTOCOL/STORAGE since 1.11; NODE only through apid).
 */
export function parseEtcdStatus(stdout: string): EtcdStatusRow[] {
  const lines = stdout.split('\n').filter((l) => l.trim());
  const headerAt = lines.findIndex((l) => /\bMEMBER\b/.test(l) && /\bLEADER\b/.test(l));
  if (headerAt < 0) return [];
  return columns(lines, headerAt).map((r) => ({
    ...(r.NODE ? { node: r.NODE } : {}),
    member: r.MEMBER ?? '',
    leader: r.LEADER ?? '',
    errors: r.ERRORS ?? '',
  }));
}

export interface ServiceRow {
  node?: string;
  service: string;
  state: string;
  health: string;
}

/** `talosctl service`: `NODE  SERVICE  STATE  HEALTH  LAST CHANGE  LAST EVENT` (NODE only through apid). */
export function parseServiceTable(stdout: string): ServiceRow[] {
  const { header, rows } = table(stdout);
  const col = (name: string) => header.indexOf(name);
  const [node, service, state, health] = [col('NODE'), col('SERVICE'), col('STATE'), col('HEALTH')];
  if (service < 0 || state < 0) return [];
  return rows
    .filter((r) => r[service])
    .map((r) => ({
      ...(node >= 0 && r[node] ? { node: r[node] } : {}),
      service: r[service]!,
      state: r[state] ?? '',
      health: health >= 0 ? (r[health] ?? '') : '',
    }));
}

/** `talosctl version` prints a Client: block and, per node, a Server: block with `Tag:`; the first server tag. */
export function parseServerVersion(stdout: string): string | undefined {
  const server = stdout.split(/^Server:\s*$/m)[1];
  return server ? /^\s*Tag:\s*(\S+)/m.exec(server)?.[1] : undefined;
}

/** `etcd snapshot saved to "db.snapshot" (2015264 bytes)`. */
export function parseSnapshotSaved(stdout: string): { file: string; bytes: number } | undefined {
  const m = /etcd snapshot saved to "([^"]+)" \((\d+) bytes\)/.exec(stdout);
  return m ? { file: m[1]!, bytes: Number(m[2]) } : undefined;
}
