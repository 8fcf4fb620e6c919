// What Flux does with the repository: flux-system itself, then the Flux Kustomizations that the flux-system
// Kustomization applies — exactly what a kustomize build of its path produces — and then each of those reconciled on
// its own path, built here with the real `kubectl kustomize` (its embedded kustomize is the library
// kustomize-controller builds with).
//
// Follows flux v2.7.3 (kustomize-controller v1.7.2, fluxcd/pkg kustomize v1.23.0 and envsubst v1.5.0):
// - fluxcd/flux2 pkg/manifestgen/sync/sync.go: the flux-system Kustomization the bootstrap commits (path ./<--path>,
//   interval 10m0s, prune, sourceRef GitRepository flux-system).
// - fluxcd/kustomize-controller internal/controller/kustomization_controller.go reconcile/generate/build: the path is
//   built from the source artifact (the pushed branch, not a working copy); a missing path is "kustomization path
//   not found: …" (ArtifactFailed), a path without a kustomization.yaml gets a generated one (fluxcd/pkg kustomize
//   kustomize_generator.go), a failing build is "kustomize build failed: …" and a failing postBuild "post build
//   failed for …" (BuildFailed). dependsOn and health checks are world.mjs's.
// Builds are cached in the lab directory per source state and path: the git tree id of the path's top directory
// (kubernetes/) on the origin branch, or (without an origin) the sizes and mtimes of its files in repoDir. Only that
// top directory is taken from the source: a build whose kustomization reaches outside it is not simulated.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { ToolExit, writeJsonAtomic, snapshot, transact } from './core.mjs';

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
function kustomizationsOfDocs(docs) {
  const found = [];
  for (const o of docs.filter((d) => d.object).map((d) => d.object)) {
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

const relOf = (p) => String(p ?? '').replace(/^\.\//, '').replace(/\/+$/, '') || '.';

/**
 * What Flux reads: the origin branch's commit when the lab has an origin (what was pushed), else repoDir as it is.
 * Only the top directory of a path (kubernetes/) is taken. `entries()` lists its files (git blob ids, or sizes and
 * mtimes) and `kustomizationFiles()` the text of its kustomization files, for pathKey(); `unpack` copies it out, as
 * source-controller's artifact is unpacked for each reconcile.
 */
function sourceOf({ repoDir, originDir, originBranch, commit: fixed }, top) {
  const lazy = (fn) => {
    let v;
    return () => (v ??= fn());
  };
  if (originDir) {
    const ref = `refs/heads/${originBranch ?? 'main'}`;
    const r = fixed ? { status: 0, stdout: fixed } : git(['--git-dir', originDir, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { encoding: 'utf8' });
    if (r.status !== 0) return { error: { reason: 'ArtifactFailed', message: `source 'GitRepository/flux-system/flux-system' not ready: no branch ${originBranch ?? 'main'} in ${originDir}` } };
    const commit = r.stdout.trim();
    const entries = lazy(() => {
      const ls = git(['--git-dir', originDir, 'ls-tree', '-r', '--full-tree', commit, '--', top], { encoding: 'utf8' });
      return new Map(ls.stdout.split('\n').filter(Boolean).map((l) => [l.slice(l.indexOf('\t') + 1), l.split(/\s+/)[2]]));
    });
    return {
      top,
      commit,
      key: `git:${commit}:${top}`,
      entries,
      kustomizationFiles: lazy(() => {
        const files = [...entries().keys()].filter((f) => KUSTOMIZATION_FILES.includes(path.posix.basename(f)));
        const out = new Map();
        if (!files.length) return out;
        const cat = git(['--git-dir', originDir, 'cat-file', '--batch'], { input: files.map((f) => `${entries().get(f)}\n`).join(''), encoding: 'latin1' });
        const buf = Buffer.from(cat.stdout, 'latin1');
        let at = 0;
        for (const f of files) {
          const nl = buf.indexOf(10, at);
          const size = Number(buf.subarray(at, nl).toString().split(' ')[2]);
          out.set(f, buf.subarray(nl + 1, nl + 1 + size).toString('utf8'));
          at = nl + 1 + size + 1;
        }
        return out;
      }),
      unpack: (dest) => {
        if (!entries().size) return;
        const archive = git(['--git-dir', originDir, 'archive', '--format=tar', commit, '--', top]);
        if (archive.status !== 0) throw new ToolExit(70, `lab: git archive of ${commit} in ${originDir} failed: ${archive.stderr}\n`);
        const untar = spawnSync('tar', ['-x', '-C', dest], { input: archive.stdout, maxBuffer: 64 * 1024 * 1024 });
        if (untar.status !== 0) throw new ToolExit(70, `lab: unpacking ${commit} failed: ${untar.stderr}\n`);
      },
    };
  }
  const abs = path.resolve(repoDir);
  const entries = lazy(() => {
    const out = new Map();
    const walk = (d) => {
      let list = [];
      try {
        list = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of list) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else {
          const st = fs.statSync(p, { throwIfNoEntry: false });
          if (st) out.set(path.relative(abs, p).split(path.sep).join('/'), `${st.size}:${st.mtimeMs}`);
        }
      }
    };
    walk(path.join(abs, top));
    return out;
  });
  return {
    top,
    key: `work-tree:${abs}:${top}:${createHash('sha256').update([...entries()].sort().join('\n')).digest('hex')}`,
    entries,
    kustomizationFiles: lazy(() => new Map([...entries().keys()].filter((f) => KUSTOMIZATION_FILES.includes(path.posix.basename(f))).map((f) => [f, fs.readFileSync(path.join(abs, f), 'utf8')]))),
    unpack: (dest) => {
      if (fs.existsSync(path.join(abs, top))) fs.cpSync(path.join(abs, top), path.join(dest, top), { recursive: true });
    },
  };
}

/**
 * What a path's build reads, as a cache key: its files and those its kustomization files reach with ../ (followed
 * further), by content. A push that changes other paths (a sealed file) leaves its cached build valid.
 */
function pathKey(source, rel) {
  const entries = source.entries();
  const kfiles = source.kustomizationFiles();
  const under = (dir) => [...entries.keys()].filter((f) => f === dir || f.startsWith(`${dir}/`));
  const dirs = new Set([rel]);
  const todo = [rel];
  while (todo.length) {
    const dir = todo.pop();
    for (const f of under(dir)) {
      if (!kfiles.has(f)) continue;
      for (const line of kfiles.get(f).split('\n')) {
        const code = line.replace(/(^|\s)#.*$/, '');
        for (const m of code.matchAll(/\.\.\/[^\s'",\]}]*/g)) {
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), m[0])).replace(/\/+$/, '');
          if ([...dirs].some((d) => target === d || target.startsWith(`${d}/`))) continue;
          dirs.add(target);
          todo.push(target);
        }
      }
    }
  }
  const h = createHash('sha256').update(`${rel}\n`);
  for (const d of [...dirs].sort()) for (const f of under(d).sort()) h.update(`${f}\0${entries.get(f)}\n`);
  return `${source.top}:${rel}:${h.digest('hex')}`;
}

/** The source unpacked (once per source state and process); removed when the process exits. */
const unpacked = new Map();
function rootOf(source) {
  if (unpacked.has(source.key)) return unpacked.get(source.key);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-flux-source-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  source.unpack(dir);
  unpacked.set(source.key, dir);
  return dir;
}

/**
 * fluxcd/pkg kustomize v1.23.0 kustomize_generator.go generateKustomization: a path without a kustomization file gets
 * one listing every .yaml/.yml file below it (each must decode as Kubernetes YAML) and every sub-directory that has
 * its own kustomization file (not descended into). Returns the file written, for CleanDirectory to remove.
 */
function generateKustomization(dir, parseAll) {
  if (KUSTOMIZATION_FILES.some((f) => fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.isFile())) return undefined;
  const resources = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (KUSTOMIZATION_FILES.some((f) => fs.statSync(path.join(p, f), { throwIfNoEntry: false })?.isFile())) resources.push(p);
        else walk(p);
        continue;
      }
      if (!/\.ya?ml$/.test(e.name)) continue;
      for (const doc of parseAll(fs.readFileSync(p, 'utf8'))) {
        const o = doc.toJS?.();
        if (doc.errors?.length || (o != null && (typeof o !== 'object' || !o.kind || !o.apiVersion))) {
          throw Object.assign(new Error(`failed to decode Kubernetes YAML from ${p}: ${doc.errors?.[0]?.message ?? 'missing apiVersion or kind'}`), { flux: true });
        }
      }
      resources.push(p);
    }
  };
  walk(dir);
  const file = path.join(dir, 'kustomization.yaml');
  const list = resources.map((r) => `- ${JSON.stringify(`.${r.slice(dir.length)}`)}`).join('\n');
  fs.writeFileSync(file, `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:${list ? `\n${list}` : ' []'}\n`);
  return file;
}

const hasKustomizationFile = (dir) => KUSTOMIZATION_FILES.some((f) => fs.statSync(path.join(dir, f), { throwIfNoEntry: false })?.isFile());

/**
 * Runs the real `kubectl kustomize` on dirs, up to 4 at a time (kustomize-controller's --concurrent default), and
 * returns { output } or { error } for each.
 */
function kustomizeAll(dirs) {
  if (!dirs.length) return [];
  try {
    fs.accessSync(REAL_KUBECTL, fs.constants.X_OK);
  } catch (err) {
    throw new ToolExit(127, `lab: the Flux path is built with the real \`kubectl kustomize\` (${REAL_KUBECTL}; set LAB_REAL_KUBECTL, .ci/run installs kubectl) and it cannot run: ${err.message}\n`);
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-kustomize-'));
  try {
    const script = 'k="$1"; o="$2"; shift 2; i=0; for d in "$@"; do ("$k" kustomize --load-restrictor=LoadRestrictionsNone "$d" >"$o/$i.out" 2>"$o/$i.err"; echo $? >"$o/$i.rc") & i=$((i+1)); [ $((i % 4)) -eq 0 ] && wait; done; wait';
    const res = spawnSync('sh', ['-c', script, 'sh', REAL_KUBECTL, out, ...dirs], { stdio: 'ignore' });
    if (res.error) throw new ToolExit(70, `lab: running kubectl kustomize failed: ${res.error.message}\n`);
    return dirs.map((_, i) => {
      const rc = fs.readFileSync(path.join(out, `${i}.rc`), 'utf8').trim();
      if (rc !== '0') return { error: { reason: 'BuildFailed', message: `kustomize build failed: ${fs.readFileSync(path.join(out, `${i}.err`), 'utf8').trim().replace(/^Error: /, '')}` } };
      return { output: fs.readFileSync(path.join(out, `${i}.out`), 'utf8') };
    });
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/**
 * kustomize-controller v1.7.2 (Flux v2.7.3) internal/controller/kustomization_controller.go reconcile: the path is
 * joined to the unpacked artifact ("kustomization path not found: …", ArtifactFailed), a kustomization.yaml is
 * generated where there is none (generate, BuildFailed on error), then built with fluxcd/pkg/kustomize SecureBuild —
 * krusty with LoadRestrictionsNone — here the real `kubectl kustomize` ("kustomize build failed: …", BuildFailed).
 * Paths with their own kustomization file are built together; those that need a generated one one by one, so that
 * no other build sees the generated file (CleanDirectory removes it after).
 */
function runKustomize(root, rels, parseAll) {
  const results = new Map();
  const direct = [];
  const generated = [];
  for (const rel of rels) {
    const dir = path.join(root, rel);
    if (!fs.existsSync(dir)) results.set(rel, { error: { reason: 'ArtifactFailed', message: `kustomization path not found: stat ${dir}: no such file or directory` } });
    else (hasKustomizationFile(dir) ? direct : generated).push(rel);
  }
  kustomizeAll(direct.map((rel) => path.join(root, rel))).forEach((r, i) => results.set(direct[i], r));
  for (const rel of generated) {
    const dir = path.join(root, rel);
    let file;
    try {
      file = generateKustomization(dir, parseAll);
      results.set(rel, kustomizeAll([dir])[0]);
    } catch (err) {
      if (!err.flux) throw err;
      results.set(rel, { error: { reason: 'BuildFailed', message: err.message } });
    } finally {
      if (file) fs.rmSync(file, { force: true });
    }
  }
  return results;
}

/** A build's documents: the object's identity (and ConfigMap/Secret data, for postBuild) plus its YAML text. */
function documentsOf(output, parseAll) {
  const docs = [];
  for (const d of parseAll(output)) {
    const o = d.toJS();
    if (!o || typeof o !== 'object') continue;
    docs.push({
      apiVersion: String(o.apiVersion ?? ''),
      kind: String(o.kind ?? ''),
      name: o.metadata?.name,
      namespace: o.metadata?.namespace,
      labels: o.metadata?.labels ?? {},
      annotations: o.metadata?.annotations ?? {},
      ...(o.kind === 'ConfigMap' ? { data: o.data ?? {} } : {}),
      ...(o.kind === 'Secret' ? { data: { ...Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString('utf8')])), ...(o.stringData ?? {}) } } : {}),
      ...(o.kind === 'Kustomization' && String(o.apiVersion ?? '').startsWith('kustomize.toolkit.fluxcd.io/') ? { object: o } : {}),
      text: d.toString(),
    });
  }
  return docs;
}

// Within one process (a test creating many labs on the same tree) a path's content is built once.
const memo = new Map();

/** Builds paths of a source state, each cached in cacheDir by pathKey: Map rel → { docs } or { error }. */
export function buildPaths(source, rels, cacheDir, parseAll) {
  const results = new Map();
  const misses = [];
  for (const rel of new Set(rels)) {
    const key = pathKey(source, rel);
    const file = path.join(cacheDir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
    let hit = memo.get(key);
    if (!hit) {
      try {
        hit = JSON.parse(fs.readFileSync(file, 'utf8'));
        memo.set(key, hit);
      } catch {
        /* not built yet */
      }
    }
    if (hit) results.set(rel, hit);
    else misses.push({ rel, key, file });
  }
  if (!misses.length) return results;
  const t0 = Date.now();
  const built = runKustomize(rootOf(source), misses.map((m) => m.rel), parseAll);
  if (process.env.LAB_FLUX_TRACE) fs.appendFileSync(process.env.LAB_FLUX_TRACE, `build ${process.pid} ${misses.length} ${Date.now() - t0}ms ${misses.map((m) => m.rel).join(' ')}\n`);
  fs.mkdirSync(cacheDir, { recursive: true });
  for (const m of misses) {
    const b = built.get(m.rel);
    const result = b.error ? { error: b.error } : { docs: documentsOf(b.output, parseAll) };
    writeJsonAtomic(m.file, result);
    memo.set(m.key, result);
    results.set(m.rel, result);
  }
  return results;
}

/**
 * Builds <fluxPath> as kustomize-controller does and returns { kustomizations, docs } or { error: { reason, message } }.
 */
export function buildFluxPath({ repoDir, fluxPath, originDir, originBranch, commit }, cacheDir, parseAll) {
  const rel = relOf(fluxPath);
  const source = sourceOf({ repoDir, originDir, originBranch, commit }, rel.split('/')[0]);
  if (source.error) return { error: source.error };
  const built = buildPaths(source, [rel], cacheDir, parseAll).get(rel);
  if (built.error) return { error: built.error };
  return { kustomizations: kustomizationsOfDocs(built.docs), docs: built.docs, source };
}

// ---------------------------------------------------------------------------------------------------------------
// postBuild: variable substitution

/**
 * Flux's envsubst (fluxcd/pkg envsubst v1.5.0, a fork of drone/envsubst: parse/scan.go, parse/parse.go, template.go,
 * funcs.go) for the forms this lab meets: `${VAR}`, the default forms `${VAR:=d}` `${VAR:-d}` `${VAR=d}` (toDefault:
 * the default whenever the value is empty; it may hold further `${…}`), `$$` → `$` (so `$${VAR}` stays literal), and
 * `$VAR` untouched. A name that is not letters, digits and _ (`${.Env.X}`) is "unable to parse variable name"; an
 * unclosed `${` is "missing closing brace". lookup(name) gives the value or undefined; `strict` is the feature gate
 * StrictPostBuildSubstitutions (default false in kustomize-controller v1.7.2 internal/features/features.go: then an
 * undefined variable is the empty string — kustomize_varsub.go varSubstitution maps every name to (vars[s], true)).
 * Returns { output, unset: names substituted empty }; throws Error(message) as envsubst fails.
 */
export function envsubst(text, lookup, strict = false) {
  const unset = [];
  const ident = /[\p{L}\p{N}_]+/uy;
  const value = (name) => lookup(name);
  // Text up to the end (or, inside a default, up to its closing brace).
  const textAt = (i, inDefault) => {
    let out = '';
    while (i < text.length) {
      const c = text[i];
      if (inDefault && c === '}') return [out, i];
      if (c === '$' && text[i + 1] === '$') {
        out += '$';
        i += 2;
        continue;
      }
      if (c === '$' && text[i + 1] === '{') {
        const [v, j] = funcAt(i + 2);
        out += v;
        i = j;
        continue;
      }
      out += c;
      i += 1;
    }
    if (inDefault) throw new Error('missing closing brace');
    return [out, i];
  };
  const funcAt = (i) => {
    ident.lastIndex = i;
    const m = ident.exec(text);
    if (!m) throw new Error('unable to parse variable name');
    const name = m[0];
    let j = i + name.length;
    const v = value(name);
    if (text[j] === '}') {
      if (v === undefined) {
        if (strict) throw new Error(`variable not set (strict mode): ${JSON.stringify(name)}`);
        unset.push(name);
      }
      return [v ?? '', j + 1];
    }
    const op = text[j] === ':' && '=-?+'.includes(text[j + 1] ?? 'x') ? 2 : text[j] === '=' ? 1 : 0;
    if (!op && !',^/#%:'.includes(text[j] ?? '}')) throw new Error('missing closing brace');
    if (!op) {
      throw Object.assign(new Error(`lab: \${${name}${text.slice(j, j + 8)}…}: this envsubst form (substring, case, replace, length) is not simulated; see test/lab/README.md`), { lab: true });
    }
    const [d, end] = textAt(j + op, true);
    return [v ? v : d, end + 1];
  };
  const [output] = textAt(0, false);
  return { output, unset: [...new Set(unset)] };
}

const VARSUB_NAME = /^[_\p{L}][_\p{L}\p{N}]*$/u;
const gvkOf = (d) => {
  const [g, v] = d.apiVersion.includes('/') ? d.apiVersion.split('/') : ['', d.apiVersion];
  return `${d.kind || '[noKind]'}.${v || '[noVer]'}.${g || '[noGrp]'}`;
};

/**
 * kustomize-controller v1.7.2 build(): with spec.postBuild set, each built resource goes through fluxcd/pkg kustomize
 * v1.23.0 kustomize_varsub.go SubstituteVariables — skipped for one labelled or annotated
 * kustomize.toolkit.fluxcd.io/substitute: disabled; vars from spec.postBuild.substituteFrom (ConfigMap/Secret in the
 * Kustomization's namespace; a missing one fails unless optional), then spec.postBuild.substitute over them; no vars
 * at all → nothing substituted. Errors read "post build failed for '<Kind.version.group>/<name>': …" (BuildFailed).
 * `objects(kind, ns, name)` gives { data } of a ConfigMap/Secret in the cluster, or undefined.
 * Returns { unset } (variables that became empty) or { error }.
 */
export function postBuild(k, docs, objects, strict = false) {
  const pb = k.spec?.postBuild;
  if (!pb) return { unset: [] };
  const unset = new Set();
  for (const d of docs) {
    const disabled = (m) => m?.['kustomize.toolkit.fluxcd.io/substitute'] === 'disabled';
    if (disabled(d.labels) || disabled(d.annotations)) continue;
    const fail = (message) => ({ error: { reason: 'BuildFailed', message: `post build failed for '${gvkOf(d)}/${d.name}': ${message}` } });
    const vars = new Map();
    for (const ref of pb.substituteFrom ?? []) {
      const o = objects(ref.kind, k.namespace, ref.name);
      if (!o) {
        if (ref.optional) continue;
        return fail(`substitute from '${ref.kind}/${ref.name}' error: ${ref.kind === 'Secret' ? 'secrets' : 'configmaps'} "${ref.name}" not found`);
      }
      for (const [key, v] of Object.entries(o.data ?? {})) vars.set(key, String(v).replaceAll('\n', ''));
    }
    for (const [key, v] of Object.entries(pb.substitute ?? {})) vars.set(key, String(v).replaceAll('\n', ''));
    if (!vars.size) continue;
    for (const name of vars.keys()) {
      if (!VARSUB_NAME.test(name)) return fail(`envsubst error: '${name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'`);
    }
    try {
      for (const u of envsubst(d.text, (n) => vars.get(n), strict).unset) unset.add(u);
    } catch (err) {
      if (err.lab) throw new ToolExit(70, `${err.message}\n`);
      return fail(`envsubst error: variable substitution failed: ${err.message}`);
    }
  }
  return { unset: [...unset].sort() };
}

// ---------------------------------------------------------------------------------------------------------------

const idOf = (kind, ns, name) => `${kind}/${ns ?? ''}/${name}`;

/**
 * Every Kustomization `flux bootstrap` makes appear: { kustomizations: [flux-system, …] } with the lab config's
 * explicit list, else those of the build of the Flux path; { error } when that build fails (Flux keeps what it had).
 * With `paths` (the fake flux), each Kustomization of the build is reconciled as kustomize-controller would: its own
 * spec.path built from the same source (buildError when that fails), its postBuild substituted (postBuild()), what it
 * applies (`inventory`, "Kind/namespace/name"; a SealedSecret gives its Secret: the sealed-secrets controller
 * unseals it), the ConfigMaps/Secrets its substituteFrom reads (`needs`: the Kustomizations that apply them must be
 * Ready first) and the Secret health checks (`healthSecrets`, awaited in world.mjs). Other health check kinds and
 * HelmReleases are not simulated: they count as healthy once applied.
 */
export function kustomizationsFor(lab, fluxPath, cacheDir, parseAll, { paths = false, strictSubstitutions = false } = {}) {
  const root = fluxSystemKustomization(fluxPath);
  if (lab.kustomizations) return { kustomizations: [root, ...explicitKustomizations(lab.kustomizations)] };
  const built = buildFluxPath({ ...lab, fluxPath }, cacheDir, parseAll);
  if (built.error) return { error: built.error };
  const ks = [root, ...built.kustomizations];
  if (!paths) return { kustomizations: ks, commit: built.source.commit ?? null };
  const builds = new Map([['flux-system/flux-system', built]]);
  // Each path is taken from the same commit, its own top directory unpacked (a build reaching out of it is not
  // simulated: kustomize's error says what it misses).
  const sources = new Map([[built.source.top, built.source]]);
  const wanted = new Map();
  for (const k of built.kustomizations) {
    const src = k.spec?.sourceRef ?? {};
    if (src.kind !== 'GitRepository' || src.name !== 'flux-system' || (src.namespace ?? k.namespace) !== 'flux-system') continue;
    const rel = relOf(k.spec?.path);
    const top = rel.split('/')[0];
    if (!sources.has(top)) sources.set(top, sourceOf({ ...lab, commit: built.source.commit }, top));
    wanted.set(`${k.namespace}/${k.name}`, { top, rel });
  }
  for (const [top, source] of sources) {
    const rels = [...wanted.values()].filter((w) => w.top === top).map((w) => w.rel);
    const got = buildPaths(source, rels, cacheDir, parseAll);
    for (const [kid, w] of wanted) if (w.top === top) builds.set(kid, got.get(w.rel));
  }
  // Who applies what: Kustomization id by object id.
  const appliedBy = new Map();
  const data = new Map();
  for (const [kid, b] of builds) {
    for (const d of b.docs ?? []) {
      const ns = d.namespace ?? (['ConfigMap', 'Secret', 'SealedSecret'].includes(d.kind) ? 'default' : undefined);
      const kind = d.kind === 'SealedSecret' ? 'Secret' : d.kind;
      appliedBy.set(idOf(kind, ns, d.name), kid);
      if (d.data) data.set(idOf(kind, ns, d.name), { data: d.data, by: kid });
    }
  }
  for (const k of ks) {
    const kid = `${k.namespace}/${k.name}`;
    const b = builds.get(kid);
    if (!b) continue;
    if (b.error) {
      k.buildError = b.error;
      continue;
    }
    k.inventory = (b.docs ?? []).map((d) => idOf(d.kind, d.namespace, d.name));
    if (kid === 'flux-system/flux-system') continue;
    // What is in the cluster when it builds: what others apply (its own objects are applied only after the build).
    const objects = (kind, ns, name) => {
      const o = data.get(idOf(kind, ns, name));
      return o && o.by !== kid ? o : undefined;
    };
    // A substituteFrom object that another Kustomization applies: until that one is Ready, postBuild fails as it
    // would without the object (the message is that failure's).
    k.needs = [];
    for (const r of k.spec?.postBuild?.substituteFrom ?? []) {
      const id = idOf(r.kind, k.namespace, r.name);
      const by = appliedBy.get(id);
      if (!by || by === kid || k.needs.some((n) => n.by === by)) continue;
      const without = postBuild(k, b.docs ?? [], (kind, ns, name) => (idOf(kind, ns, name) === id ? undefined : objects(kind, ns, name)), strictSubstitutions);
      if (without.error) k.needs.push({ by, message: without.error.message });
    }
    const pb = postBuild(k, b.docs ?? [], objects, strictSubstitutions);
    if (pb.error) k.buildError = pb.error;
    else if (pb.unset.length) k.unsetVars = pb.unset;
    k.healthSecrets = (k.spec?.healthChecks ?? [])
      .filter((h) => h.kind === 'Secret' && (h.apiVersion ?? 'v1') === 'v1')
      .map((h) => ({ id: idOf('Secret', h.namespace ?? k.namespace, h.name), by: appliedBy.get(idOf('Secret', h.namespace ?? k.namespace, h.name)) ?? null }));
  }
  return { kustomizations: ks, commit: built.source.commit ?? null };
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

// ---------------------------------------------------------------------------------------------------------------
// The Kustomizations of a new source revision

/** The fields a Kustomization's own reconcile (kustomizationsFor with paths) sets. */
const BUILD_FIELDS = ['builtFrom', 'inventory', 'needs', 'healthSecrets', 'unsetVars', 'buildError'];

/**
 * Merges a new build of the Flux path into the known Kustomizations (after `flux bootstrap` and `flux reconcile`),
 * keeping the status and the last build of ones that stay: a Ready one stays Ready through a new revision until its
 * own build says otherwise (reconcileFlux). A failed build changes nothing applied: flux-system turns Ready False with
 * the build's reason (kustomize-controller). With a build (not the lab's explicit list), `pendingPaths` asks
 * reconcileFlux to build each Kustomization's own path of that revision.
 */
export function refreshKustomizations(fx, found, now, explicit) {
  const prev = new Map(fx.kustomizations.map((k) => [`${k.namespace}/${k.name}`, k]));
  if (found.error) {
    let root = prev.get('flux-system/flux-system');
    if (!root) {
      root = { ...fluxSystemKustomization(fx.path), appliedAt: now };
      fx.kustomizations.unshift(root);
    }
    Object.assign(root, { buildError: found.error, readyAt: null });
    return;
  }
  fx.kustomizations = found.kustomizations.map((k) => {
    const p = prev.get(`${k.namespace}/${k.name}`);
    const root = k.name === 'flux-system' && k.namespace === 'flux-system';
    const kept = p && !root ? Object.fromEntries(BUILD_FIELDS.filter((f) => f in p).map((f) => [f, p[f]])) : {};
    if (p && !(root ? p.buildError : kept.buildError) && JSON.stringify(p.dependsOn) === JSON.stringify(k.dependsOn)) {
      return { ...k, ...kept, suspended: p.suspended, appliedAt: p.appliedAt, readyAt: p.readyAt };
    }
    return { ...k, ...kept, ...(p ? { suspended: p.suspended } : {}), appliedAt: now, readyAt: null };
  });
  fx.sourceCommit = found.commit ?? null;
  if (explicit) delete fx.pendingPaths;
  else fx.pendingPaths = `${now}:${fx.sourceCommit ?? 'work-tree'}`;
}

/**
 * kustomize-controller's work on a new revision, done on the next look at the Kustomizations (kubectl/flux get,
 * reconcile, lab.state()): each one's path built from that revision (kustomizationsFor with paths), outside the
 * lock, then merged. One whose build now fails turns Ready False; one that builds again after failing starts over.
 * `seen`: a state just read, to skip the read when nothing is pending. Returns whether it merged anything.
 */
export function reconcileFlux(dir, seen) {
  if (seen && !seen.flux?.pendingPaths) return false;
  const { st, lab } = snapshot(dir);
  const fx = st.flux;
  if (!fx?.pendingPaths) return false;
  const t0 = Date.now();
  const parseAll = createRequire(import.meta.url)('yaml').parseAllDocuments;
  const found = kustomizationsFor({ ...lab, originBranch: fx.branch ?? lab.originBranch, commit: fx.sourceCommit ?? undefined }, fx.path ?? lab.fluxPath, path.join(dir, 'flux-builds'), parseAll, {
    paths: true,
    strictSubstitutions: lab.strictPostBuildSubstitutions === true,
  });
  if (process.env.LAB_FLUX_TRACE) fs.appendFileSync(process.env.LAB_FLUX_TRACE, `reconcile ${process.pid} ${Date.now() - t0}ms\n`);
  transact((s, _l, now) => {
    const f = s.flux;
    if (!f || f.pendingPaths !== fx.pendingPaths) return;
    delete f.pendingPaths;
    if (found.error) return;
    const byId = new Map(found.kustomizations.map((k) => [`${k.namespace}/${k.name}`, k]));
    for (const k of f.kustomizations) {
      const b = byId.get(`${k.namespace}/${k.name}`);
      if (!b || (k.name === 'flux-system' && k.namespace === 'flux-system')) continue;
      const failedBefore = !!k.buildError;
      for (const field of BUILD_FIELDS) delete k[field];
      for (const field of BUILD_FIELDS) if (field in b) k[field] = b[field];
      k.builtFrom = f.sourceCommit ?? 'work-tree';
      if (k.buildError) k.readyAt = null;
      else if (failedBefore) Object.assign(k, { appliedAt: now, readyAt: null });
    }
  }, dir);
  return true;
}
