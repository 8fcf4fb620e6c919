// What `flux bootstrap` makes appear: the Kustomization documents under <repoDir>/<path> (the lab's stand-in for
// the GitHub repository), plus flux-system itself. Kustomizations anywhere below the path are found (real Flux only
// applies what the flux-system kustomize build reaches; the lab approximates that by the directory).
import fs from 'node:fs';
import path from 'node:path';

function walk(dir, out = []) {
  let entries = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out;
}

/** parseAll: the `yaml` package's parseAllDocuments (passed in so this module has no import cost). */
export function discoverKustomizations(repoDir, fluxPath, parseAll) {
  const root = path.resolve(repoDir, fluxPath.replace(/^\.\//, ''));
  const found = [];
  for (const file of walk(root).sort()) {
    let docs;
    try {
      docs = parseAll(fs.readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    for (const d of docs) {
      let o;
      try {
        o = d.toJS();
      } catch {
        continue;
      }
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
        file: path.relative(repoDir, file),
      });
    }
  }
  return found;
}

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

/**
 * Every Kustomization `flux bootstrap` makes appear: flux-system, then the lab config's explicit list or, without
 * one, those discovered under repoDir/fluxPath (parseAll is needed only then).
 */
export function kustomizationsFor(explicit, repoDir, fluxPath, parseAll) {
  const root = fluxSystemKustomization(fluxPath);
  if (explicit) return [root, ...explicitKustomizations(explicit)];
  return [root, ...discoverKustomizations(repoDir, fluxPath, parseAll)];
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
