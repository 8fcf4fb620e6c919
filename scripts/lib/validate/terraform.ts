import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parse as parseHcl } from '@cdktf/hcl2json';
import type { Exec } from './kustomize.ts';
import { apiGroup, type Finding } from './model.ts';

// Terraform, offline: every .tf parses (HCL parser); `terraform fmt -check` where terraform is installed; provider
// versions pinned in exactly one file (terraform/versions.tf, linked into each layer); each layer declares exactly
// the variables `task configure` writes into terraform/generated/<cluster>/<layer>.tfvars.json, with matching types;
// the outputs the bootstrap reads exist; local module sources exist.

export const PIN_FILE = 'terraform/versions.tf';

type Hcl = Record<string, unknown>;

export interface TerraformFile {
  file: string;
  hcl: Hcl;
}

export function listTfFiles(dir: string, root: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name === 'generated') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTfFiles(p, root));
    else if (name.endsWith('.tf')) out.push(relative(root, p));
  }
  return out;
}

// Parsed files by name and content: the parser is WebAssembly (~35 ms a file once warm); unchanged files in one process
// (the test suite, repeated runs) are parsed once. The parsed HCL is shared between runs: the checks only read it.
const parsedCache = new Map<string, Hcl>();

async function parseCached(rel: string, text: string): Promise<Hcl> {
  const key = `${rel}\0${text}`;
  const hit = parsedCache.get(key);
  if (hit) return hit;
  const hcl = (await parseHcl(rel, text)) as Hcl;
  parsedCache.set(key, hcl);
  return hcl;
}

export async function parseTerraform(root: string, findings: Finding[]): Promise<TerraformFile[]> {
  const files: TerraformFile[] = [];
  for (const rel of listTfFiles(join(root, 'terraform'), root)) {
    try {
      files.push({ file: rel, hcl: await parseCached(rel, readFileSync(join(root, rel), 'utf8')) });
    } catch (err) {
      findings.push({ check: 'terraform', file: rel, message: `HCL syntax: ${String((err as Error).message).replace(/^parse config: \[?/, '').replace(/\]$/, '')}` });
    }
  }
  return files;
}

/** `terraform fmt -check -recursive -list=true terraform/` → files that are not formatted. */
export async function checkFmt(root: string, exec: Exec, findings: Finding[]): Promise<boolean> {
  const res = await exec(['terraform', 'fmt', '-check', '-recursive', '-list=true', join(root, 'terraform')], { env: { TF_CLI_CONFIG_FILE: '/dev/null' } });
  if (res.exitCode === 0) return true;
  const files = res.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  if (files.length === 0) {
    findings.push({ check: 'terraform', file: 'terraform', message: `terraform fmt -check failed: ${res.stderr.trim().split('\n').pop() ?? `exit ${res.exitCode}`}` });
  }
  for (const f of files) findings.push({ check: 'terraform', file: relative(root, resolve(root, f)), message: 'not formatted: run `terraform fmt -recursive terraform/`' });
  return true;
}

const blocks = (hcl: Hcl, key: string) => (hcl[key] ?? {}) as Record<string, Hcl[] | Hcl>;
const first = (v: Hcl[] | Hcl | undefined): Hcl => (Array.isArray(v) ? (v[0] ?? {}) : (v ?? {}));

/** Layers: the numbered directories under terraform/ (00-persistent-auth, 01-infrastructure, …). */
export function layerDirs(root: string): string[] {
  const dir = join(root, 'terraform');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((n) => /^\d\d-/.test(n) && statSync(join(dir, n)).isDirectory()).sort();
}

/** The repo-relative path a file really is (the layers' versions.tf are links to terraform/versions.tf). */
function realRelative(root: string, file: string): string {
  try {
    return relative(root, realpathSync(join(root, file)));
  } catch {
    return file;
  }
}

export function checkPins(root: string, files: TerraformFile[], findings: Finding[]): void {
  for (const f of files) {
    let canonical: string | undefined; // resolved once per file, on first use
    for (const tf of ([] as Hcl[]).concat((f.hcl.terraform as Hcl[] | undefined) ?? [])) {
      for (const rp of ([] as Hcl[]).concat((tf.required_providers as Hcl[] | undefined) ?? [])) {
        for (const [name, spec] of Object.entries(rp)) {
          const version = (spec as { version?: string }).version;
          if (version === undefined) continue;
          if ((canonical ??= realRelative(root, f.file)) !== PIN_FILE) {
            findings.push({ check: 'pinned-versions', file: f.file, object: `provider ${name}`, message: `provider version set here: pin provider versions only in ${PIN_FILE} (linked into each layer)` });
          } else if (!/^=?\s*\d+\.\d+\.\d+$/.test(version.trim())) {
            findings.push({ check: 'pinned-versions', file: f.file, object: `provider ${name}`, message: `version "${version}" is a range: pin an exact version` });
          }
        }
      }
    }
  }
  // Each layer must see the pin file (a symlink to it, or an identical copy).
  const pin = join(root, PIN_FILE);
  const layers = layerDirs(root);
  if (!existsSync(pin)) {
    if (layers.length) findings.push({ check: 'pinned-versions', file: PIN_FILE, message: 'missing: the one place provider versions are pinned' });
    return;
  }
  const pinReal = realpathSync(pin);
  let pinText: string | undefined;
  for (const layer of layers) {
    const v = join(root, 'terraform', layer, 'versions.tf');
    const same = existsSync(v) && (realpathSync(v) === pinReal || readFileSync(v, 'utf8') === (pinText ??= readFileSync(pin, 'utf8')));
    if (!same) findings.push({ check: 'pinned-versions', file: `terraform/${layer}/versions.tf`, message: `must be a link to ../versions.tf (ln -s ../versions.tf terraform/${layer}/versions.tf), so every layer runs the pinned providers` });
  }
}

// ---- Terraform type expressions, for the tfvars cross-check ------------------------------------------------------

export type TfType =
  | { t: 'string' | 'number' | 'bool' | 'any' }
  | { t: 'list' | 'set' | 'map'; of: TfType }
  | { t: 'object'; attrs: Record<string, TfType>; optional: Set<string> };

export function parseType(src: string): TfType {
  let s = src.trim().replace(/^\$\{/, '').replace(/\}$/, '');
  let i = 0;
  let wasOptional = false;
  const ws = () => {
    while (i < s.length && /[\s,]/.test(s[i]!)) i++;
  };
  const ident = () => {
    ws();
    const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(s.slice(i));
    if (!m) throw new Error(`bad type expression near "${s.slice(i, i + 20)}"`);
    i += m[0].length;
    return m[0];
  };
  const expect = (ch: string) => {
    ws();
    if (s[i] !== ch) throw new Error(`expected "${ch}" in type expression near "${s.slice(i, i + 20)}"`);
    i++;
  };
  const type = (): TfType => {
    const name = ident();
    if (name === 'string' || name === 'number' || name === 'bool' || name === 'any') return { t: name };
    if (name === 'list' || name === 'set' || name === 'map') {
      expect('(');
      const of = type();
      expect(')');
      return { t: name, of };
    }
    if (name === 'optional') {
      expect('(');
      const inner = type();
      // a default value may follow: skip to the closing parenthesis
      let depth = 0;
      while (i < s.length) {
        if (s[i] === '(') depth++;
        if (s[i] === ')') {
          if (depth === 0) break;
          depth--;
        }
        i++;
      }
      expect(')');
      wasOptional = true;
      return inner;
    }
    if (name === 'object') {
      expect('(');
      expect('{');
      const attrs: Record<string, TfType> = {};
      const optional = new Set<string>();
      ws();
      while (s[i] !== '}') {
        const key = ident();
        expect('=');
        wasOptional = false;
        const t = type();
        if (wasOptional) optional.add(key);
        wasOptional = false;
        attrs[key] = t;
        ws();
      }
      expect('}');
      expect(')');
      return { t: 'object', attrs, optional };
    }
    throw new Error(`unsupported type ${name}`);
  };
  s = s.replace(/#.*$/gm, '');
  return type();
}

/** Problems of a tfvars value against a variable type (path-qualified). */
export function checkValue(v: unknown, t: TfType, path: string): string[] {
  switch (t.t) {
    case 'any':
      return [];
    case 'string':
      return typeof v === 'string' ? [] : [`${path} must be a string`];
    case 'number':
      return typeof v === 'number' ? [] : [`${path} must be a number`];
    case 'bool':
      return typeof v === 'boolean' ? [] : [`${path} must be a bool`];
    case 'list':
    case 'set':
      return Array.isArray(v) ? v.flatMap((x, i) => checkValue(x, t.of, `${path}[${i}]`)) : [`${path} must be a list`];
    case 'map':
      return v && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v).flatMap(([k, x]) => checkValue(x, t.of, `${path}["${k}"]`)) : [`${path} must be a map`];
    case 'object': {
      if (!v || typeof v !== 'object' || Array.isArray(v)) return [`${path} must be an object`];
      const o = v as Record<string, unknown>;
      const out: string[] = [];
      for (const k of Object.keys(o)) if (!(k in t.attrs)) out.push(`${path}.${k} is not an attribute of the variable's type`);
      for (const [k, at] of Object.entries(t.attrs)) {
        if (!(k in o)) {
          if (!t.optional.has(k)) out.push(`${path}.${k} is missing`);
        } else out.push(...checkValue(o[k], at, `${path}.${k}`));
      }
      return out;
    }
  }
}

interface VarDecl {
  file: string;
  type?: TfType;
  hasDefault: boolean;
}

function layerVariables(files: TerraformFile[], layer: string, findings: Finding[]): Map<string, VarDecl> {
  const vars = new Map<string, VarDecl>();
  for (const f of files.filter((x) => x.file.startsWith(`terraform/${layer}/`))) {
    for (const [name, decl] of Object.entries(blocks(f.hcl, 'variable'))) {
      const d = first(decl);
      let type: TfType | undefined;
      if (typeof d.type === 'string') {
        try {
          type = parseType(d.type);
        } catch (err) {
          findings.push({ check: 'terraform', file: f.file, object: `variable ${name}`, message: (err as Error).message });
        }
      }
      vars.set(name, { file: f.file, ...(type ? { type } : {}), hasDefault: 'default' in d });
    }
  }
  return vars;
}

/** Layer variables vs terraform/generated/<cluster>/<layer>.tfvars.json of every cluster. */
export function checkVariables(root: string, files: TerraformFile[], layers: readonly string[], findings: Finding[]): number {
  const genDir = join(root, 'terraform', 'generated');
  const clusters = existsSync(genDir) ? readdirSync(genDir).filter((n) => statSync(join(genDir, n)).isDirectory()).sort() : [];
  let checked = 0;
  for (const layer of layers) {
    const vars = layerVariables(files, layer, findings);
    for (const cluster of clusters) {
      const rel = `terraform/generated/${cluster}/${layer}.tfvars.json`;
      if (!existsSync(join(root, rel))) {
        findings.push({ check: 'terraform', file: rel, message: `missing: run \`task configure\` for cluster ${cluster}` });
        continue;
      }
      checked++;
      const values = JSON.parse(readFileSync(join(root, rel), 'utf8')) as Record<string, unknown>;
      for (const [k, v] of Object.entries(values)) {
        const decl = vars.get(k);
        if (!decl) {
          findings.push({ check: 'terraform', file: rel, object: `variable ${k}`, message: `configure writes "${k}" but terraform/${layer} declares no such variable (render.ts terraformVars and the layer disagree)` });
          continue;
        }
        if (decl.type) for (const p of checkValue(v, decl.type, k)) findings.push({ check: 'terraform', file: rel, object: `variable ${k}`, message: `${p} (declared in ${decl.file})` });
      }
      for (const [k, decl] of vars) {
        if (!(k in values) && !decl.hasDefault) {
          findings.push({ check: 'terraform', file: decl.file, object: `variable ${k}`, message: `has no default and ${rel} gives no value: terraform plan would stop and ask` });
        }
      }
    }
  }
  return checked;
}

export function checkOutputs(files: TerraformFile[], layer: string, required: readonly string[], findings: Finding[]): void {
  const have = new Set(files.filter((f) => f.file.startsWith(`terraform/${layer}/`)).flatMap((f) => Object.keys(blocks(f.hcl, 'output'))));
  if (!files.some((f) => f.file.startsWith(`terraform/${layer}/`))) return;
  for (const o of required) {
    if (!have.has(o)) findings.push({ check: 'terraform', file: `terraform/${layer}`, object: `output ${o}`, message: `missing output "${o}": the bootstrap reads it with terraform output -json` });
  }
}

export function checkModules(root: string, files: TerraformFile[], findings: Finding[]): void {
  for (const f of files) {
    for (const [name, decl] of Object.entries(blocks(f.hcl, 'module'))) {
      const src = first(decl).source;
      if (typeof src !== 'string' || !src.startsWith('.')) continue;
      const dir = resolve(join(root, f.file, '..'), src);
      if (!existsSync(dir) || listTfFiles(dir, root).length === 0) {
        findings.push({ check: 'terraform', file: f.file, object: `module ${name}`, message: `source ${src} has no .tf files` });
      }
    }
  }
}

/** Kubernetes objects Terraform would manage (kubernetes_*, kubectl_manifest, helm_release): for the ownership map. */
export function terraformKubernetesResources(files: TerraformFile[]): { file: string; address: string; kind: string; namespace: string; name: string; group: string; helm?: boolean }[] {
  const out: { file: string; address: string; kind: string; namespace: string; name: string; group: string; helm?: boolean }[] = [];
  const KINDS: Record<string, [string, string]> = {
    kubernetes_secret: ['', 'Secret'],
    kubernetes_secret_v1: ['', 'Secret'],
    kubernetes_namespace: ['', 'Namespace'],
    kubernetes_namespace_v1: ['', 'Namespace'],
    kubernetes_config_map: ['', 'ConfigMap'],
    kubernetes_config_map_v1: ['', 'ConfigMap'],
    kubernetes_service_account: ['', 'ServiceAccount'],
    kubernetes_service_account_v1: ['', 'ServiceAccount'],
    kubernetes_deployment: ['apps', 'Deployment'],
    kubernetes_deployment_v1: ['apps', 'Deployment'],
    kubernetes_daemonset: ['apps', 'DaemonSet'],
    kubernetes_daemon_set_v1: ['apps', 'DaemonSet'],
  };
  for (const f of files) {
    for (const [type, byName] of Object.entries(blocks(f.hcl, 'resource'))) {
      for (const [rname, decl] of Object.entries(byName as Record<string, Hcl[] | Hcl>)) {
        const d = first(decl);
        const address = `${type}.${rname}`;
        if (type === 'helm_release') {
          out.push({ file: f.file, address, group: 'helm', kind: 'Release', namespace: String(d.namespace ?? 'default'), name: String(d.name ?? rname), helm: true });
        } else if (KINDS[type]) {
          const md = first(d.metadata as Hcl[] | Hcl | undefined);
          const [group, kind] = KINDS[type]!;
          out.push({ file: f.file, address, group, kind, namespace: kind === 'Namespace' ? '' : String(md.namespace ?? 'default'), name: String(md.name ?? '') });
        } else if (type === 'kubernetes_manifest' && d.manifest && typeof d.manifest === 'object') {
          const m = d.manifest as { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } };
          out.push({ file: f.file, address, group: apiGroup(String(m.apiVersion ?? '')), kind: String(m.kind), namespace: String(m.metadata?.namespace ?? ''), name: String(m.metadata?.name ?? '') });
        }
      }
    }
  }
  return out;
}
