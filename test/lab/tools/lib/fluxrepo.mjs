// What `flux bootstrap` makes appear: flux-system itself, then the Flux Kustomizations that the flux-system
// Kustomization applies — exactly what a kustomize build of its path produces, built here with the real
// `kubectl kustomize` (its embedded kustomize is the library kustomize-controller builds with).
//
// Follows flux v2.7.3:
// - fluxcd/flux2 pkg/manifestgen/sync/sync.go: the flux-system Kustomization the bootstrap commits (path ./<--path>,
//   interval 10m0s, prune, sourceRef GitRepository flux-system).
// - fluxcd/kustomize-controller v1.7 internal/controller/kustomization_controller.go (build): the path is built from
//   the source artifact (the pushed branch, not a working copy) with fluxcd/pkg/kustomize SecureBuild, i.e. krusty
//   with LoadRestrictionsNone inside the source root; a missing path is "kustomization path not found: …"
//   (ArtifactFailed), a failing build "kustomize build failed: …" (BuildFailed). The generated kustomization.yaml
//   for a path without one (fluxcd/pkg/kustomize kustomize_generator.go) is not simulated: the lab says so.
// The build is cached in the lab directory per source state: the commit of the origin branch, or (without an origin)
// the sizes and mtimes of the files under the path's top directory in repoDir. Only that top directory (kubernetes/)
// is taken from the commit: a path whose kustomizations reach outside it is not simulated (a clear build error).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ToolExit, writeJsonAtomic } from './core.mjs';

export const REAL_KUBECTL = process.env.LAB_REAL_KUBECTL ?? '/usr/bin/kubectl';

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

export function fluxSystemKustomization(fluxPath) {
  return {
    name: 'flux-system',
    namespace: 'flux-system',
    dependsOn: [],
    labels: {},
    spec: { interval: '10m0s', path: `./${fluxPath.replace(/^\.\//, '')}`, prune: true, sourceRef: { kind: 'GitRepository', name: 'flux-system' } },
    suspended: false,
  };
}

/** The Kustomizations the lab config names explicitly, normalised. */
export function explicitKustomizations(list) {
  return list.map((k) => ({
    name: k.name,
    namespace: k.namespace ?? 'flux-system',
    dependsOn: (k.dependsOn ?? []).map((d) => (d.includes('/') ? d : `${k.namespace ?? 'flux-system'}/${d}`)),
    labels: k.labels ?? {},
    ...(k.requires ? { requires: k.requires } : {}),
    spec: { interval: '10m0s', path: `./${k.name}`, prune: true, sourceRef: { kind: 'GitRepository', name: 'flux-system' } },
    suspended: false,
  }));
}

/** The Flux Kustomizations among the documents of a build's output (flux-system itself aside: the bootstrap owns it). */
export function kustomizationsOfBuild(text, parseAll) {
  const found = [];
  for (const d of parseAll(text)) {
    const o = d.toJS();
    if (!o || o.kind !== 'Kustomization' || !String(o.apiVersion ?? '').startsWith('kustomize.toolkit.fluxcd.io/')) continue;
    const ns = o.metadata?.namespace ?? 'flux-system';
    if (o.metadata?.name === 'flux-system' && ns === 'flux-system') continue;
    found.push({
      name: o.metadata?.name,
      namespace: ns,
      dependsOn: (o.spec?.dependsOn ?? []).map((x) => `${x.namespace ?? ns}/${x.name}`),
      labels: o.metadata?.labels ?? {},
      spec: o.spec ?? {},
      suspended: o.spec?.suspend === true,
    });
  }
  return found;
}

function git(args, opts = {}) {
  return spawnSync('git', args, { maxBuffer: 512 * 1024 * 1024, ...opts });
}

/** Sizes and mtimes of every file below dir: a key that changes when any of them does. */
function treeStamp(dir) {
  const h = createHash('sha256');
  const walk = (d) => {
    let entries = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = fs.statSync(p, { throwIfNoEntry: false });
        if (s) h.update(`${p}\0${s.size}\0${s.mtimeMs}\n`);
      }
    }
  };
  walk(dir);
  return h.digest('hex');
}

function runKustomize(root, rel) {
  const dir = path.join(root, rel);
  if (!fs.existsSync(dir)) {
    return { error: { reason: 'ArtifactFailed', message: `kustomization path not found: stat ${dir}: no such file or directory` } };
  }
  if (!KUSTOMIZATION_FILES.some((f) => fs.existsSync(path.join(dir, f)))) {
    throw new ToolExit(70, `lab: ${rel} has no kustomization.yaml; kustomize-controller would generate one (fluxcd/pkg/kustomize), which the lab does not simulate — \`task configure\` renders the cluster's entry\n`);
  }
  const res = spawnSync(REAL_KUBECTL, ['kustomize', '--load-restrictor=LoadRestrictionsNone', dir], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (res.error) {
    throw new ToolExit(127, `lab: the Flux path is built with the real \`kubectl kustomize\` (${REAL_KUBECTL}; set LAB_REAL_KUBECTL, .ci/run installs kubectl) and it cannot run: ${res.error.message}\n`);
  }
  if (res.status !== 0) return { error: { reason: 'BuildFailed', message: `kustomize build failed: ${res.stderr.trim().replace(/^Error: /, '')}` } };
  return { output: res.stdout };
}

// Within one process (a test creating many labs on the same tree) a source state is built once.
const memo = new Map();

/**
 * Builds <fluxPath> as kustomize-controller does and returns { kustomizations } or { error: { reason, message } }.
 * Source: the origin branch's commit when the lab has an origin (Flux reads what was pushed), else repoDir as it is.
 */
export function buildFluxPath({ repoDir, fluxPath, originDir, originBranch }, cacheDir, parseAll) {
  const rel = fluxPath.replace(/^\.\//, '').replace(/\/+$/, '');
  let key;
  let commit;
  if (originDir) {
    const ref = `refs/heads/${originBranch ?? 'main'}`;
    const r = git(['--git-dir', originDir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { encoding: 'utf8' });
    if (r.status !== 0) return { error: { reason: 'ArtifactFailed', message: `source 'GitRepository/flux-system/flux-system' not ready: no branch ${originBranch ?? 'main'} in ${originDir}` } };
    commit = r.stdout.trim();
    key = `commit:${commit}:${rel}`;
  } else {
    key = `tree:${path.resolve(repoDir)}:${rel}:${treeStamp(path.join(repoDir, rel.split('/')[0]))}`;
  }
  if (memo.has(key)) return memo.get(key);
  const file = path.join(cacheDir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  try {
    const cached = JSON.parse(fs.readFileSync(file, 'utf8'));
    memo.set(key, cached);
    return cached;
  } catch {
    /* not built yet */
  }
  let built;
  if (commit) {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-flux-source-'));
    try {
      const archive = git(['--git-dir', originDir, 'archive', '--format=tar', commit, '--', rel.split('/')[0]]);
      if (archive.status !== 0) throw new ToolExit(70, `lab: git archive of ${commit} in ${originDir} failed: ${archive.stderr}\n`);
      const untar = spawnSync('tar', ['-x', '-C', tmp], { input: archive.stdout });
      if (untar.status !== 0) throw new ToolExit(70, `lab: unpacking ${commit} failed: ${untar.stderr}\n`);
      built = runKustomize(tmp, rel);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } else {
    built = runKustomize(path.resolve(repoDir), rel);
  }
  const result = built.error ? { error: built.error } : { kustomizations: kustomizationsOfBuild(built.output, parseAll) };
  fs.mkdirSync(cacheDir, { recursive: true });
  writeJsonAtomic(file, result);
  memo.set(key, result);
  return result;
}

/**
 * Every Kustomization `flux bootstrap` makes appear: { kustomizations: [flux-system, …] } with the lab config's
 * explicit list, else those of the build of the Flux path; { error } when that build fails (Flux keeps what it had).
 */
export function kustomizationsFor(lab, fluxPath, cacheDir, parseAll) {
  const root = fluxSystemKustomization(fluxPath);
  if (lab.kustomizations) return { kustomizations: [root, ...explicitKustomizations(lab.kustomizations)] };
  const built = buildFluxPath({ ...lab, fluxPath }, cacheDir, parseAll);
  if (built.error) return { error: built.error };
  return { kustomizations: [root, ...built.kustomizations] };
}

/**
 * Longest dependsOn chain, in Kustomizations that become Ready one after another. As in world.mjs depsOf, every
 * Kustomization waits for flux-system (listed in dependsOn or not), and flux-system counts once.
 */
export function dependencyDepth(ks) {
  const ROOT = 'flux-system/flux-system';
  const byId = new Map(ks.map((k) => [`${k.namespace}/${k.name}`, k]));
  const memo = new Map();
  const depth = (id, seen = new Set()) => {
    if (memo.has(id)) return memo.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const deps = (byId.get(id)?.dependsOn ?? []).filter((x) => byId.has(x));
    if (id !== ROOT && !deps.includes(ROOT)) deps.push(ROOT);
    const d = 1 + Math.max(0, ...deps.map((x) => (x === ROOT && !byId.has(ROOT) ? 0 : depth(x, seen))));
    memo.set(id, d);
    return d;
  };
  // Without a flux-system entry in the list it is still there (flux bootstrap creates it): one more level.
  return (byId.has(ROOT) ? 0 : 1) + Math.max(0, ...ks.map((k) => depth(`${k.namespace}/${k.name}`)));
}
