import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import type { K8sObject } from './model.ts';

// Building a Flux Kustomization's path the way kustomize-controller does: `kustomize build` where the directory has
// a kustomization file; otherwise Flux generates one listing every manifest below it (a subdirectory with its own
// kustomization file counts as one unit). The build runs `kustomize build` when kustomize is on PATH, else
// `kubectl kustomize` (the same embedded kustomize), both offline.

export interface ExecResult {
  ok: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
}
export type Exec = (argv: string[], opts?: { cwd?: string; env?: Record<string, string> }) => Promise<ExecResult>;

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export function hasKustomizationFile(dir: string): boolean {
  return KUSTOMIZATION_FILES.some((f) => existsSync(join(dir, f)));
}

/** Which binary builds kustomizations: kustomize when present, else kubectl's. */
export function kustomizeArgv(dir: string, onPath: (cmd: string) => boolean): string[] {
  return onPath('kustomize') ? ['kustomize', 'build', dir] : ['kubectl', 'kustomize', dir];
}

export function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  return path.split(':').some((d) => {
    try {
      return d !== '' && statSync(join(d, cmd)).isFile();
    } catch {
      return false;
    }
  });
}

export function parseManifests(text: string, source: string): { objects: K8sObject[]; errors: string[] } {
  const objects: K8sObject[] = [];
  const errors: string[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      errors.push(`${source}: ${doc.errors[0]!.message}`);
      continue;
    }
    const js = doc.toJS() as unknown;
    if (js === null || js === undefined) continue;
    if (typeof js !== 'object' || Array.isArray(js)) {
      errors.push(`${source}: a YAML document that is not a Kubernetes object`);
      continue;
    }
    objects.push(js as K8sObject);
  }
  return { objects, errors };
}

export interface BuildResult {
  objects: K8sObject[];
  errors: string[];
  /** Source file of each object (repo-relative), same order as objects, when known. */
  files?: (string | undefined)[];
}

const ORIGIN = 'config.kubernetes.io/origin';

/** Removes kustomize's origin annotation; returns the file it names (absolute), if any. */
function takeOrigin(o: K8sObject, baseDir: string): string | undefined {
  const ann = o.metadata?.annotations;
  const raw = ann?.[ORIGIN];
  if (!ann || raw === undefined) return undefined;
  delete ann[ORIGIN];
  if (Object.keys(ann).length === 0) delete o.metadata!.annotations;
  const origin = (parseYaml(raw) ?? {}) as { path?: string; configuredIn?: string; repo?: string };
  if (origin.repo) return undefined;
  const p = origin.path ?? origin.configuredIn;
  return p ? resolve(baseDir, p) : undefined;
}

/**
 * Builds many directories at once: one kustomize run over a temporary kustomization that lists them all, with origin
 * annotations to give every object back to its directory and file (also one directory alone: a `namePrefix` or
 * `namespace:` leaves nothing else to find an object's file by). kustomize starts in ~0.2 s, so this turns N runs
 * into one. Falls back to one build per directory when the combined build fails or an object cannot be traced
 * to exactly one directory (a shared base, the same object in two directories): the per-directory errors are the
 * precise ones.
 */
export async function buildPaths(dirs: string[], exec: Exec, root: string, which = onPath): Promise<Map<string, BuildResult>> {
  const results = new Map<string, BuildResult>();
  const withFile = dirs.filter((d) => existsSync(d) && statSync(d).isDirectory() && hasKustomizationFile(d));
  const rest = dirs.filter((d) => !withFile.includes(d));
  if (withFile.length > 0) {
    const tmp = mkdtempSync(join(tmpdir(), 'validate-kustomize-'));
    try {
      const entries = withFile.map((d) => relative(tmp, d));
      writeFileSync(
        join(tmp, 'kustomization.yaml'),
        ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'buildMetadata: [originAnnotations]', 'resources:', ...entries.map((e) => `  - ${JSON.stringify(e)}`), ''].join('\n'),
      );
      const res = await exec(kustomizeArgv(tmp, which));
      if (res.ok) {
        const parsed = parseManifests(res.stdout, 'combined build');
        const owner = (file: string | undefined) => {
          if (!file) return undefined;
          const hits = withFile.filter((d) => file.startsWith(d + sep));
          return hits.length === 1 ? hits[0] : undefined;
        };
        const split = new Map<string, BuildResult>(withFile.map((d) => [d, { objects: [], errors: [], files: [] }]));
        let traced = parsed.errors.length === 0;
        for (const o of parsed.objects) {
          const file = takeOrigin(o, tmp);
          const dir = owner(file);
          if (!dir) {
            traced = false;
            break;
          }
          const r = split.get(dir)!;
          r.objects.push(o);
          r.files!.push(relative(root, file!));
        }
        if (traced) for (const [d, r] of split) results.set(d, r);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const todo = [...rest, ...withFile.filter((d) => !results.has(d))];
  const single = await pool(todo, 2, (d) => buildPath(d, exec, root, which));
  todo.forEach((d, i) => results.set(d, single[i]!));
  return results;
}

/** Builds one directory as kustomize-controller would. `dir` is absolute. */
export async function buildPath(dir: string, exec: Exec, root: string, which = onPath): Promise<BuildResult> {
  const rel = relative(root, dir) || '.';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return { objects: [], errors: [`${rel}: path does not exist`] };
  if (hasKustomizationFile(dir)) {
    const res = await exec(kustomizeArgv(dir, which));
    if (!res.ok) {
      const msg = res.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit ${res.exitCode}`;
      return { objects: [], errors: [`${rel}: kustomize build failed: ${msg.replace(/^.*?err="?/, '').replace(/"$/, '')}`] };
    }
    return parseManifests(res.stdout, rel);
  }
  // Flux's generated kustomization: every manifest below, subdirectories with a kustomization file as units.
  const out: BuildResult & { files: (string | undefined)[] } = { objects: [], errors: [], files: [] };
  const add = (r: BuildResult, file?: string) => {
    out.objects.push(...r.objects);
    out.errors.push(...r.errors);
    out.files.push(...r.objects.map((_, i) => file ?? r.files?.[i]));
  };
  const walk = async (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name.startsWith('.')) continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        if (hasKustomizationFile(p)) add((await buildPaths([p], exec, root, which)).get(p)!);
        else await walk(p);
      } else if (/\.ya?ml$/.test(name)) add(parseManifests(readFileSync(p, 'utf8'), relative(root, p)), relative(root, p));
    }
  };
  await walk(dir);
  return out;
}

/** Every YAML document under a directory, keyed for locating the file an object came from. */
export class SourceIndex {
  private byKey = new Map<string, string>();
  readonly files: { file: string; objects: K8sObject[] }[] = [];

  constructor(
    private root: string,
    dirs: string[],
  ) {
    for (const d of dirs) if (existsSync(join(root, d))) this.scan(join(root, d));
  }

  private scan(dir: string) {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || name === 'node_modules') continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) this.scan(p);
      else if (/\.ya?ml$/.test(name) && !KUSTOMIZATION_FILES.includes(name)) {
        const rel = relative(this.root, p);
        const { objects } = parseManifests(readFileSync(p, 'utf8'), rel);
        this.files.push({ file: rel, objects });
        for (const o of objects) {
          const kind = String(o.kind);
          const name2 = o.metadata?.name ?? '';
          const ns = o.metadata?.namespace;
          if (ns !== undefined && !this.byKey.has(`${kind}/${ns}/${name2}`)) this.byKey.set(`${kind}/${ns}/${name2}`, rel);
          if (!this.byKey.has(`${kind}//${name2}`)) this.byKey.set(`${kind}//${name2}`, rel);
        }
      }
    }
  }

  /** The file that declares an object (by kind, namespace and name; namespace-less declarations as fallback). */
  fileOf(o: K8sObject): string | undefined {
    const kind = String(o.kind);
    const name = o.metadata?.name ?? '';
    return this.byKey.get(`${kind}/${o.metadata?.namespace ?? ''}/${name}`) ?? this.byKey.get(`${kind}//${name}`);
  }
}

/** Runs async jobs with at most `limit` at a time, results in input order. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
