import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { closest } from 'fastest-levenshtein';
import { LineCounter, parseDocument, isMap, isScalar, isSeq, visit, type Node as YamlNode, type YAMLError } from 'yaml';
import { z } from 'zod';
import { parse as parseDotenv } from 'dotenv';
import { ClusterConfigSchema, type ParsedConfig } from './schema.ts';
import { checkRules, externalDomain, type ConfigIssue } from './rules.ts';
import { checkMachineRules } from './machine-rules.ts';
import { checkMeshPeers, checkMeshRules, type MeshRemote } from './mesh-rules.ts';
import { registerSecret } from '../core/redact.ts';
import { REPO_ROOT } from '../core/paths.ts';

export const DEFAULT_CONFIG = 'cluster.yaml';
export const EXAMPLE_CONFIG = 'cluster.example.yaml';

/** The config after validation, with every derived default filled in. */
export type ClusterConfig = Omit<ParsedConfig, 'github' | 'proxmox' | 'headscale' | 'powerdns' | 'proxmoxCsi' | 'clusterMesh' | 'backups'> & {
  github: ParsedConfig['github'] & { path: string };
  proxmox: ParsedConfig['proxmox'] & { apiUrl: string };
  headscale?: NonNullable<ParsedConfig['headscale']> & { routes: string[]; nodes: string[] | undefined };
  powerdns?: Omit<NonNullable<ParsedConfig['powerdns']>, 'records' | 'apiUrl' | 'nameserver' | 'apiSourceRanges' | 'external'> & {
    /** With external: that server's API. */
    apiUrl: string;
    /** PowerDNS runs in another cluster; domain: this cluster's host names (default <cluster.name>.<zone>). */
    external?: { apiUrl: string; domain: string };
    apiSourceRanges: string[];
    nameserver: { name: string; ip: string };
    records: { name: string; type: string; content: string[]; ttl: number }[];
  };
  proxmoxCsi?: NonNullable<ParsedConfig['proxmoxCsi']> & { region: string; storage: string };
  /** remotes: the peers read from their configs (empty when the config was parsed without its file). */
  clusterMesh?: NonNullable<ParsedConfig['clusterMesh']> & { remotes: MeshRemote[] };
  backups?: Omit<NonNullable<ParsedConfig['backups']>, 's3'> & { s3: NonNullable<ParsedConfig['backups']>['s3'] & { prefix: string } };
};

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the cluster config:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Which file to read: --config, then CLUSTER_CONFIG, then cluster.yaml, then the shipped example. HOME_OPS_CONFIG_DIR
 * moves where cluster.yaml is looked for (default: the repository root); tests point it at an empty directory so a
 * user's own cluster.yaml does not change what they test.
 */
export function resolveConfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): { path: string; isDefault: boolean } {
  if (explicit) return { path: resolve(explicit), isDefault: false };
  if (env.CLUSTER_CONFIG) return { path: resolve(env.CLUSTER_CONFIG), isDefault: false };
  const own = resolve(env.HOME_OPS_CONFIG_DIR ?? REPO_ROOT, DEFAULT_CONFIG);
  if (existsSync(own)) return { path: own, isDefault: false };
  return { path: resolve(REPO_ROOT, EXAMPLE_CONFIG), isDefault: true };
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

/** Keys the schema allows at `path`, for "did you mean" hints on unknown keys. */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = ClusterConfigSchema;
  for (const p of path) {
    let inner: z.ZodType = schema;
    // unwrap optional/default/prefault wrappers
    for (let i = 0; i < 5; i++) {
      const def = (inner as unknown as { def: { innerType?: z.ZodType; element?: z.ZodType } }).def;
      if (def.innerType) inner = def.innerType;
      else break;
    }
    if (typeof p === 'number') {
      const el = (inner as unknown as { def: { element?: z.ZodType } }).def.element;
      if (!el) return [];
      schema = el;
    } else {
      const shape = (inner as unknown as { shape?: Record<string, z.ZodType> }).shape;
      if (!shape?.[p as string]) return [];
      schema = shape[p as string]!;
    }
  }
  for (let i = 0; i < 5; i++) {
    const def = (schema as unknown as { def: { innerType?: z.ZodType } }).def;
    if (def.innerType) schema = def.innerType;
    else break;
  }
  return Object.keys((schema as unknown as { shape?: Record<string, unknown> }).shape ?? {});
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** "6G", "6 GiB", "512M", "6144Mi" in MiB or GiB; undefined when it is not a size. */
function sizeIn(text: string, unit: 'MiB' | 'GiB'): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT])?(?:i?B?)?\s*$/i.exec(text);
  if (!m) return undefined;
  const mib = Number(m[1]) * { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[(m[2] ?? (unit === 'MiB' ? 'M' : 'G')).toUpperCase() as 'K' | 'M' | 'G' | 'T'];
  const n = unit === 'MiB' ? mib : mib / 1024;
  return Number.isInteger(n) ? n : Math.round(n);
}

/** Sections that moved: an old key gets its new place instead of a "did you mean". Keyed by the dotted path. */
const MOVED: Record<string, string> = {
  databaseBackups:
    'this section moved into backups (one S3 target for etcd, Vault and the databases): move endpointUrl and bucket to backups.s3.endpoint and backups.s3.bucket, schedule (five fields now, e.g. "0 3 * * *") and retention to backups.databases, and delete databaseBackups; the S3 keys come from .env (BACKUP_S3_ACCESS_KEY_ID, BACKUP_S3_SECRET_ACCESS_KEY), no longer from Vault secret/database-backups',
};

function issueMessage(issue: z.core.$ZodIssue, input: unknown, sourceText?: (path: readonly PropertyKey[]) => string | undefined): { path: PropertyKey[]; message: string }[] {
  const path = issue.path;
  const at = pathText(path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const moved = MOVED[pathText([...path, key])];
      if (moved) return { path: [...path, key], message: `${pathText([...path, key])}: ${moved}` };
      const known = knownKeys(path);
      const guess = known.length ? closest(key, known) : undefined;
      const hint = guess ? `; did you mean "${guess}"?` : `; allowed here: ${known.join(', ')}`;
      return { path: [...path, key], message: `${pathText([...path, key])}: unknown key${hint}` };
    });
  }
  let value: unknown = input;
  for (const p of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[p];
  if (issue.code === 'invalid_type' && value === undefined) {
    return [{ path, message: `${at}: is required (expected ${issue.expected}); add it` }];
  }
  if (issue.code === 'invalid_type') {
    const key = String(path[path.length - 1] ?? '');
    if (issue.expected === 'string' && typeof value === 'number') {
      const source = sourceText?.(path) ?? String(value);
      const fix = path[0] === 'versions' ? `quote it and give the patch number, e.g. ${key}: "${/^\d+\.\d+$/.test(source) ? `${source}.1` : source}"` : `quote it: ${key}: "${source}"`;
      return [{ path, message: `${at}: ${source} is a YAML number, not text; ${fix}` }];
    }
    const unit = /(MiB|GiB)$/.exec(key)?.[1];
    if (issue.expected === 'number' && unit && typeof value === 'string') {
      const inUnit = sizeIn(value, unit as 'MiB' | 'GiB');
      return [{ path, message: `${at}: "${value}": the unit is ${unit} (in the key's name); write a plain number${inUnit !== undefined ? `, e.g. ${key}: ${inUnit}` : ''}` }];
    }
    const words = typeof value === 'string' ? /^([^\s:]+)\s+(\S.*)$/.exec(value) : null;
    if (issue.expected === 'object' && words) {
      return [{ path, message: `${at}: expected a mapping, got string "${value}"; \`${value}\` needs a colon: \`${words[1]}: ${words[2]}\`` }];
    }
    return [{ path, message: `${at}: expected ${issue.expected}, got ${describeValue(value)}` }];
  }
  if (issue.code === 'too_small' && issue.origin === 'number') {
    return [{ path, message: `${at}: ${String(value)} is too small; use ${issue.minimum} or more` }];
  }
  if (issue.code === 'too_big' && issue.origin === 'number') {
    return [{ path, message: `${at}: ${String(value)} is too large; use ${issue.maximum} or less` }];
  }
  const shown = typeof value === 'string' ? ` "${value}"` : value !== undefined && typeof value !== 'object' ? ` ${String(value)}` : '';
  return [{ path, message: `${at}:${shown} ${issue.message.replace(/^Invalid input: /, '')}` }];
}

/** file:line:col for a path in the YAML document; the nearest existing ancestor when the key itself is missing. */
function locate(doc: ReturnType<typeof parseDocument>, lc: LineCounter, path: readonly PropertyKey[]): string {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as (string | number)[], true) as YamlNode | undefined;
    let range = node && typeof node === 'object' && 'range' in node ? node.range : undefined;
    // For an unknown key, point at the key, not its value.
    if (n === path.length && n > 0) {
      const parent = doc.getIn(path.slice(0, n - 1) as (string | number)[], true);
      if (isMap(parent)) {
        const pair = parent.items.find((it) => (it.key as { value?: unknown })?.value === path[n - 1]);
        const keyRange = (pair?.key as YamlNode | undefined)?.range;
        if (keyRange) range = keyRange;
      } else if (isSeq(parent) && range === undefined) continue;
    }
    if (range) {
      const { line, col } = lc.linePos(range[0]);
      return `${line}:${col}`;
    }
  }
  return '1:1';
}

export interface LoadOptions {
  /** Explicit file (--config). */
  path?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: ClusterConfig;
  file: string;
  isDefault: boolean;
}

/** Parses, validates and resolves a cluster config; throws ConfigError listing every problem with its line. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const { path: file, isDefault } = resolveConfigPath(opts.path, opts.env);
  // Relative to where the user stands when the file is below it; otherwise the path as it is (never ../../x).
  const rel = relative(process.cwd(), file);
  const shown = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
  if (!existsSync(file)) throw new ConfigError(shown, [`${shown}: file not found; copy ${EXAMPLE_CONFIG} to ${DEFAULT_CONFIG} and edit it`]);
  return { config: parseConfigText(readConfigFile(file, shown), shown, file), file, isDefault };
}

/** The config file's text; a directory or an unreadable file is a config error (exit 3) that names the path. */
export function readConfigFile(file: string, shown: string, read: (file: string) => string = (f) => readFileSync(f, 'utf8')): string {
  if (statSync(file).isDirectory()) {
    throw new ConfigError(shown, [`${shown} is a directory; give the cluster config file, e.g. --config ${join(shown, 'infra.yaml')} or cluster.yaml`]);
  }
  try {
    return read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ConfigError(shown, [`${shown} cannot be read (permission denied); make it readable for this user (chmod u+r ${shown})`]);
    }
    throw new ConfigError(shown, [`${shown} cannot be read: ${(err as Error).message}`]);
  }
}

/** `file`: the config's path, for what is relative to it (clusterMesh.peers, read and checked against this config). */
export function parseConfigText(text: string, shown = DEFAULT_CONFIG, file?: string): ClusterConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    // The first error is the real one; later ones are usually the parser losing its footing after it.
    const first = doc.errors[0]!;
    const pos = first.linePos?.[0];
    const what = plainYamlError(text, first) ?? first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const more = doc.errors.length > 1 ? ` (${doc.errors.length - 1} follow-on error(s) not shown)` : '';
    throw new ConfigError(shown, [`${shown}:${pos ? `${pos.line}:${pos.col}` : '1:1'} malformed YAML: ${what}${more}`]);
  }
  if (doc.contents === null) {
    throw new ConfigError(shown, [`${shown}:1:1 the file is empty (or only comments); copy ${EXAMPLE_CONFIG} to it and edit that`]);
  }
  const input = doc.toJS() ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(shown, [`${shown}:1:1 the top level must be a mapping (cluster:, versions:, network:, …), got ${describeValue(input)}`]);
  }
  const parsed = ClusterConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) =>
      issueMessage(issue, input, (path) => {
        // The value as written (1.30, not the number 1.3).
        const node = doc.getIn(path as (string | number)[], true) as YamlNode | undefined;
        return node?.range ? text.slice(node.range[0], node.range[1]).trim() : undefined;
      }).map((m) => `${shown}:${locate(doc, lc, m.path)} ${m.message}`),
    );
    throw new ConfigError(shown, problems);
  }
  const ruleIssues: ConfigIssue[] = [...checkRules(parsed.data), ...checkMachineRules(parsed.data), ...checkMeshRules(parsed.data)];
  // Peers are read only for a config loaded from its file, and without their own peers (no recursion).
  const mesh = file && !ruleIssues.length ? checkMeshPeers(parsed.data, file, (t, s) => parseConfigText(t, s)) : { issues: [], remotes: [] };
  ruleIssues.push(...mesh.issues);
  if (ruleIssues.length) {
    throw new ConfigError(
      shown,
      ruleIssues.map((i) => `${shown}:${locate(doc, lc, i.path)} ${pathText(i.path)}: ${i.message}`),
    );
  }
  return resolveDefaults(parsed.data, mesh.remotes);
}

/**
 * The YAML parser's error in plain words, for the mistakes people make by hand: a key without its colon, a key given
 * twice. Undefined for the rest (the parser's own message is shown).
 */
function plainYamlError(text: string, err: YAMLError): string | undefined {
  const pos = err.linePos?.[0];
  if (!pos) return undefined;
  if (err.code === 'MULTILINE_IMPLICIT_KEY' || (err.code === 'MISSING_CHAR' && /Implicit map keys/.test(err.message))) {
    const line = (text.split('\n')[pos.line - 1] ?? '').slice(pos.col - 1).replace(/\s+#.*$/, '').trim();
    const words = /^([^\s:]+)\s+(.+)$/.exec(line);
    if (words) return `\`${line}\` needs a colon: \`${words[1]}: ${words[2]}\``;
    if (line) return `\`${line}\` needs a colon and a value: \`${line}: …\``;
    return undefined;
  }
  if (err.code === 'DUPLICATE_KEY') {
    const lc = new LineCounter();
    const loose = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
    let found: string | undefined;
    visit(loose, {
      Map(_, map) {
        if (found) return visit.BREAK;
        const seen = new Map<string, number>();
        for (const pair of map.items) {
          const key = pair.key as YamlNode | null;
          if (!isScalar(key)) continue;
          const name = String(key.value);
          const line = lc.linePos(key.range?.[0] ?? 0).line;
          const before = seen.get(name);
          if (before !== undefined && line === pos.line) {
            found = `\`${name}\` appears twice, lines ${before} and ${line}; keep one`;
            return visit.BREAK;
          }
          if (before === undefined) seen.set(name, line);
        }
        return undefined;
      },
    });
    return found;
  }
  return undefined;
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

function nameserverIp(c: ParsedConfig): string {
  return c.powerdns?.nameserver.ip ?? c.network.loadBalancerIps?.dns ?? '';
}

/** Fills the defaults that depend on other fields. */
export function resolveDefaults(c: ParsedConfig, meshRemotes: MeshRemote[] = []): ClusterConfig {
  const zone = c.powerdns ? c.powerdns.zone.replace(/\.$/, '') : '';
  return {
    ...c,
    // A path or a selector picks the install disk; neither means the VM's first disk.
    nodes: c.nodes.map((n) => (n.installDisk || n.installDiskSelector ? n : { ...n, installDisk: '/dev/sda' })),
    github: { ...c.github, path: c.github.path ?? `kubernetes/clusters/${c.cluster.name}` },
    proxmox: { ...c.proxmox, apiUrl: c.proxmox.apiUrl ?? `https://${c.proxmox.host}:8006/` },
    headscale: c.headscale && {
      ...c.headscale,
      nodes: c.headscale.nodes,
      routes: c.headscale.routes ?? [c.network.nodeCidr, ...(c.network.loadBalancerCidr ? [c.network.loadBalancerCidr] : [])],
    },
    powerdns: c.powerdns && {
      ...c.powerdns,
      zone,
      // One address for the nameserver glue, the API and the pinned Service (checkRules refuses a config with neither).
      apiUrl: c.powerdns.external?.apiUrl ?? c.powerdns.apiUrl ?? `http://${nameserverIp(c)}:8081`,
      external: c.powerdns.external && { apiUrl: c.powerdns.external.apiUrl, domain: externalDomain(c)! },
      apiSourceRanges: c.powerdns.apiSourceRanges ?? [c.network.nodeCidr],
      nameserver: { ip: nameserverIp(c), name: (c.powerdns.nameserver.name ?? `ns1.${zone}`).replace(/\.$/, '') },
      records: c.powerdns.records.map((r) => ({
        ...r,
        name: r.name === '@' ? fqdn(zone) : r.name.endsWith('.') ? r.name : `${r.name}.${zone}.`,
        content: Array.isArray(r.content) ? r.content : [r.content],
      })),
    },
    clusterMesh: c.clusterMesh && { ...c.clusterMesh, remotes: meshRemotes },
    backups: c.backups && { ...c.backups, s3: { ...c.backups.s3, prefix: c.backups.s3.prefix ?? c.cluster.name } },
    proxmoxCsi: c.proxmoxCsi && {
      ...c.proxmoxCsi,
      region: c.proxmoxCsi.region ?? c.cluster.name,
      storage: c.proxmoxCsi.storage ?? c.proxmox.storage,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets (.env): only credentials live there, and only a real run needs them.

export interface SecretRequirement {
  env: string;
  section: string;
  why: string;
}

export function requiredSecrets(c: ClusterConfig): SecretRequirement[] {
  const req: SecretRequirement[] = [
    { env: 'PROXMOX_VE_API_TOKEN', section: 'proxmox', why: 'Terraform creates the VMs with it (form user@realm!tokenid=uuid)' },
    { env: 'GITHUB_TOKEN', section: 'github', why: 'flux bootstrap registers its deploy key with it' },
  ];
  if (c.powerdns) req.push({ env: 'PDNS_API_KEY', section: 'powerdns', why: 'the PowerDNS HTTP API key (X-API-Key)' });
  if (c.backups) {
    req.push({ env: 'BACKUP_S3_ACCESS_KEY_ID', section: 'backups', why: 'the S3 access key the backup jobs and the databases write with' });
    req.push({ env: 'BACKUP_S3_SECRET_ACCESS_KEY', section: 'backups', why: 'the S3 secret key the backup jobs and the databases write with' });
    req.push({ env: 'BACKUP_PASSPHRASE', section: 'backups', why: 'the passphrase the snapshots are encrypted with (keep a copy outside the cluster: restores need it)' });
  }
  if (c.monitoring?.alerts.receiver === 'webhook') {
    req.push({ env: 'ALERT_WEBHOOK_URL', section: 'monitoring', why: 'the URL Alertmanager posts alerts to (sealed into the tree)' });
  }
  if (c.monitoring?.alerts.receiver === 'matrix') {
    req.push({ env: 'ALERT_MATRIX_ACCESS_TOKEN', section: 'monitoring', why: 'the access token of the Matrix account that posts alerts (sealed into the tree)' });
  }
  if (c.headscale) req.push({ env: 'TAILSCALE_AUTHKEY', section: 'headscale', why: 'the pre-auth key the nodes join the tailnet with' });
  return req;
}

export const SECRET_PATTERN = /(TOKEN|KEY|SECRET|PASSWORD|AUTHKEY|WEBHOOK_URL|PASSPHRASE)/;

/**
 * Reads .env (without touching process.env), registers every value as a secret for redaction. The file sits next to
 * cluster.yaml: in the repository root, or in HOME_OPS_CONFIG_DIR when set.
 */
export function loadSecrets(file = resolve(process.env.HOME_OPS_CONFIG_DIR ?? REPO_ROOT, '.env'), env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {};
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && SECRET_PATTERN.test(k)) merged[k] = v;
  Object.assign(merged, fromFile);
  for (const v of Object.values(merged)) registerSecret(v);
  return merged;
}

/** The values .env.example ships with (non-empty ones): a .env that still holds one was copied but not filled in. */
export function examplePlaceholders(file = resolve(REPO_ROOT, '.env.example')): Record<string, string> {
  if (!existsSync(file)) return {};
  return Object.fromEntries(Object.entries(parseDotenv(readFileSync(file))).filter(([, v]) => v.trim() !== ''));
}

/** A value nobody would use for real: the example's own, an all-zero UUID, "changeme", "<…>". */
function isPlaceholder(env: string, value: string, placeholders: Record<string, string>): boolean {
  return value === placeholders[env] || /0{8}-0{4}-0{4}-0{4}-0{12}/.test(value) || /^(changeme|change-me|todo|xxx+|<[^>]*>)$/i.test(value.trim());
}

/** Throws ConfigError naming every missing or placeholder secret and the section that needs it. */
export function checkSecrets(c: ClusterConfig, secrets: Record<string, string>, envFile = '.env', placeholders = examplePlaceholders()): void {
  const problems: string[] = [];
  for (const r of requiredSecrets(c)) {
    const value = secrets[r.env];
    if (!value) problems.push(`${r.env} is missing (needed by section "${r.section}": ${r.why}); add it to ${envFile} — see .env.example`);
    else if (isPlaceholder(r.env, value, placeholders)) {
      problems.push(`${r.env} in ${envFile} is still the placeholder from .env.example (needed by section "${r.section}": ${r.why}); put the real value in`);
    }
  }
  if (problems.length) throw new ConfigError(envFile, problems);
}
