import { createHash } from 'node:crypto';
import { parse as parseYaml, stringify } from 'yaml';
import type { ClusterConfig } from '../config/load.ts';
import { parseJsonList } from '../core/json.ts';

// pveum argv builders, output parsers and the Proxmox CSI plugin's config: pure functions (tool-facts.md §2).
// Every listing uses `--output-format json`; every value goes into argv as its own argument (quoted for the remote
// shell by the SSH layer). The token value is only ever in the stdout of `pveum user token add`.

/** Privileges the Proxmox CSI plugin documents for its role (sergelogvinov/proxmox-csi-plugin docs/install.md). */
export const CSI_PRIVILEGES = ['Datastore.Allocate', 'Datastore.AllocateSpace', 'Datastore.Audit', 'VM.Audit', 'VM.Config.Disk'];

/** The plugin's config Secret (docs/config.md): csi-proxmox/proxmox-csi-plugin, key config.yaml. */
export const CSI_SECRET = { name: 'proxmox-csi-plugin', namespace: 'csi-proxmox', key: 'config.yaml' } as const;
/** Label on the sealed Secret: a hash of the non-secret settings it was made for (url, insecure, token id, region). */
export const SETTINGS_LABEL = 'home-ops/csi-settings';

const JSON_OUT = ['--output-format', 'json'];

export const roleListArgv = (): string[] => ['pveum', 'role', 'list', ...JSON_OUT];
export const roleAddArgv = (role: string, privs: string[]): string[] => ['pveum', 'role', 'add', role, '--privs', privs.join(',')];
/** Replaces the role's privileges (no --append). */
export const roleModifyArgv = (role: string, privs: string[]): string[] => ['pveum', 'role', 'modify', role, '--privs', privs.join(',')];
export const userListArgv = (): string[] => ['pveum', 'user', 'list', ...JSON_OUT];
export const userAddArgv = (user: string, comment: string): string[] => ['pveum', 'user', 'add', user, '--comment', comment];
export const userDeleteArgv = (user: string): string[] => ['pveum', 'user', 'delete', user];
export const aclListArgv = (): string[] => ['pveum', 'acl', 'list', ...JSON_OUT];
export const aclModifyArgv = (path: string, user: string, role: string): string[] => ['pveum', 'acl', 'modify', path, '--users', user, '--roles', role, '--propagate', '1'];
export const aclDeleteArgv = (path: string, user: string, role: string): string[] => ['pveum', 'acl', 'delete', path, '--users', user, '--roles', role];
export const tokenListArgv = (user: string): string[] => ['pveum', 'user', 'token', 'list', user, ...JSON_OUT];
/** privsep 0: the token has the user's privileges (the ACL on the user suffices), as the plugin documents. */
export const tokenAddArgv = (user: string, token: string, comment: string): string[] => [
  'pveum',
  'user',
  'token',
  'add',
  user,
  token,
  '--privsep',
  '0',
  '--comment',
  comment,
  ...JSON_OUT,
];
export const tokenRemoveArgv = (user: string, token: string): string[] => ['pveum', 'user', 'token', 'remove', user, token];

export class PveParseError extends Error {
  override name = 'PveParseError';
}

const jsonList = (stdout: string, what: string) => parseJsonList(stdout, what, PveParseError);

export interface PveRole {
  roleid: string;
  privs: string[];
  special: boolean;
}

export function parseRoles(stdout: string): PveRole[] {
  return jsonList(stdout, 'pveum role list').map((r) => ({
    roleid: String(r.roleid),
    privs: String(r.privs ?? '').split(/[,\s;]+/).filter(Boolean).sort(),
    special: Number(r.special ?? 0) === 1,
  }));
}

export function parseUsers(stdout: string): string[] {
  return jsonList(stdout, 'pveum user list').map((u) => String(u.userid));
}

export interface PveAcl {
  path: string;
  type: string;
  ugid: string;
  roleid: string;
  propagate: boolean;
}

export function parseAcl(stdout: string): PveAcl[] {
  return jsonList(stdout, 'pveum acl list').map((a) => ({
    path: String(a.path),
    type: String(a.type),
    ugid: String(a.ugid),
    roleid: String(a.roleid),
    propagate: Number(a.propagate ?? 1) === 1,
  }));
}

/** The CSI user's role on "/"; `propagating`: only an entry that propagates (the one create makes) counts. */
export function hasCsiAcl(acls: PveAcl[], csi: { user: string; role: string }, propagating = false): boolean {
  return acls.some((a) => a.path === '/' && a.type === 'user' && a.ugid === csi.user && a.roleid === csi.role && (a.propagate || !propagating));
}

export interface PveToken {
  tokenid: string;
  privsep: boolean;
}

export function parseTokens(stdout: string): PveToken[] {
  return jsonList(stdout, 'pveum user token list').map((t) => ({ tokenid: String(t.tokenid), privsep: String(t.privsep ?? '1') !== '0' }));
}

/** `pveum user token add … --output-format json` → { full-tokenid, info, value }. The value is the secret. */
export function parseTokenAdd(stdout: string): { fullTokenId: string; value: string } {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(stdout.trim()) as Record<string, unknown>;
  } catch {
    // Never echo the output: it may hold the token.
    throw new PveParseError('cannot parse the JSON that `pveum user token add` printed');
  }
  const value = data.value;
  const id = data['full-tokenid'];
  if (typeof value !== 'string' || !value || typeof id !== 'string') throw new PveParseError('`pveum user token add` printed no full-tokenid/value');
  return { fullTokenId: id, value };
}

export function samePrivileges(a: string[], b: string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((p, i) => p === y[i]);
}

/** https://host:8006/api2/json from proxmox.apiUrl (which may or may not end in /api2/json). */
export function proxmoxApiUrl(config: ClusterConfig): string {
  const base = config.proxmox.apiUrl.replace(/\/+$/, '');
  return base.endsWith('/api2/json') ? base : `${base}/api2/json`;
}

export interface CsiSettings {
  url: string;
  insecure: boolean;
  tokenId: string;
  region: string;
}

/** The API token id, "user@realm!name". */
export function csiTokenId(csi: { user: string; tokenName: string }): string {
  return `${csi.user}!${csi.tokenName}`;
}

export function csiSettings(config: ClusterConfig): CsiSettings {
  const csi = config.proxmoxCsi;
  if (!csi) throw new Error('the config has no proxmoxCsi section');
  return { url: proxmoxApiUrl(config), insecure: config.proxmox.insecure, tokenId: csiTokenId(csi), region: csi.region };
}

/** 16 hex chars of sha256 over the settings: fits a label value, changes when any setting changes. */
export function settingsHash(s: CsiSettings): string {
  return createHash('sha256').update(JSON.stringify([s.url, s.insecure, s.tokenId, s.region])).digest('hex').slice(0, 16);
}

/** The plugin's config.yaml (docs/config.md): one cluster entry with the token. */
export function csiConfigYaml(s: CsiSettings, tokenSecret: string): string {
  return stringify({ clusters: [{ url: s.url, insecure: s.insecure, token_id: s.tokenId, token_secret: tokenSecret, region: s.region }] });
}

export type SealedState = { state: 'ok' } | { state: 'missing' } | { state: 'stale'; why: string } | { state: 'invalid'; why: string };

/** Whether a sealed Secret file holds the CSI config for these settings (it cannot be decrypted here; the label says). */
export function inspectSealedSecret(text: string | undefined, s: CsiSettings): SealedState {
  if (text === undefined) return { state: 'missing' };
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(text) as Record<string, unknown>;
  } catch (err) {
    return { state: 'invalid', why: `not YAML (${(err as Error).message.split('\n')[0]})` };
  }
  const spec = doc?.spec as { encryptedData?: Record<string, unknown>; template?: { metadata?: { labels?: Record<string, string> } } } | undefined;
  if (doc?.kind !== 'SealedSecret' || !spec?.encryptedData?.[CSI_SECRET.key]) return { state: 'invalid', why: `not a SealedSecret with ${CSI_SECRET.key}` };
  const meta = doc.metadata as { labels?: Record<string, string> } | undefined;
  const label = spec.template?.metadata?.labels?.[SETTINGS_LABEL] ?? meta?.labels?.[SETTINGS_LABEL];
  if (label !== settingsHash(s)) return { state: 'stale', why: 'made for other settings (url, insecure, token id or region changed)' };
  return { state: 'ok' };
}
