import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { SourceIndex } from './kustomize.ts';
import type { K8sObject } from './model.ts';
import { PIN_FILE, type TerraformFile } from './terraform.ts';

// Every version the repository pins, by file: what `task validate` insists is pinned (charts, OCI and Git sources,
// images, Terraform providers) and the versions the cluster config, mise and npm fix. Whatever moves pins forward
// (Renovate) has to find each of these; test/renovate checks that it does.

export interface Pin {
  /** Repo-relative file the version is written in. */
  file: string;
  /** What is pinned: "versions.talos", "chart cert-manager", "image hashicorp/vault", "provider bpg/proxmox", … */
  what: string;
  /** The version as written (a tag, a chart version, a digest, an npm range). */
  version: string;
}

/** The cluster configs: the shipped example, a working copy's own cluster.yaml, and clusters/<name>.yaml. */
export function clusterConfigFiles(root: string): string[] {
  const files = ['cluster.example.yaml', 'cluster.yaml'].filter((f) => existsSync(join(root, f)));
  const dir = join(root, 'clusters');
  if (existsSync(dir)) files.push(...readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => `clusters/${n}`));
  return files;
}

export function clusterConfigPins(file: string, text: string): Pin[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return []; // the config loader reports syntax errors
  }
  const versions = (doc as { versions?: Record<string, unknown> } | null)?.versions ?? {};
  return Object.entries(versions)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
    .map(([k, v]) => ({ file, what: `versions.${k}`, version: String(v) }));
}

/** `name = "version"` lines of the [tools] table of a mise config. */
export function misePins(file: string, text: string): Pin[] {
  const out: Pin[] = [];
  let inTools = false;
  for (const line of text.split('\n')) {
    const table = /^\s*\[([^\]]+)\]/.exec(line);
    if (table) inTools = table[1]!.trim() === 'tools';
    else if (inTools) {
      const m = /^\s*"?([\w@/:.-]+)"?\s*=\s*"([^"]+)"/.exec(line);
      if (m) out.push({ file, what: `tool ${m[1]}`, version: m[2]! });
    }
  }
  return out;
}

export function npmPins(file: string, text: string): Pin[] {
  const pkg = JSON.parse(text) as Record<string, Record<string, string> | undefined>;
  return ['dependencies', 'devDependencies', 'optionalDependencies'].flatMap((section) =>
    Object.entries(pkg[section] ?? {}).map(([name, version]) => ({ file, what: `npm ${name}`, version })),
  );
}

type Hcl = Record<string, unknown>;

/** Provider versions and required_version, from the one pin file (the layers' links to it are the same pins). */
export function terraformPins(files: TerraformFile[]): Pin[] {
  const out: Pin[] = [];
  for (const f of files.filter((x) => x.file === PIN_FILE)) {
    for (const tf of ([] as Hcl[]).concat((f.hcl.terraform as Hcl[] | undefined) ?? [])) {
      if (typeof tf.required_version === 'string') out.push({ file: f.file, what: 'terraform required_version', version: tf.required_version });
      for (const rp of ([] as Hcl[]).concat((tf.required_providers as Hcl[] | undefined) ?? [])) {
        for (const [name, spec] of Object.entries(rp)) {
          const s = spec as { source?: string; version?: string };
          if (s.version !== undefined) out.push({ file: f.file, what: `provider ${s.source ?? name}`, version: s.version });
        }
      }
    }
  }
  return out;
}

/** Images in an object (HelmRelease values included): `image: repo:tag` strings and `image: {repository?, tag}` maps. */
export function imagePins(obj: unknown, parentKey = ''): { what: string; version: string }[] {
  if (Array.isArray(obj)) return obj.flatMap((v) => imagePins(v, parentKey));
  if (!obj || typeof obj !== 'object') return [];
  const o = obj as Record<string, unknown>;
  const out: { what: string; version: string }[] = [];
  if (typeof o.tag === 'string' && (parentKey === 'image' || typeof o.repository === 'string')) {
    out.push({ what: `image ${typeof o.repository === 'string' ? o.repository : `(${parentKey}.tag)`}`, version: o.tag });
  }
  for (const [k, v] of Object.entries(o)) {
    if (k === 'image' && typeof v === 'string' && !v.includes('${')) {
      const at = v.indexOf('@sha256:');
      const last = v.slice(v.lastIndexOf('/') + 1);
      if (at >= 0) out.push({ what: `image ${v.slice(0, at)}`, version: v.slice(at + 1) });
      else if (last.includes(':')) out.push({ what: `image ${v.slice(0, v.lastIndexOf(':'))}`, version: v.slice(v.lastIndexOf(':') + 1) });
    } else out.push(...imagePins(v, k));
  }
  return out;
}

/** Chart versions, source refs and images of one manifest. */
export function manifestPins(file: string, o: K8sObject): Pin[] {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const group = typeof o.apiVersion === 'string' ? o.apiVersion.split('/')[0] : '';
  const out: Pin[] = [];
  if (group === 'helm.toolkit.fluxcd.io' && o.kind === 'HelmRelease') {
    const chart = (spec.chart as { spec?: { chart?: string; version?: string } } | undefined)?.spec;
    if (chart?.version) out.push({ file, what: `chart ${chart.chart}`, version: chart.version });
  } else if (group === 'source.toolkit.fluxcd.io') {
    const ref = (spec.ref ?? {}) as Record<string, string | undefined>;
    const v = o.kind === 'HelmChart' ? (spec.version as string | undefined) : (ref.tag ?? ref.digest ?? ref.commit ?? ref.semver);
    if (v) out.push({ file, what: `${o.kind} ${o.metadata?.name ?? ''}`, version: v });
    return out; // a source's own fields are not images
  }
  out.push(...imagePins(o).map((p) => ({ file, ...p })));
  return out;
}

export interface PinSources {
  root: string;
  /** Every YAML document under kubernetes/ (validate's SourceIndex). */
  index: SourceIndex;
  /** Parsed Terraform files (validate's parseTerraform). */
  tfFiles: TerraformFile[];
}

/** Every pin in the repository, in file order. */
export function listPins({ root, index, tfFiles }: PinSources): Pin[] {
  const read = (f: string) => readFileSync(join(root, f), 'utf8');
  const pins: Pin[] = [];
  for (const f of clusterConfigFiles(root)) pins.push(...clusterConfigPins(f, read(f)));
  for (const f of ['.mise.toml', 'mise.toml']) if (existsSync(join(root, f))) pins.push(...misePins(f, read(f)));
  if (existsSync(join(root, 'package.json'))) pins.push(...npmPins('package.json', read('package.json')));
  pins.push(...terraformPins(tfFiles));
  for (const f of index.files) for (const o of f.objects) pins.push(...manifestPins(f.file, o));
  return pins;
}
