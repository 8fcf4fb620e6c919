import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { DEFER_LABEL, FLUX_NAMESPACE } from '../flux/kustomizations.ts';
import { buildPaths, type Exec, type SourceIndex } from './kustomize.ts';
import { describe, namespaceOf, type Finding, type K8sObject } from './model.ts';
import { substitute, substitutionDisabled, varsUsed } from './substitute.ts';

// The Flux tree of each cluster, loaded the way Flux reconciles it: the flux-system Kustomization (made by `flux
// bootstrap --path kubernetes/clusters/<name>`) applies that directory; every Kustomization found there applies its
// own path after postBuild substitution; and so on. Then the checks that need the whole tree: graph (dependsOn,
// sourceRef, cycles), Kustomization settings, pinned versions, deferred waits, substitution variables, plaintext
// Secrets.

const KS_GROUP = 'kustomize.toolkit.fluxcd.io';
const HR_GROUP = 'helm.toolkit.fluxcd.io';
const SOURCE_KINDS = new Set(['GitRepository', 'HelmRepository', 'OCIRepository', 'Bucket', 'HelmChart', 'ExternalArtifact']);

export interface FluxKustomization {
  /** namespace/name */
  id: string;
  obj: K8sObject;
  /** File that declares it (undefined for the bootstrap's flux-system Kustomization). */
  file?: string;
  /** Made by `flux bootstrap`, not declared in the tree. */
  bootstrap: boolean;
  deferred: boolean;
  built: boolean;
}

export interface AppliedObject {
  obj: K8sObject;
  /** id of the Kustomization that applies it */
  by: string;
  file?: string;
}

export interface ClusterTree {
  cluster: string;
  kustomizations: Map<string, FluxKustomization>;
  objects: AppliedObject[];
}

export function clusterNames(root: string): string[] {
  const dir = join(root, 'kubernetes', 'clusters');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isDirectory())
    .sort();
}

function isGroup(o: K8sObject, group: string): boolean {
  return typeof o.apiVersion === 'string' && o.apiVersion.startsWith(`${group}/`);
}
export const isKustomization = (o: K8sObject) => o.kind === 'Kustomization' && isGroup(o, KS_GROUP);
export const isHelmRelease = (o: K8sObject) => o.kind === 'HelmRelease' && isGroup(o, HR_GROUP);
const isSource = (o: K8sObject) => SOURCE_KINDS.has(String(o.kind)) && isGroup(o, 'source.toolkit.fluxcd.io');
const isPlainSecret = (o: K8sObject) => o.kind === 'Secret' && o.apiVersion === 'v1';

function id(o: K8sObject): string {
  return `${o.metadata?.namespace ?? FLUX_NAMESPACE}/${o.metadata?.name ?? ''}`;
}

function spec(o: K8sObject): Record<string, unknown> {
  return (o.spec ?? {}) as Record<string, unknown>;
}

type Ref = { kind?: string; name?: string; namespace?: string; apiVersion?: string };

/** The bootstrap's own objects the tree may refer to (gotk-sync.yaml). */
export function bootstrapObjects(cluster: string): K8sObject[] {
  return [
    {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: 'flux-system', namespace: FLUX_NAMESPACE },
      spec: { interval: '1m', url: 'ssh://git@github.com/<owner>/<repository>', ref: { branch: 'main' } },
    },
    {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: 'flux-system', namespace: FLUX_NAMESPACE },
      spec: { interval: '10m', path: `./kubernetes/clusters/${cluster}`, prune: true, sourceRef: { kind: 'GitRepository', name: 'flux-system' } },
    },
  ];
}

export interface LoadOptions {
  exec: Exec;
  index: SourceIndex;
}

/** Loads one cluster's Flux tree; problems found on the way (build errors, substitution) go to `findings`. */
export async function loadCluster(root: string, cluster: string, o: LoadOptions, findings: Finding[]): Promise<ClusterTree> {
  const tree: ClusterTree = { cluster, kustomizations: new Map(), objects: [] };
  const [, rootKs] = bootstrapObjects(cluster) as [K8sObject, K8sObject];
  tree.kustomizations.set(id(rootKs), { id: id(rootKs), obj: rootKs, bootstrap: true, deferred: false, built: false });
  let level = [id(rootKs)];
  while (level.length) {
    const dirOf = (ksId: string) => join(root, String(spec(tree.kustomizations.get(ksId)!.obj).path ?? '').replace(/^\.\//, ''));
    const results = await buildPaths([...new Set(level.map(dirOf))], o.exec, root);
    const next: string[] = [];
    for (const ksId of level) {
      const ks = tree.kustomizations.get(ksId)!;
      const res = results.get(dirOf(ksId))!;
      ks.built = true;
      for (const e of res.errors) findings.push({ check: 'kustomize', file: ks.file, object: describe(ks.obj), message: e });
      // Each Kustomization substitutes its own copy (two may build the same path with different variables).
      const files = res.files ?? [];
      const objects = applySubstitution(tree, ks, structuredClone(res.objects), o.index, findings, files);
      for (const [i, obj] of objects.entries()) {
        const file = files[i] ?? o.index.fileOf(obj);
        tree.objects.push({ obj, by: ks.id, ...(file ? { file } : {}) });
        if (!isKustomization(obj)) continue;
        const child: FluxKustomization = {
          id: id(obj),
          obj,
          ...(file ? { file } : {}),
          bootstrap: false,
          deferred: obj.metadata?.labels?.[DEFER_LABEL] === 'verify',
          built: false,
        };
        if (tree.kustomizations.has(child.id)) continue; // duplicates are an ownership conflict, reported there
        tree.kustomizations.set(child.id, child);
        const src = (spec(obj).sourceRef ?? {}) as Ref;
        // Only this repository can be built offline; other sources are checked for existence and pinning.
        if (src.kind === 'GitRepository' && src.name === 'flux-system' && (src.namespace ?? child.id.split('/')[0]) === FLUX_NAMESPACE) next.push(child.id);
        else {
          findings.push({
            check: 'kustomize',
            level: 'warning',
            ...(file ? { file } : {}),
            object: describe(obj),
            message: `reads ${src.kind ?? '?'} ${src.name ?? '?'}, not this repository: its content cannot be built offline (only its source and pin are checked)`,
          });
        }
      }
    }
    level = next;
  }
  return tree;
}

/** Flux postBuild substitution of one Kustomization's objects; reports undefined variables. */
function applySubstitution(tree: ClusterTree, ks: FluxKustomization, objects: K8sObject[], index: SourceIndex, findings: Finding[], files: (string | undefined)[]): K8sObject[] {
  const post = spec(ks.obj).postBuild as { substitute?: Record<string, string>; substituteFrom?: { kind?: string; name?: string; optional?: boolean }[] } | undefined;
  const fileOf = new Map(objects.map((obj, i) => [obj, files[i] ?? index.fileOf(obj)]));
  const where = (obj: K8sObject) => ({ file: fileOf.get(obj), object: describe(obj) });
  if (!post) {
    for (const obj of objects) {
      if (substitutionDisabled(obj)) continue;
      const names = [...new Set(varsUsed(stringify(obj)).map((v) => v.name))].filter((n) => /^[A-Z][A-Z0-9_]*$/.test(n));
      for (const n of names) {
        findings.push({
          check: 'substitution',
          ...where(obj),
          message: `uses \${${n}} but Kustomization ${ks.id} has no postBuild.substituteFrom: the text would reach the cluster unsubstituted`,
        });
      }
    }
    return objects;
  }
  const vars: Record<string, string> = {};
  for (const from of post.substituteFrom ?? []) {
    const ns = ks.obj.metadata?.namespace ?? FLUX_NAMESPACE;
    const found = tree.objects.find((a) => a.obj.kind === from.kind && a.obj.metadata?.name === from.name && namespaceOf(a.obj) === ns);
    if (!found) {
      if (!from.optional) {
        findings.push({ check: 'substitution', file: ks.file, object: describe(ks.obj), message: `postBuild.substituteFrom ${from.kind} ${ns}/${from.name} is not applied before this Kustomization (no such object in the tree)` });
      }
      continue;
    }
    const data = (found.obj.data ?? found.obj.stringData ?? {}) as Record<string, string>;
    Object.assign(vars, from.kind === 'Secret' && found.obj.data ? decodeAll(data) : data);
  }
  Object.assign(vars, post.substitute ?? {});
  return objects.map((obj) => {
    if (substitutionDisabled(obj)) return obj;
    const text = stringify(obj, { lineWidth: 0 });
    const missing = [...new Set(varsUsed(text).filter((v) => !v.hasDefault && vars[v.name] === undefined).map((v) => v.name))];
    for (const n of missing) {
      findings.push({
        check: 'substitution',
        ...where(obj),
        message: `uses \${${n}}, which ${describeSources(post)} does not define (Flux would substitute an empty string)`,
      });
    }
    try {
      return parseYaml(substitute(text, vars)) as K8sObject;
    } catch (err) {
      findings.push({ check: 'substitution', ...where(obj), message: `is not valid YAML after substitution: ${(err as Error).message}` });
      return obj;
    }
  });
}

function decodeAll(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

function describeSources(post: { substitute?: unknown; substituteFrom?: { kind?: string; name?: string }[] }): string {
  const parts = (post.substituteFrom ?? []).map((f) => `${f.kind} ${f.name}`);
  if (post.substitute) parts.push('postBuild.substitute');
  return parts.join(' + ') || 'postBuild';
}

// ------------------------------------------------------------------------------------------------------------------

/** The Kustomizations one depends on, as namespace/name. */
export function ksDeps(ks: FluxKustomization): string[] {
  const ns = ks.obj.metadata?.namespace ?? FLUX_NAMESPACE;
  return ((spec(ks.obj).dependsOn ?? []) as Ref[]).map((d) => `${d.namespace ?? ns}/${d.name}`);
}

export function helmReleases(tree: ClusterTree): AppliedObject[] {
  return tree.objects.filter((a) => isHelmRelease(a.obj));
}

/** A HelmRelease as namespace/name, the way dependsOn names it. */
export function hrId(o: K8sObject): string {
  return `${namespaceOf(o)}/${o.metadata?.name ?? ''}`;
}

/** The HelmReleases one depends on, as namespace/name. */
export function hrDeps(o: K8sObject): string[] {
  const ns = namespaceOf(o);
  return ((spec(o).dependsOn ?? []) as Ref[]).map((d) => `${d.namespace ?? ns}/${d.name}`);
}

/** Cycles in a dependency map (node → dependencies), each as a path a → b → … → a. */
export function findCycles(deps: Map<string, string[]>): string[][] {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'visiting');
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      if (!deps.has(d)) continue;
      if (state.get(d) === 'visiting') cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...deps.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

const EXACT_VERSION = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

function sourceKey(kind: string, ns: string, name: string): string {
  return `${kind}/${ns}/${name}`;
}

/** All checks that need the loaded tree. */
export function checkTree(tree: ClusterTree, root: string, findings: Finding[]): void {
  const add = (f: Omit<Finding, 'check'>, check: Finding['check']) => findings.push({ ...f, check });
  const sources = new Map<string, K8sObject>();
  for (const o of bootstrapObjects(tree.cluster)) if (isSource(o)) sources.set(sourceKey(String(o.kind), namespaceOf(o), o.metadata!.name!), o);
  for (const a of tree.objects) if (isSource(a.obj)) sources.set(sourceKey(String(a.obj.kind), namespaceOf(a.obj), a.obj.metadata?.name ?? ''), a.obj);

  // Kustomizations: settings, sourceRef, dependsOn
  const ksDepMap = new Map<string, string[]>();
  for (const ks of tree.kustomizations.values()) {
    ksDepMap.set(ks.id, ks.bootstrap ? [] : ksDeps(ks));
    if (ks.bootstrap) continue;
    const s = spec(ks.obj);
    const at = { file: ks.file, object: describe(ks.obj) };
    if (!s.interval) add({ ...at, message: 'has no spec.interval' }, 'flux-settings');
    if (s.prune !== true) add({ ...at, message: 'must set spec.prune: true (objects removed from git are then removed from the cluster)' }, 'flux-settings');
    if (!s.timeout) add({ ...at, message: 'has no spec.timeout (how long to wait for health before failing)' }, 'flux-settings');
    const checks = Array.isArray(s.healthChecks) ? s.healthChecks.length : 0;
    if (s.wait !== true && checks === 0) add({ ...at, message: 'needs spec.wait: true or spec.healthChecks: otherwise it is Ready before what it applies is, and dependsOn means nothing' }, 'flux-settings');
    if (s.wait === true && checks > 0) add({ ...at, message: 'sets both wait: true and healthChecks; Flux ignores healthChecks when wait is true' }, 'flux-settings');
    if (typeof s.path !== 'string' || !s.path) add({ ...at, message: 'has no spec.path' }, 'flux-settings');
    else if (ks.built && !existsSync(join(root, s.path))) add({ ...at, message: `spec.path ${s.path} does not exist in the repository` }, 'flux-settings');
    const src = (s.sourceRef ?? {}) as Ref;
    const srcNs = src.namespace ?? ks.obj.metadata?.namespace ?? FLUX_NAMESPACE;
    if (!src.kind || !src.name) add({ ...at, message: 'has no spec.sourceRef' }, 'flux-graph');
    else if (!sources.has(sourceKey(src.kind, srcNs, src.name))) add({ ...at, message: `sourceRef ${src.kind} ${srcNs}/${src.name} does not exist in the tree` }, 'flux-graph');
    for (const d of ksDeps(ks)) {
      if (!tree.kustomizations.has(d)) add({ ...at, message: `dependsOn ${d}: no Kustomization with that name in the tree` }, 'flux-graph');
    }
  }
  for (const cycle of findCycles(ksDepMap)) {
    const first = tree.kustomizations.get(cycle[0]!)!;
    add({ file: first.file, object: describe(first.obj), message: `dependsOn cycle: ${cycle.join(' → ')} (none of them can ever become ready)` }, 'flux-graph');
  }
  // Deferred (bootstrap.home-ops/wait=verify) must be closed under dependency: the gitops phase waits for every
  // non-deferred Kustomization, so one depending on a deferred one would stall it.
  const deferredBecause = (start: string): string | undefined => {
    const seen = new Set<string>();
    const todo = [...(ksDepMap.get(start) ?? [])];
    while (todo.length) {
      const n = todo.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      if (tree.kustomizations.get(n)?.deferred) return n;
      todo.push(...(ksDepMap.get(n) ?? []));
    }
    return undefined;
  };
  for (const ks of tree.kustomizations.values()) {
    if (ks.bootstrap || ks.deferred) continue;
    const because = deferredBecause(ks.id);
    if (because) {
      add(
        { file: ks.file, object: describe(ks.obj), message: `depends on ${because}, which is labelled ${DEFER_LABEL}=verify: label this one too, or the bootstrap's gitops phase waits for it in vain` },
        'flux-settings',
      );
    }
  }

  // HelmReleases: chart source, pinning, dependsOn
  const hrs = helmReleases(tree);
  const hrIds = new Set(hrs.map((a) => hrId(a.obj)));
  const hrDepMap = new Map<string, string[]>();
  for (const a of hrs) {
    const o = a.obj;
    const at = { file: a.file, object: describe(o) };
    hrDepMap.set(hrId(o), hrDeps(o));
    for (const d of hrDeps(o)) if (!hrIds.has(d)) add({ ...at, message: `dependsOn ${d}: no HelmRelease with that name in the tree` }, 'flux-graph');
    const s = spec(o);
    const chart = (s.chart as { spec?: { chart?: string; version?: string; sourceRef?: Ref } } | undefined)?.spec;
    const chartRef = s.chartRef as Ref | undefined;
    if (chart) {
      const ref = chart.sourceRef ?? {};
      const ns = ref.namespace ?? namespaceOf(o);
      if (!sources.has(sourceKey(String(ref.kind), ns, String(ref.name)))) add({ ...at, message: `chart sourceRef ${ref.kind} ${ns}/${ref.name} does not exist in the tree` }, 'flux-graph');
      if (!chart.version) add({ ...at, message: `chart ${chart.chart} has no version: Flux would install whatever is latest` }, 'pinned-versions');
      else if (!EXACT_VERSION.test(chart.version)) add({ ...at, message: `chart ${chart.chart} version "${chart.version}" is a range, not a pinned version` }, 'pinned-versions');
    } else if (chartRef) {
      const ns = chartRef.namespace ?? namespaceOf(o);
      if (!sources.has(sourceKey(String(chartRef.kind), ns, String(chartRef.name)))) add({ ...at, message: `chartRef ${chartRef.kind} ${ns}/${chartRef.name} does not exist in the tree` }, 'flux-graph');
    } else add({ ...at, message: 'has neither spec.chart nor spec.chartRef' }, 'flux-graph');
  }
  for (const cycle of findCycles(hrDepMap)) {
    const a = hrs.find((h) => hrId(h.obj) === cycle[0]);
    add({ file: a?.file, object: a ? describe(a.obj) : cycle[0], message: `HelmRelease dependsOn cycle: ${cycle.join(' → ')}` }, 'flux-graph');
  }

  // Sources: pinned
  for (const a of tree.objects) {
    if (!isSource(a.obj)) continue;
    const o = a.obj;
    const at = { file: a.file, object: describe(o) };
    const ref = (spec(o).ref ?? {}) as { tag?: string; digest?: string; semver?: string; commit?: string; branch?: string; name?: string };
    if (o.kind === 'OCIRepository') {
      if (ref.digest) continue;
      if (ref.semver && EXACT_VERSION.test(ref.semver)) continue;
      if (!ref.tag && !ref.semver) add({ ...at, message: 'has no ref: Flux pulls the "latest" tag' }, 'pinned-versions');
      else if (ref.semver) add({ ...at, message: `ref.semver "${ref.semver}" is a range, not a pinned version` }, 'pinned-versions');
      else if (ref.tag === 'latest' || !/\d/.test(ref.tag!)) add({ ...at, message: `ref.tag "${ref.tag}" moves: pin a version or a digest` }, 'pinned-versions');
    } else if (o.kind === 'GitRepository') {
      if (ref.commit || ref.tag || (ref.semver && EXACT_VERSION.test(ref.semver))) continue;
      add({ ...at, message: `follows ${ref.branch ? `branch ${ref.branch}` : ref.name ? `ref ${ref.name}` : 'the default branch'}: pin a tag or commit` }, 'pinned-versions');
    } else if (o.kind === 'HelmChart') {
      const v = spec(o).version as string | undefined;
      if (!v || !EXACT_VERSION.test(v)) add({ ...at, message: `version "${v ?? ''}" is not a pinned version` }, 'pinned-versions');
    }
  }

  // Container images: a tag or digest, never "latest" (chart defaults are pinned by the chart version).
  for (const a of tree.objects) {
    if (isSource(a.obj)) continue; // their refs are checked above
    for (const p of floatingImages(a.obj)) add({ file: a.file, object: describe(a.obj), message: p }, 'pinned-versions');
  }

  // No plaintext Secrets: everything secret arrives as a SealedSecret or an ExternalSecret.
  for (const a of tree.objects) {
    if (isPlainSecret(a.obj)) {
      add(
        { file: a.file, object: describe(a.obj), message: `plaintext Secret applied by Kustomization ${a.by}: seal it (kubeseal --cert kubernetes/clusters/${tree.cluster}/sealed-secrets-cert.pem) or read it from Vault with an ExternalSecret` },
        'plaintext-secret',
      );
    }
  }
}

/** `image: nginx`, `image: x:latest`, `tag: latest` anywhere in an object (HelmRelease values included). */
export function floatingImages(obj: unknown, path = ''): string[] {
  if (Array.isArray(obj)) return obj.flatMap((v, i) => floatingImages(v, `${path}[${i}]`));
  if (!obj || typeof obj !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const p = path ? `${path}.${k}` : k;
    if (k === 'image' && typeof v === 'string' && !v.includes('${')) {
      const last = v.slice(v.lastIndexOf('/') + 1);
      if (!v.includes('@sha256:') && (!last.includes(':') || last.endsWith(':latest'))) out.push(`${p}: image "${v}" has no pinned tag or digest`);
    } else if (k === 'tag' && v === 'latest') out.push(`${p}: tag "latest" moves: pin a version`);
    else out.push(...floatingImages(v, p));
  }
  return out;
}

/**
 * Plaintext Secrets anywhere under kubernetes/, even in files no Kustomization applies (they are in git all the same).
 * Those a tree applies are reported by checkTree already: kustomize applies a resource file whole, so a file with an
 * applied plaintext Secret has all its Secrets applied (whatever `namespace:`, `namePrefix:` or `nameSuffix:` made of
 * their names), and the file is skipped here.
 */
export function checkSecretFiles(index: SourceIndex, trees: ClusterTree[], findings: Finding[]): void {
  const reported = new Set(trees.flatMap((t) => t.objects.filter((a) => isPlainSecret(a.obj)).map((a) => a.file)));
  for (const f of index.files) {
    for (const o of f.objects) {
      if (!isPlainSecret(o)) continue;
      if (reported.has(f.file)) continue;
      findings.push({ check: 'plaintext-secret', file: f.file, object: describe(o), message: 'plaintext Secret committed to git: use a SealedSecret or an ExternalSecret' });
    }
  }
}
