import { existsSync, readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { closest } from 'fastest-levenshtein';
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { parse as parseDotenv } from 'dotenv';
import { ClusterConfigSchema, type ParsedConfig } from './schema.ts';
import { checkRules, type ConfigIssue } from './rules.ts';
import { registerSecret } from '../core/redact.ts';
import { REPO_ROOT } from '../core/paths.ts';

export const DEFAULT_CONFIG = 'cluster.yaml';
export const EXAMPLE_CONFIG = 'cluster.example.yaml';

/** The config after validation, with every derived default filled in. */
export type ClusterConfig = Omit<ParsedConfig, 'github' | 'proxmox' | 'headscale' | 'powerdns' | 'proxmoxCsi' | 'backups'> & {
  github: ParsedConfig['github'] & { path: string };
  proxmox: ParsedConfig['proxmox'] & { apiUrl: string };
  headscale?: NonNullable<ParsedConfig['headscale']> & { routes: string[]; nodes: string[] | undefined };
  powerdns?: Omit<NonNullable<ParsedConfig['powerdns']>, 'records' | 'apiUrl' | 'nameserver' | 'apiSourceRanges'> & {
    apiUrl: string;
    apiSourceRanges: string[];
    nameserver: { name: string; ip: string };
    records: { name: string; type: string; content: string[]; ttl: number }[];
  };
  proxmoxCsi?: NonNullable<ParsedConfig['proxmoxCsi']> & { region: string; storage: string };
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

/** Which file to read: --config, then CLUSTER_CONFIG, then cluster.yaml, then the shipped example. */
export function resolveConfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): { path: string; isDefault: boolean } {
  if (explicit) return { path: resolve(explicit), isDefault: false };
  if (env.CLUSTER_CONFIG) return { path: resolve(env.CLUSTER_CONFIG), isDefault: false };
  const own = resolve(REPO_ROOT, DEFAULT_CONFIG);
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

function issueMessage(issue: z.core.$ZodIssue, input: unknown): { path: PropertyKey[]; message: string }[] {
  const path = issue.path;
  const at = pathText(path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
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
  const shown = relative(process.cwd(), file) || file;
  if (!existsSync(file)) throw new ConfigError(shown, [`file not found; copy ${EXAMPLE_CONFIG} to ${DEFAULT_CONFIG} and edit it`]);
  return { config: parseConfigText(readFileSync(file, 'utf8'), shown), file, isDefault };
}

export function parseConfigText(text: string, shown = DEFAULT_CONFIG): ClusterConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length) {
    // The first error is the real one; later ones are usually the parser losing its footing after it.
    const first = doc.errors[0]!;
    const pos = first.linePos?.[0];
    const what = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const more = doc.errors.length > 1 ? ` (${doc.errors.length - 1} follow-on error(s) not shown)` : '';
    throw new ConfigError(shown, [`${shown}:${pos ? `${pos.line}:${pos.col}` : '1:1'} malformed YAML: ${what}${more}`]);
  }
  const input = doc.toJS() ?? {};
  const parsed = ClusterConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) =>
      issueMessage(issue, input).map((m) => `${shown}:${locate(doc, lc, m.path)} ${m.message}`),
    );
    throw new ConfigError(shown, problems);
  }
  const ruleIssues: ConfigIssue[] = checkRules(parsed.data);
  if (ruleIssues.length) {
    throw new ConfigError(
      shown,
      ruleIssues.map((i) => `${shown}:${locate(doc, lc, i.path)} ${pathText(i.path)}: ${i.message}`),
    );
  }
  return resolveDefaults(parsed.data);
}

function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

function nameserverIp(c: ParsedConfig): string {
  return c.powerdns?.nameserver.ip ?? c.network.loadBalancerIps?.dns ?? '';
}

/** Fills the defaults that depend on other fields. */
export function resolveDefaults(c: ParsedConfig): ClusterConfig {
  const zone = c.powerdns ? c.powerdns.zone.replace(/\.$/, '') : '';
  return {
    ...c,
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
      apiUrl: c.powerdns.apiUrl ?? `http://${nameserverIp(c)}:8081`,
      apiSourceRanges: c.powerdns.apiSourceRanges ?? [c.network.nodeCidr],
      nameserver: { ip: nameserverIp(c), name: (c.powerdns.nameserver.name ?? `ns1.${zone}`).replace(/\.$/, '') },
      records: c.powerdns.records.map((r) => ({
        ...r,
        name: r.name === '@' ? fqdn(zone) : r.name.endsWith('.') ? r.name : `${r.name}.${zone}.`,
        content: Array.isArray(r.content) ? r.content : [r.content],
      })),
    },
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
    req.push({ env: 'BACKUP_S3_ACCESS_KEY_ID', section: 'backups', why: 'the S3 access key the backup jobs write with' });
    req.push({ env: 'BACKUP_S3_SECRET_ACCESS_KEY', section: 'backups', why: 'the S3 secret key the backup jobs write with' });
    req.push({ env: 'BACKUP_PASSPHRASE', section: 'backups', why: 'the passphrase the snapshots are encrypted with (keep a copy outside the cluster: restores need it)' });
  }
  if (c.monitoring?.alerts.receiver === 'webhook') {
    req.push({ env: 'ALERT_WEBHOOK_URL', section: 'monitoring', why: 'the URL Alertmanager posts alerts to (sealed into the tree)' });
  }
  if (c.headscale) req.push({ env: 'TAILSCALE_AUTHKEY', section: 'headscale', why: 'the pre-auth key the nodes join the tailnet with' });
  return req;
}

export const SECRET_PATTERN = /(TOKEN|KEY|SECRET|PASSWORD|AUTHKEY|WEBHOOK_URL|PASSPHRASE)/;

/** Reads .env (without touching process.env), registers every value as a secret for redaction. */
export function loadSecrets(file = resolve(REPO_ROOT, '.env'), env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file)) : {};
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && SECRET_PATTERN.test(k)) merged[k] = v;
  Object.assign(merged, fromFile);
  for (const v of Object.values(merged)) registerSecret(v);
  return merged;
}

/** Throws ConfigError naming every missing secret and the section that needs it. */
export function checkSecrets(c: ClusterConfig, secrets: Record<string, string>, envFile = '.env'): void {
  const missing = requiredSecrets(c).filter((r) => !secrets[r.env]);
  if (missing.length) {
    throw new ConfigError(
      envFile,
      missing.map((m) => `${m.env} is missing (needed by section "${m.section}": ${m.why}); add it to ${envFile} — see .env.example`),
    );
  }
}
