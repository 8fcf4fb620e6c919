import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml, parseDocument, type CollectionTag, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml';
import { ksDeps, type AppliedObject, type ClusterTree } from './flux.ts';
import { describe, namespaceOf, type Finding, type K8sObject } from './model.ts';
import { ajvMessage } from './schemas.ts';

// Single sign-on wiring, checked offline from the Flux tree after substitution: the Authentik side (the blueprints
// the authentik HelmRelease mounts, the environment its pods get from External Secrets) against each app's OIDC
// client (Gitea's OAuth2 source, Grafana's generic OAuth, Harbor's OIDC settings, Synapse's oidc_providers, Vault's
// OIDC auth method as its configure Job writes it). For every client: a provider with the same client id and the
// application slug the app's issuer names; redirect URIs that are the app's real callbacks; both ends reading the
// client secret from the same Vault key; every group the app maps to a role declared in a blueprint. Blueprints are
// validated against Authentik's published blueprint schema (vendored subset), with Authentik's YAML tags (!Env,
// !Find, !KeyOf, …) parsed as references: their values are only known when Authentik applies the blueprint, so the
// schema checks the rest, and !KeyOf must name an entry id of the same blueprint.

export const BLUEPRINT_SCHEMA = 'schemas/goauthentik.io/blueprint.json';

/** A value Authentik resolves when it applies the blueprint. */
export class BlueprintTag {
  constructor(
    readonly tag: string,
    readonly args: unknown,
  ) {}
}

// goauthentik/authentik blueprints/v1/tags.py (2025.x): every tag the blueprint loader registers.
const TAGS = ['!KeyOf', '!Env', '!Find', '!FindObject', '!Context', '!Format', '!If', '!Condition', '!Enumerate', '!Index', '!Value', '!AtIndex', '!ParseJSON', '!File'];
const customTags = TAGS.flatMap((tag): (ScalarTag | CollectionTag)[] => [
  { tag, resolve: (s: string) => new BlueprintTag(tag, s) },
  { tag, collection: 'seq', resolve: (node: YAMLSeq.Parsed | YAMLMap.Parsed) => new BlueprintTag(tag, node.toJSON()) },
  { tag, collection: 'map', resolve: (node: YAMLSeq.Parsed | YAMLMap.Parsed) => new BlueprintTag(tag, node.toJSON()) },
]);

export interface Blueprint {
  /** "ConfigMap authentik/authentik-blueprints: gitea.yaml" */
  where: string;
  file?: string;
  object: string;
  doc: Record<string, unknown> | undefined;
  problems: string[];
}

/** Parses one blueprint file with Authentik's tags; unknown tags and YAML errors are problems. */
export function parseBlueprint(text: string): { doc: Record<string, unknown> | undefined; problems: string[] } {
  const d = parseDocument(text, { customTags });
  const problems = [...d.errors, ...d.warnings].map((e) => e.message.split('\n')[0]!);
  const doc = d.errors.length ? undefined : (d.toJS() as unknown);
  if (doc !== undefined && (typeof doc !== 'object' || doc === null || Array.isArray(doc))) return { doc: undefined, problems: [...problems, 'is not a YAML mapping'] };
  return { doc: doc as Record<string, unknown> | undefined, problems };
}

/** The blueprint with tagged values left out (keys dropped, list items removed): what the schema can judge offline. */
export function withoutTags(v: unknown): unknown {
  if (v instanceof BlueprintTag) return undefined;
  if (Array.isArray(v)) return v.filter((x) => !(x instanceof BlueprintTag)).map(withoutTags);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([, x]) => !(x instanceof BlueprintTag)).map(([k, x]) => [k, withoutTags(x)]));
  return v;
}

interface BlueprintValidators {
  /** The document with its entries left out (version, metadata, context). */
  top: ValidateFunction;
  /** One validator per model: the blueprint_entry alternative whose model is that const. */
  entries: Map<string, ValidateFunction>;
}
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const validators = new Map<string, BlueprintValidators | null>();

function blueprintValidators(file: string): BlueprintValidators | null {
  if (validators.has(file)) return validators.get(file)!;
  let v: BlueprintValidators | null = null;
  if (existsSync(file)) {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as Obj & { $defs?: Obj };
    const defs = rec(schema.$defs);
    const entries = new Map<string, ValidateFunction>();
    for (const alt of arr(rec(defs.blueprint_entry).oneOf).map(rec)) {
      const model = str(rec(rec(alt.properties).model).const);
      if (model) entries.set(model, ajv.compile({ ...alt, $defs: defs }));
    }
    v = { top: ajv.compile(schema), entries };
  }
  validators.set(file, v);
  return v;
}

/**
 * Schema problems of one blueprint, each naming the entry (index and model) it is about. Each entry is checked
 * against the schema's alternative for its model (the schema's oneOf would report every alternative's complaints).
 */
export function blueprintSchemaProblems(doc: Record<string, unknown>, root: string): string[] {
  const v = blueprintValidators(join(root, BLUEPRINT_SCHEMA));
  if (!v) return [`no ${BLUEPRINT_SCHEMA}: vendor Authentik's blueprint schema (schemas/README.md)`];
  const plain = rec(withoutTags(doc));
  const out: string[] = [];
  const entries = Array.isArray(plain.entries) ? plain.entries : undefined;
  if (!v.top({ ...plain, ...(entries ? { entries: [] } : {}) })) out.push(...(v.top.errors ?? []).map((e) => ajvMessage(e)));
  for (const [i, e] of (entries ?? []).entries()) {
    const model = str(rec(e).model);
    const fn = model ? v.entries.get(model) : undefined;
    if (!fn) {
      out.push(`entries[${i}]: model "${model ?? ''}" is not an Authentik model (not in ${BLUEPRINT_SCHEMA})`);
      continue;
    }
    if (!fn(e)) out.push(...(fn.errors ?? []).map((x) => `entries[${i}] (${model}): ${ajvMessage(x)}`));
  }
  return out;
}

// --- External Secrets: what a Secret will hold, with each value traced to its Vault key ---------------------------

/** "@vault(key#property)": the text a traced template value becomes. */
export function vaultMarker(key: string, property?: string): string {
  return `@vault(${key}${property ? `#${property}` : ''})`;
}
const MARKER = /^@vault\(([^)]+)\)$/;

type Obj = Record<string, unknown>;
const rec = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The keys of the Secret an ExternalSecret writes, with External Secrets' template (Go text/template) reduced to what
 * matters here: `{{ .name }}` / `{{ index . "name" }}` become the Vault marker of that data entry, `{{ "literal" }}`
 * its literal.
 */
export function externalSecretData(es: K8sObject): Record<string, string> {
  const s = rec(es.spec);
  const refs = new Map<string, string>();
  for (const d of arr(s.data)) {
    const r = rec(rec(d).remoteRef);
    const name = str(rec(d).secretKey);
    if (name && str(r.key)) refs.set(name, vaultMarker(str(r.key)!, str(r.property)));
  }
  const template = rec(rec(rec(s.target).template).data);
  if (!Object.keys(template).length) return Object.fromEntries(refs);
  const render = (t: string) =>
    t
      .replace(/\{\{-?\s*"((?:[^"\\]|\\.)*)"\s*-?\}\}/g, (_, lit: string) => lit.replace(/\\(.)/g, '$1'))
      .replace(/\{\{-?\s*(?:index\s+\.\s+"([^"]+)"|\.([A-Za-z_][A-Za-z0-9_]*))\s*-?\}\}/g, (whole, a?: string, b?: string) => refs.get((a ?? b)!) ?? whole);
  return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, render(String(v))]));
}

function isExternalSecret(o: K8sObject): boolean {
  return o.kind === 'ExternalSecret' && typeof o.apiVersion === 'string' && o.apiVersion.startsWith('external-secrets.io/');
}

class TreeIndex {
  constructor(readonly tree: ClusterTree) {}
  /** What Secret namespace/name will hold, when an ExternalSecret of the tree writes it. */
  secret(ns: string, name: string): { data: Record<string, string>; by: AppliedObject } | undefined {
    const by = this.tree.objects.find((a) => isExternalSecret(a.obj) && namespaceOf(a.obj) === ns && (str(rec(rec(a.obj.spec).target).name) ?? a.obj.metadata?.name) === name);
    return by ? { data: externalSecretData(by.obj), by } : undefined;
  }
  find(kind: string, ns: string, name: string): AppliedObject | undefined {
    return this.tree.objects.find((a) => a.obj.kind === kind && namespaceOf(a.obj) === ns && a.obj.metadata?.name === name);
  }
}

// --- The Authentik side ---------------------------------------------------------------------------------------------

export interface Provider {
  clientId: string;
  /** Slug of the application that uses this provider. */
  slug?: string;
  /** Vault marker of the client secret (through the !Env variable), or the literal text. */
  secret?: string;
  secretFrom: string;
  redirects: { mode: string; url: string }[];
  where: Blueprint;
}

interface AuthentikSide {
  blueprints: Blueprint[];
  providers: Provider[];
  groups: Set<string>;
  release: AppliedObject;
  /** The ExternalSecrets that write the Secrets of Authentik's environment. */
  envBy: AppliedObject[];
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Obj = { ...(a as Obj) };
    for (const [k, v] of Object.entries(b as Obj)) out[k] = deepMerge(out[k], v);
    return out;
  }
  return b === undefined ? a : b;
}

/** A HelmRelease's values the way helm-controller merges them: each valuesFrom in order (only Secrets an ExternalSecret writes), then spec.values. */
function releaseValues(hr: AppliedObject, idx: TreeIndex, findings: Finding[]): Obj {
  const ns = namespaceOf(hr.obj);
  let values: unknown = {};
  for (const ref of arr(rec(hr.obj.spec).valuesFrom).map(rec)) {
    if (ref.kind !== 'Secret' || typeof ref.name !== 'string') continue;
    const key = str(ref.valuesKey) ?? 'values.yaml';
    const text = idx.secret(ns, ref.name)?.data[key];
    if (text === undefined) continue;
    try {
      const v = parseYaml(text) as unknown;
      values = str(ref.targetPath) ? deepMerge(values, setPath(str(ref.targetPath)!, v)) : deepMerge(values, v);
    } catch (err) {
      findings.push({ check: 'sso', file: hr.file, object: describe(hr.obj), message: `valuesFrom Secret ${ns}/${ref.name} key ${key} is not valid YAML: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  return rec(deepMerge(values, rec(hr.obj.spec).values ?? {}));
}

function setPath(path: string, v: unknown): Obj {
  return path
    .split('.')
    .reverse()
    .reduce<unknown>((acc, k) => ({ [k]: acc }), v) as Obj;
}

/** The file a configMapGenerator made data key `key` of ConfigMap `a` from (repo-relative), when it can be told. */
function generatedFrom(tree: ClusterTree, a: AppliedObject, root: string, key: string): string | undefined {
  const path = str(rec(tree.kustomizations.get(a.by)?.obj.spec).path)?.replace(/^\.\//, '');
  const kfile = path ? join(root, path, 'kustomization.yaml') : undefined;
  if (!path || !kfile || !existsSync(kfile)) return undefined;
  try {
    const k = rec(parseYaml(readFileSync(kfile, 'utf8')));
    const gen = arr(k.configMapGenerator).map(rec).find((g) => g.name === a.obj.metadata?.name);
    for (const f of arr(gen?.files).map(String)) {
      const [name, src] = f.includes('=') ? f.split('=', 2) : [f.split('/').pop(), f];
      if (name === key) return join(path, src!);
    }
  } catch {
    // an unreadable kustomization.yaml is reported by the kustomize build
  }
  return undefined;
}

function chartOf(hr: K8sObject): string | undefined {
  return str(rec(rec(rec(hr.spec).chart).spec).chart);
}

function authentikSide(idx: TreeIndex, root: string, findings: Finding[]): AuthentikSide | undefined {
  const release = idx.tree.objects.find((a) => a.obj.kind === 'HelmRelease' && chartOf(a.obj) === 'authentik');
  if (!release) return undefined;
  const ns = namespaceOf(release.obj);
  const values = releaseValues(release, idx, findings);
  const here = { file: release.file, object: describe(release.obj) };

  // The environment of the worker (which applies blueprints): global and worker env/envFrom.
  const env = new Map<string, string>();
  const envBy: AppliedObject[] = [];
  for (const part of [rec(values.global), rec(values.worker)]) {
    for (const from of arr(part.envFrom).map(rec)) {
      const name = str(rec(from.secretRef).name);
      if (!name) continue;
      const s = idx.secret(ns, name);
      if (!s) {
        findings.push({ check: 'sso', ...here, message: `envFrom Secret ${ns}/${name}: no ExternalSecret in the tree writes it` });
        continue;
      }
      envBy.push(s.by);
      for (const [k, v] of Object.entries(s.data)) env.set(k, v);
    }
    for (const e of arr(part.env).map(rec)) {
      const name = str(e.name);
      if (!name) continue;
      if (typeof e.value === 'string') env.set(name, e.value);
      const ref = rec(rec(e.valueFrom).secretKeyRef);
      if (str(ref.name) && str(ref.key)) {
        const s = idx.secret(ns, str(ref.name)!);
        if (s) envBy.push(s.by);
        const v = s?.data[str(ref.key)!];
        if (v !== undefined) env.set(name, v);
      }
    }
  }

  const blueprints: Blueprint[] = [];
  for (const cm of arr(rec(values.blueprints).configMaps)) {
    const a = typeof cm === 'string' ? idx.find('ConfigMap', ns, cm) : undefined;
    if (!a) {
      findings.push({ check: 'sso', ...here, message: `values blueprints.configMaps names ConfigMap ${ns}/${String(cm)}, which the tree does not apply` });
      continue;
    }
    for (const [key, text] of Object.entries(rec(a.obj.data))) {
      const { doc, problems } = parseBlueprint(String(text));
      const file = generatedFrom(idx.tree, a, root, key) ?? a.file;
      const bp: Blueprint = {
        where: `${describe(a.obj)}: ${key}`,
        ...(file ? { file } : {}),
        object: describe(a.obj),
        doc,
        problems,
      };
      if (doc) bp.problems.push(...blueprintSchemaProblems(doc, root), ...keyOfProblems(doc));
      blueprints.push(bp);
    }
  }

  const providers: Provider[] = [];
  const groups = new Set<string>();
  for (const bp of blueprints) {
    const entries = arr(bp.doc?.entries).map(rec);
    for (const e of entries) {
      const attrs = rec(e.attrs);
      const ids = rec(e.identifiers);
      if (e.model === 'authentik_core.group') {
        const name = str(attrs.name) ?? str(ids.name);
        if (name) groups.add(name);
      }
      if (e.model !== 'authentik_providers_oauth2.oauth2provider') continue;
      const clientId = str(attrs.client_id);
      if (!clientId) continue;
      const isThis = (v: unknown) => v instanceof BlueprintTag && v.tag === '!KeyOf' && v.args === e.id;
      const app = entries.find((x) => x.model === 'authentik_core.application' && isThis(rec(x.attrs).provider));
      const slug = app ? (str(rec(app.attrs).slug) ?? str(rec(app.identifiers).slug)) : undefined;
      let secret: string | undefined;
      let secretFrom = 'client_secret';
      const cs = attrs.client_secret;
      if (cs instanceof BlueprintTag && cs.tag === '!Env') {
        const name = String(Array.isArray(cs.args) ? cs.args[0] : cs.args);
        secretFrom = `!Env ${name}`;
        secret = env.get(name);
        if (secret === undefined) bp.problems.push(`provider ${clientId}: client_secret is !Env ${name}, but the authentik release's environment has no ${name}`);
      } else if (typeof cs === 'string') secret = cs;
      const redirects = arr(attrs.redirect_uris).map(rec).map((r) => ({ mode: str(r.matching_mode) ?? 'strict', url: str(r.url) ?? '' }));
      providers.push({ clientId, ...(slug ? { slug } : {}), ...(secret !== undefined ? { secret } : {}), secretFrom, redirects, where: bp });
    }
  }
  for (const bp of blueprints) for (const p of bp.problems) findings.push({ check: 'sso', ...(bp.file ? { file: bp.file } : {}), object: bp.object, message: `blueprint ${bp.where.split(': ')[1]}: ${p}` });
  return { blueprints, providers, groups, release, envBy };
}

/** Every !KeyOf must name the id of an entry of the same blueprint (Authentik fails the whole blueprint otherwise). */
function keyOfProblems(doc: Record<string, unknown>): string[] {
  const entries = arr(doc.entries).map(rec);
  const ids = new Set(entries.map((e) => e.id).filter((x): x is string => typeof x === 'string'));
  const out: string[] = [];
  const walk = (v: unknown, i: number) => {
    if (v instanceof BlueprintTag) {
      if (v.tag === '!KeyOf' && !ids.has(String(v.args))) out.push(`entries[${i}]: !KeyOf ${String(v.args)} names no entry id of this blueprint`);
      walk(v.args, i);
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, i));
    else if (v && typeof v === 'object') Object.values(v).forEach((x) => walk(x, i));
  };
  entries.forEach((e, i) => walk(e, i));
  return out;
}

// --- The app side ---------------------------------------------------------------------------------------------------

export interface AppClient {
  app: string;
  /** Namespace of the app, where the ExternalSecrets holding its client secret are. */
  namespace: string;
  file?: string;
  object: string;
  clientId: string;
  /** Slug in the issuer / discovery URL (…/application/o/<slug>/). */
  slug?: string;
  /** Vault marker of the client secret, or the literal text when it is written in the tree. */
  secret?: string;
  /** The callback URLs the app sends as redirect_uri, from its real host and path. */
  callbacks: string[];
  groups: { group: string; role: string }[];
}

function slugOf(url: string | undefined): string | undefined {
  return url ? /\/application\/o\/([^/]+)\/?/.exec(url)?.[1] : undefined;
}

/** A client as the object `o` declares it: the issuer or discovery URL it names gives the provider's slug. */
function appClient(
  o: AppliedObject,
  c: { app: string; clientId: string; issuer: string | undefined; secret: string | undefined; callbacks: string[]; groups: AppClient['groups'] },
): AppClient {
  const slug = slugOf(c.issuer);
  return {
    app: c.app,
    namespace: namespaceOf(o.obj),
    ...(o.file ? { file: o.file } : {}),
    object: describe(o.obj),
    clientId: c.clientId,
    ...(slug ? { slug } : {}),
    ...(c.secret !== undefined ? { secret: c.secret } : {}),
    callbacks: c.callbacks,
    groups: c.groups,
  };
}

function giteaClients(hr: AppliedObject, v: Obj, idx: TreeIndex): AppClient[] {
  const ns = namespaceOf(hr.obj);
  const gitea = rec(v.gitea);
  const rootUrl = str(rec(rec(gitea.config).server).ROOT_URL) ?? `https://${str(rec(rec(gitea.config).server).DOMAIN) ?? '?'}/`;
  return arr(gitea.oauth)
    .map(rec)
    .filter((o) => o.provider === 'openidConnect')
    .map((o) => {
      const stored = str(o.existingSecret) ? idx.secret(ns, str(o.existingSecret)!)?.data : undefined;
      const claim = str(o.groupClaimName);
      const groups = [
        ...(str(o.adminGroup) ? [{ group: str(o.adminGroup)!, role: 'adminGroup' }] : []),
        ...(str(o.restrictedGroup) ? [{ group: str(o.restrictedGroup)!, role: 'restrictedGroup' }] : []),
        ...(str(o.requiredClaimValue) && claim && o.requiredClaimName === claim ? [{ group: str(o.requiredClaimValue)!, role: 'requiredClaimValue' }] : []),
      ];
      const secret = str(o.secret) ?? stored?.secret;
      return appClient(hr, {
        app: `gitea oauth source ${String(o.name)}`,
        clientId: str(o.key) ?? stored?.key ?? '',
        issuer: str(o.autoDiscoverUrl),
        secret,
        callbacks: [`${rootUrl.replace(/\/?$/, '/')}user/oauth2/${String(o.name)}/callback`],
        groups,
      });
    });
}

function harborClients(hr: AppliedObject, v: Obj, findings: Finding[]): AppClient[] {
  const text = str(rec(v.core).configureUserSettings);
  if (!text) return [];
  let s: Obj;
  try {
    s = rec(JSON.parse(text));
  } catch (err) {
    findings.push({ check: 'sso', file: hr.file, object: describe(hr.obj), message: `core.configureUserSettings is not valid JSON: ${(err as Error).message}` });
    return [];
  }
  if (s.auth_mode !== 'oidc_auth') return [];
  const external = (str(v.externalURL) ?? '').replace(/\/$/, '');
  return [
    appClient(hr, {
      app: 'harbor',
      clientId: str(s.oidc_client_id) ?? '',
      issuer: str(s.oidc_endpoint),
      secret: str(s.oidc_client_secret),
      callbacks: [`${external}/c/oidc/callback`],
      groups: str(s.oidc_admin_group) ? [{ group: str(s.oidc_admin_group)!, role: 'oidc_admin_group' }] : [],
    }),
  ];
}

function synapseClients(hr: AppliedObject, v: Obj): AppClient[] {
  const host = str(v.publicServerName) ?? str(v.serverName) ?? '?';
  return arr(rec(v.extraConfig).oidc_providers)
    .map(rec)
    .map((p) =>
      appClient(hr, {
        app: `synapse oidc provider ${String(p.idp_id)}`,
        clientId: str(p.client_id) ?? '',
        issuer: str(p.issuer),
        secret: str(p.client_secret),
        callbacks: [`https://${host}/_synapse/client/oidc/callback`],
        groups: arr(p.attribute_requirements)
          .map(rec)
          .filter((r) => r.attribute === 'groups' && typeof r.value === 'string')
          .map((r) => ({ group: String(r.value), role: 'attribute_requirements' })),
      }),
    );
}

/** A container's environment as the Grafana chart renders it (envFromSecret(s), then envValueFrom, then env): name → literal or Vault marker. */
function chartEnv(ns: string, v: Obj, idx: TreeIndex): Map<string, string> {
  const env = new Map<string, string>();
  const fromSecrets = [...(str(v.envFromSecret) ? [{ name: v.envFromSecret }] : []), ...arr(v.envFromSecrets)].map(rec);
  for (const from of fromSecrets) {
    const data = str(from.name) ? idx.secret(ns, str(from.name)!)?.data : undefined;
    for (const [k, x] of Object.entries(data ?? {})) env.set(`${str(from.prefix) ?? ''}${k}`, x);
  }
  for (const [name, from] of Object.entries(rec(v.envValueFrom))) {
    const ref = rec(rec(from).secretKeyRef);
    const x = str(ref.name) && str(ref.key) ? idx.secret(ns, str(ref.name)!)?.data[str(ref.key)!] : undefined;
    if (x !== undefined) env.set(name, x);
  }
  for (const [name, x] of Object.entries(rec(v.env))) if (typeof x === 'string') env.set(name, x);
  return env;
}

// Authentik's OAuth2 endpoints, the same for every application (only the issuer and end-session URLs name the slug).
const AUTHENTIK_ENDPOINTS = { auth_url: '/application/o/authorize/', token_url: '/application/o/token/', api_url: '/application/o/userinfo/' } as const;

/**
 * Grafana's generic OAuth client (chart values grafana.ini, section auth.generic_oauth). A setting may come from the
 * environment instead (GF_<SECTION>_<KEY>, which Grafana prefers to the file) and may expand $__env{NAME}; both are
 * resolved from the chart's env values. Grafana does no discovery: its endpoints must be Authentik's, and the
 * application's slug comes from the sign-out URL (auth.signout_redirect_url, …/application/o/<slug>/end-session/).
 * Groups are those role_attribute_path maps (contains(groups, 'g') && 'Role') and allowed_groups.
 */
function grafanaClients(hr: AppliedObject, v: Obj, idx: TreeIndex, findings: Finding[]): AppClient[] {
  const ini = rec(v['grafana.ini']);
  const env = chartEnv(namespaceOf(hr.obj), v, idx);
  const here = { check: 'sso' as const, ...(hr.file ? { file: hr.file } : {}), object: describe(hr.obj) };
  const setting = (section: string, key: string): string | undefined => {
    const raw = env.get(`GF_${section}_${key}`.toUpperCase().replace(/[.-]/g, '_')) ?? rec(ini[section])[key];
    const text = typeof raw === 'string' ? raw : raw === undefined || raw === null ? undefined : String(raw);
    const ref = text !== undefined ? /^\$__env\{([^}]+)\}$/.exec(text.trim()) : null;
    if (!ref) return text;
    const value = env.get(ref[1]!);
    if (value === undefined) findings.push({ ...here, message: `grafana.ini ${section} ${key} is $__env{${ref[1]}}, but Grafana's container has no ${ref[1]} (env, envValueFrom, envFromSecret(s))` });
    return value;
  };
  if (setting('auth.generic_oauth', 'enabled') !== 'true') return [];
  const signOut = setting('auth', 'signout_redirect_url');
  const authUrl = setting('auth.generic_oauth', 'auth_url');
  let origin: string | undefined;
  try {
    origin = new URL(signOut ?? authUrl ?? '').origin;
  } catch {
    origin = undefined;
  }
  if (!signOut || !/\/application\/o\/[^/]+\/end-session\/$/.test(signOut)) {
    findings.push({ ...here, message: `grafana.ini auth signout_redirect_url is ${signOut ?? 'not set'}: set it to Authentik's https://<auth host>/application/o/<slug>/end-session/, which names the application (and signs out of Authentik too)` });
  }
  for (const [key, path] of Object.entries(AUTHENTIK_ENDPOINTS)) {
    const url = setting('auth.generic_oauth', key);
    const want = origin ? `${origin}${path}` : `https://<auth host>${path}`;
    if (url !== want) findings.push({ ...here, message: `grafana.ini auth.generic_oauth ${key} is ${url ?? 'not set'}, not Authentik's endpoint ${want}` });
  }
  const rolePath = setting('auth.generic_oauth', 'role_attribute_path') ?? '';
  const groups: AppClient['groups'] = [...rolePath.matchAll(/contains\(\s*groups(?:\[\*\])?\s*,\s*'([^']+)'\s*\)\s*&&\s*'([^']+)'/g)].map((m) => ({ group: m[1]!, role: `role_attribute_path ${m[2]!}` }));
  for (const g of (setting('auth.generic_oauth', 'allowed_groups') ?? '').split(/[\s,]+/).filter(Boolean)) groups.push({ group: g, role: 'allowed_groups' });
  const rootUrl = setting('server', 'root_url') ?? 'http://localhost:3000/';
  return [
    appClient(hr, {
      app: 'grafana generic_oauth',
      clientId: setting('auth.generic_oauth', 'client_id') ?? '',
      issuer: signOut,
      secret: setting('auth.generic_oauth', 'client_secret'),
      callbacks: [`${rootUrl.replace(/\/?$/, '/')}login/generic_oauth`],
      groups,
    }),
  ];
}

/**
 * Vault's OIDC auth method as its configure Job writes it (kubernetes/secrets/vault/sso): the client id and discovery
 * URL in the container's environment (OIDC_CLIENT_ID, OIDC_DISCOVERY_URL), the secret from a Secret volume, the roles
 * from role-*.json in a ConfigMap volume (allowed_redirect_uris are the callbacks, bound_claims.groups the groups).
 */
function vaultClients(job: AppliedObject, idx: TreeIndex): AppClient[] {
  const ns = namespaceOf(job.obj);
  const pod = rec(rec(rec(job.obj.spec).template).spec);
  const out: AppClient[] = [];
  for (const c of arr(pod.containers).map(rec)) {
    const env = new Map(arr(c.env).map(rec).map((e) => [String(e.name), str(e.value)]));
    const clientId = env.get('OIDC_CLIENT_ID');
    if (!clientId) continue;
    let secret: string | undefined;
    const callbacks = new Set<string>();
    const groups: AppClient['groups'] = [];
    for (const vol of arr(pod.volumes).map(rec)) {
      const secretName = str(rec(vol.secret).secretName);
      if (secretName) secret ??= idx.secret(ns, secretName)?.data['client-secret'];
      const cmName = str(rec(vol.configMap).name);
      const cm = cmName ? idx.find('ConfigMap', ns, cmName) : undefined;
      for (const [key, text] of Object.entries(rec(cm?.obj.data))) {
        const m = /^role-(.+)\.json$/.exec(key);
        if (!m) continue;
        let role: Obj = {};
        try {
          role = rec(JSON.parse(String(text)));
        } catch {
          continue;
        }
        for (const u of arr(role.allowed_redirect_uris)) callbacks.add(String(u));
        for (const g of arr(rec(role.bound_claims).groups)) groups.push({ group: String(g), role: `role ${m[1]}` });
      }
    }
    out.push(appClient(job, { app: 'vault oidc auth method', clientId, issuer: env.get('OIDC_DISCOVERY_URL'), secret, callbacks: [...callbacks], groups }));
  }
  return out;
}

/** The charts whose values carry an OIDC client, and how each one's client is read from them. */
const CLIENT_READERS = new Map<string, (hr: AppliedObject, v: Obj, idx: TreeIndex, findings: Finding[]) => AppClient[]>([
  ['gitea', (hr, v, idx) => giteaClients(hr, v, idx)],
  ['grafana', grafanaClients],
  ['harbor', (hr, v, _idx, findings) => harborClients(hr, v, findings)],
  ['matrix-synapse', (hr, v) => synapseClients(hr, v)],
]);

export function appClients(tree: ClusterTree, findings: Finding[]): AppClient[] {
  const idx = new TreeIndex(tree);
  const out: AppClient[] = [];
  for (const a of tree.objects) {
    if (a.obj.kind === 'HelmRelease') {
      const read = CLIENT_READERS.get(chartOf(a.obj) ?? '');
      if (read) out.push(...read(a, releaseValues(a, idx, findings), idx, findings));
    }
    if (a.obj.kind === 'Job') out.push(...vaultClients(a, idx));
  }
  return out;
}

// --- The checks -----------------------------------------------------------------------------------------------------

function redirectAllowed(p: Provider, url: string): boolean {
  return p.redirects.some((r) => (r.mode === 'regex' ? safeRegex(r.url)?.test(url) === true : r.url === url));
}
function safeRegex(s: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${s})$`);
  } catch {
    return undefined;
  }
}

/** PushSecrets of the tree by the Vault marker they write (key#property), with the Kustomization applying each. */
function pushedKeys(tree: ClusterTree): Map<string, AppliedObject[]> {
  const out = new Map<string, AppliedObject[]>();
  for (const a of tree.objects) {
    if (a.obj.kind !== 'PushSecret') continue;
    for (const d of arr(rec(a.obj.spec).data).map(rec)) {
      const r = rec(rec(d.match).remoteRef);
      if (!str(r.remoteKey)) continue;
      const m = vaultMarker(str(r.remoteKey)!, str(r.property));
      out.set(m, [...(out.get(m) ?? []), a]);
    }
  }
  return out;
}

/** Kustomizations `id` waits for, directly or not (itself included). */
function waitsFor(tree: ClusterTree, id: string): Set<string> {
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length) {
    const k = stack.pop()!;
    if (seen.has(k)) continue;
    seen.add(k);
    const ks = tree.kustomizations.get(k);
    if (ks) stack.push(...ksDeps(ks));
  }
  return seen;
}

/**
 * The client secret must be generated (a PushSecret writes its Vault key) by a Kustomization that each reader's
 * Kustomization waits for: otherwise the reader's ExternalSecret fails until a retry happens to come after it.
 */
function checkSecretOrder(tree: ClusterTree, marker: string, readers: AppliedObject[], reader: string, at: Omit<Finding, 'message'>, findings: Finding[]): void {
  const pushers = pushedKeys(tree).get(marker) ?? [];
  const key = MARKER.exec(marker)?.[1] ?? marker;
  if (!pushers.length) {
    findings.push({ ...at, message: `no PushSecret in the tree generates Vault key ${key}, which ${reader} reads` });
    return;
  }
  for (const es of readers.filter((a) => Object.values(externalSecretData(a.obj)).some((v) => v.includes(marker)))) {
    const before = waitsFor(tree, es.by);
    if (!pushers.some((p) => before.has(p.by))) {
      findings.push({ ...at, message: `${describe(es.obj)} (Kustomization ${es.by}) reads Vault key ${key} for ${reader}, but does not wait for Kustomization ${pushers[0]!.by}, whose PushSecret generates it` });
    }
  }
}

export function checkSso(tree: ClusterTree, root: string, findings: Finding[]): void {
  const idx = new TreeIndex(tree);
  const clients = appClients(tree, findings);
  const ak = authentikSide(idx, root, findings);
  if (!ak) {
    for (const c of clients) findings.push({ check: 'sso', ...(c.file ? { file: c.file } : {}), object: c.object, message: `${c.app} names OIDC client ${c.clientId}, but the tree has no authentik HelmRelease` });
    return;
  }
  for (const c of clients) {
    const at = { check: 'sso' as const, ...(c.file ? { file: c.file } : {}), object: c.object };
    const p = ak.providers.find((x) => x.clientId === c.clientId);
    if (!p) {
      findings.push({ ...at, message: `${c.app} names OIDC client "${c.clientId}", but no Authentik provider in the blueprints has that client_id` });
      continue;
    }
    if (c.slug && p.slug !== c.slug) {
      findings.push({ ...at, message: `${c.app}'s issuer names application "${c.slug}", but provider ${c.clientId} belongs to application "${p.slug ?? '(none)'}"` });
    }
    for (const cb of c.callbacks) {
      if (!redirectAllowed(p, cb)) findings.push({ ...at, message: `${c.app} calls back to ${cb}, which provider ${c.clientId} (${p.where.where}) does not allow as a redirect URI` });
    }
    for (const r of p.redirects) {
      if (r.mode === 'strict' && !c.callbacks.includes(r.url)) {
        findings.push({ ...at, message: `provider ${c.clientId} (${p.where.where}) allows redirect URI ${r.url}, which is not a callback of ${c.app} (${c.callbacks.join(', ') || 'none'})` });
      }
    }
    const appKey = c.secret ? MARKER.exec(c.secret)?.[1] : undefined;
    const akKey = p.secret ? MARKER.exec(p.secret)?.[1] : undefined;
    if (c.secret === undefined) findings.push({ ...at, message: `${c.app} has no client secret` });
    else if (!appKey) findings.push({ ...at, message: `${c.app}'s client secret is written in the tree: read it from Vault through an ExternalSecret` });
    if (p.secret !== undefined && !akKey) findings.push({ ...at, message: `provider ${c.clientId}'s client secret (${p.secretFrom}) is written in the tree: use !Env with a variable from Vault` });
    if (appKey && akKey && appKey !== akKey) {
      findings.push({ ...at, message: `${c.app} reads its client secret from Vault ${appKey}, but Authentik (${p.secretFrom}) reads ${akKey}: both must read the same key` });
    }
    const inAppNamespace = tree.objects.filter((a) => isExternalSecret(a.obj) && namespaceOf(a.obj) === c.namespace && !ak.envBy.includes(a));
    if (appKey) checkSecretOrder(tree, c.secret!, inAppNamespace, c.app, at, findings);
    if (akKey) checkSecretOrder(tree, p.secret!, ak.envBy, `Authentik's provider ${c.clientId}`, at, findings);
    for (const g of c.groups) {
      if (!ak.groups.has(g.group)) findings.push({ ...at, message: `${c.app} maps group "${g.group}" (${g.role}), which no blueprint declares` });
    }
  }
}
