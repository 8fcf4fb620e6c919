// Fake flux CLI (v2.x): bootstrap github, check [--pre], get kustomizations|sources git, reconcile, suspend/resume,
// uninstall, version. Kustomizations come from a real `kubectl kustomize` build of the Flux path (fluxrepo.mjs) in the
// lab's repository stand-in, or the lab config's explicit list, and turn Ready in dependsOn order; those of a build
// are each reconciled on their own path (built, postBuild substituted, Secret health checks awaited; world.mjs).
// All progress goes to stderr with flux's glyphs (► ✚ ◎ ✔ ✗). See test/lab/README.md.
// Follows flux v2.7.3: fluxcd/flux2 cmd/flux/{bootstrap_github,check,get_kustomization,get_source_git,reconcile,
// suspend,resume,uninstall,version}.go; readiness texts from fluxcd/kustomize-controller kustomization_controller.go.
// Flags are cobra/pflag's: an undeclared one fails with `✗ unknown flag: --x` (flux prints errors with ✗), exit 1.
import path from 'node:path';
import { main, parseArgs, fail, transact, snapshot, sleep, parseDuration, waitBudget, yaml, readStdin, ToolExit, tabbed, labDir } from './lib/core.mjs';
import { loadKubeconfig, apiAccess, dialError } from './lib/kube.mjs';
import { kustomizationStatus, hexId, fluxUp } from './lib/world.mjs';
import { kustomizationsFor, refreshKustomizations, reconcileFlux } from './lib/fluxrepo.mjs';
import { FLUX_CONTROLLERS, FLUX_CRDS } from './lib/objects.mjs';

const FLUX_VERSION = process.env.LAB_FLUX_VERSION ?? 'v2.7.3';

const SPEC = {
  owner: { type: 'string' }, repository: { type: 'string' }, branch: { type: 'string' }, path: { type: 'string' },
  personal: { type: 'bool' }, private: { type: 'bool' }, 'token-auth': { type: 'bool' }, 'read-write-key': { type: 'bool' },
  reconcile: { type: 'bool' }, 'components-extra': { type: 'slice' }, components: { type: 'slice' }, hostname: { type: 'string' },
  interval: { type: 'string' }, 'author-name': { type: 'string' }, 'author-email': { type: 'string' }, force: { type: 'bool' },
  version: { short: 'v', type: 'string' }, timeout: { type: 'string' }, namespace: { short: 'n', type: 'string' },
  kubeconfig: { type: 'string' }, context: { type: 'string' }, silent: { short: 's', type: 'bool' }, 'network-policy': { type: 'bool' },
  'all-namespaces': { short: 'A', type: 'bool' }, 'no-header': { type: 'bool' }, 'status-selector': { type: 'string' },
  'label-selector': { short: 'l', type: 'string' }, 'with-source': { type: 'bool' }, all: { type: 'bool' }, pre: { type: 'bool' },
  client: { type: 'bool' }, 'keep-namespace': { type: 'bool' }, watch: { short: 'w', type: 'bool' }, team: { type: 'array' },
  'ssh-key-algorithm': { type: 'string' }, 'commit-message-appendix': { type: 'string' }, 'cluster-domain': { type: 'string' },
  'log-level': { type: 'string' }, wait: { type: 'bool' }, verbose: { type: 'bool' }, 'cache-dir': { type: 'string' }, 'kube-api-qps': { type: 'string' },
};

const MIN_K8S = { 'v2.5': '1.30', 'v2.6': '1.31', 'v2.7': '1.32', 'v2.8': '1.33', 'v2.9': '1.33' };

async function access(flags) {
  const kc = await loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags.context });
  if (kc.error) fail(`✗ ${kc.error.replace(/^error: /, '')}`);
  const { st, lab, now } = snapshot();
  const a = apiAccess(st, lab, now, kc);
  if (!a.ok) fail(`✗ ${dialError(a, '/api?timeout=32s')}`);
  return kc;
}

/** The flux-system Kustomization's build of its path (fluxrepo.mjs), cached in the lab directory. */
async function discover(lab, fluxPath, branch) {
  const parseAll = lab.kustomizations ? undefined : (await yaml()).parseAllDocuments;
  // The GitRepository follows the bootstrap's --branch on the origin.
  return kustomizationsFor({ ...lab, originBranch: branch ?? lab.originBranch }, fluxPath, path.join(labDir(), 'flux-builds'), parseAll);
}

/** A new build of the Flux path merged into the known Kustomizations (fluxrepo.mjs refreshKustomizations). */
function refresh(fx, found, now, lab) {
  refreshKustomizations(fx, found, now, !!lab.kustomizations);
  fx.perPath = !lab.kustomizations;
}

async function waitFor(lab, flags, what, pred) {
  const deadline = Date.now() + waitBudget(lab, parseDuration(flags.timeout, 5 * 60000));
  for (;;) {
    const { st, now } = snapshot();
    const r = pred(st, now);
    if (r) return r;
    if (Date.now() >= deadline) fail(`✗ timeout waiting for: [${what} status: 'InProgress']`);
    await sleep(20);
  }
}

// A Kustomization whose build failed ends the wait with its message: flux2 v2.7.3 pkg/bootstrap/bootstrap_plain_git.go
// kustomizationReconciled (and cmd/flux/reconcile.go) return Ready=False's message as the error, printed after ✗.
function ksReady(lab, ns, name) {
  return (st, now) => {
    const k = st.flux?.kustomizations.find((x) => x.name === name && x.namespace === ns);
    if (!k) return undefined;
    const s = kustomizationStatus(st, lab, k, now);
    if (k.buildError && s?.ready === 'False') fail(`✗ ${s.message}`);
    return s?.ready === 'True' ? s : undefined;
  };
}

async function bootstrapGithub(flags, lab, io) {
  for (const f of ['owner', 'repository']) if (!flags[f]) fail(`✗ --${f} is required`);
  let token = process.env.GITHUB_TOKEN;
  if (!token) {
    io.err('Please enter your GitHub personal access token (PAT): ');
    token = (await readStdin(500)).split('\n')[0].trim();
    if (!token) fail('\n✗ could not read token: EOF');
  }
  await access(flags);
  const branch = flags.branch ?? 'main';
  const fluxPath = (flags.path ?? '').replace(/^\.\//, '');
  const host = flags.hostname ?? 'github.com';
  const url = flags['token-auth'] ? `https://${host}/${flags.owner}/${flags.repository}.git` : `ssh://git@${host}/${flags.owner}/${flags.repository}`;
  const found = await discover(lab, fluxPath, branch);
  const second = transact((st, _l, now) => {
    const again = !!st.flux;
    if (!st.flux) {
      st.flux = { bootstrappedAt: now, controllersReadyAt: null, bootstrapCount: 0, kustomizations: [] };
    }
    const fx = st.flux;
    Object.assign(fx, { owner: flags.owner, repository: flags.repository, branch, path: fluxPath, url, tokenAuth: !!flags['token-auth'], version: flags.version ?? FLUX_VERSION, revision: fx.revision ?? hexId(`rev:${now}`).padEnd(40, '0') });
    fx.bootstrapCount += 1;
    refresh(fx, found, now, lab);
    return again;
  });
  const e = (l) => io.err(`${l}\n`);
  const repoUrl = `https://${host}/${flags.owner}/${flags.repository}.git`;
  // A second bootstrap finds its manifests committed already and pushes nothing.
  const commitManifests = (what, id) => {
    if (second) return e(`✔ ${what} manifests are up to date`);
    e(`✔ committed ${what} manifests to "${branch}" ("${hexId(id).padEnd(40, '0')}")`);
    e(`► pushing ${what} manifests to "${repoUrl}"`);
  };
  e(`► connecting to ${host}`);
  e(`► cloning branch "${branch}" from Git repository "${repoUrl}"`);
  e('✔ cloned repository');
  e('► generating component manifests');
  e('✔ generated component manifests');
  commitManifests('component', 'c1');
  e('► installing components in "flux-system" namespace');
  e('✔ installed components');
  e('✔ reconciled components');
  e('► determining if source secret "flux-system/flux-system" exists');
  if (second) e('✔ source secret up to date');
  else {
    e('► generating source secret');
    if (!flags['token-auth']) {
      e('✔ public key: ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBLabLabLab');
      e(`✔ configured deploy key "flux-system-${branch}-flux-system-./${fluxPath}" for "https://${host}/${flags.owner}/${flags.repository}"`);
    }
    e('► applying source secret "flux-system/flux-system"');
    e('✔ reconciled source secret');
  }
  e('► generating sync manifests');
  e('✔ generated sync manifests');
  commitManifests('sync', 'c2');
  e('► applying sync manifests');
  e('✔ reconciled sync configuration');
  e('◎ waiting for GitRepository "flux-system/flux-system" to be reconciled');
  await waitFor(lab, flags, 'GitRepository/flux-system/flux-system', (st, now) => fluxUp(st, now));
  e('✔ GitRepository reconciled successfully');
  e('◎ waiting for Kustomization "flux-system/flux-system" to be reconciled');
  await waitFor(lab, flags, 'Kustomization/flux-system/flux-system', ksReady(lab, 'flux-system', 'flux-system'));
  e('✔ Kustomization reconciled successfully');
  e('► confirming components are healthy');
  for (const c of FLUX_CONTROLLERS) e(`✔ ${c}: deployment ready`);
  e('✔ all components are healthy');
}

async function check(flags, lab, io) {
  await access(flags);
  const { st, now } = snapshot();
  const e = (l) => io.err(`${l}\n`);
  const k8s = String(st.k8sVersion ?? lab.kubernetesVersion).replace(/^v/, '');
  const minor = FLUX_VERSION.split('.').slice(0, 2).join('.');
  const min = MIN_K8S[minor] ?? '1.32';
  e('► checking prerequisites');
  const cmp = (a, b) => a.split('.').map(Number).reduce((acc, x, i) => acc || x - (b.split('.').map(Number)[i] ?? 0), 0);
  if (cmp(k8s, min) < 0) {
    e(`✗ Kubernetes version v${k8s} does not match >=${min}.0-0`);
    throw new ToolExit(1, '');
  }
  e(`✔ Kubernetes ${k8s} >=${min}.0-0`);
  if (flags.pre) {
    e('✔ prerequisites checks passed');
    return;
  }
  e('► checking version in cluster');
  if (!st.flux) {
    e(`✗ no controllers found in the 'flux-system' namespace with the label selector 'app.kubernetes.io/part-of=flux'`);
    throw new ToolExit(1, '');
  }
  e(`✔ distribution: flux-${st.flux.version ?? FLUX_VERSION}`);
  e('✔ bootstrapped: true');
  e('► checking controllers');
  const up = fluxUp(st, now);
  for (const c of FLUX_CONTROLLERS) e(up ? `✔ ${c}: deployment ready` : `✗ ${c}: deployment not ready`);
  if (!up) throw new ToolExit(1, '✗ check failed\n');
  for (const c of FLUX_CONTROLLERS) e(`► ghcr.io/fluxcd/${c}:${st.flux.version ?? FLUX_VERSION}`);
  e('► checking crds');
  for (const c of FLUX_CRDS) e(`✔ ${c}/v1`);
  e('✔ all checks passed');
}

async function get(flags, args, lab, io) {
  await access(flags);
  let { st, now } = snapshot();
  if (reconcileFlux(labDir(), st)) ({ st, now } = snapshot());
  const what = args[0];
  const ns = flags.namespace ?? 'flux-system';
  const all = !!flags['all-namespaces'];
  if (what === 'sources' || what === 'source') {
    if (args[1] !== 'git') fail(`lab: flux get sources ${args[1]} is not simulated`, 64);
    if (!st.flux) fail(`✗ no GitRepository objects found in "${ns}" namespace`);
    const up = fluxUp(st, now);
    const rows = [[...(all ? ['NAMESPACE'] : []), 'NAME', 'REVISION', 'SUSPENDED', 'READY', 'MESSAGE'], [...(all ? ['flux-system'] : []), 'flux-system', up ? `${st.flux.branch}@sha1:${st.flux.revision.slice(0, 8)}` : '', 'False', up ? 'True' : 'Unknown', up ? `stored artifact for revision '${st.flux.branch}@sha1:${st.flux.revision.slice(0, 8)}'` : 'waiting to be reconciled']];
    io.out(tabbed(flags['no-header'] ? rows.slice(1) : rows));
    return;
  }
  if (!['kustomizations', 'kustomization', 'ks'].includes(what)) fail(`lab: flux get ${what} is not simulated (kustomizations, sources git)`, 64);
  if (!st.flux) fail(`✗ no Kustomization objects found in "${ns}" namespace`);
  let ks = st.flux.kustomizations.filter((k) => (all || k.namespace === ns) && (!args[1] || k.name === args[1]));
  if (args[1] && !ks.length) fail(`✗ Kustomization.kustomize.toolkit.fluxcd.io "${args[1]}" not found`);
  const rows = ks.map((k) => {
    const s = kustomizationStatus(st, lab, k, now);
    const ready = s?.ready ?? 'False';
    const message = s?.message ?? 'waiting to be reconciled';
    return { k, ready, cells: [...(all ? [k.namespace] : []), k.name, s?.ready === 'True' ? `${st.flux.branch}@sha1:${st.flux.revision.slice(0, 8)}` : '', k.suspended ? 'True' : 'False', ready, message] };
  });
  const sel = flags['status-selector'];
  const filtered = sel ? rows.filter((r) => `ready=${r.ready.toLowerCase()}` === sel.toLowerCase()) : rows;
  if (!filtered.length) {
    io.err(`✗ no Kustomization objects found in "${ns}" namespace\n`);
    return;
  }
  const header = [...(all ? ['NAMESPACE'] : []), 'NAME', 'REVISION', 'SUSPENDED', 'READY', 'MESSAGE'];
  io.out(tabbed(flags['no-header'] ? filtered.map((r) => r.cells) : [header, ...filtered.map((r) => r.cells)]));
}

async function reconcile(flags, args, lab, io) {
  await access(flags);
  const e = (l) => io.err(`${l}\n`);
  const ns = flags.namespace ?? 'flux-system';
  const kind = args[0];
  const { st: st0 } = snapshot();
  if (!st0.flux) fail(`✗ ${kind === 'source' ? 'GitRepository.source' : 'Kustomization.kustomize'}.toolkit.fluxcd.io "${args.at(-1)}" not found`);
  const found = await discover(lab, st0.flux.path ?? lab.fluxPath, st0.flux.branch);
  if (kind === 'source') {
    const name = args[2] ?? 'flux-system';
    e(`► annotating GitRepository ${name} in ${ns} namespace`);
    transact((st, _l, now) => refresh(st.flux, found, now, lab));
    e('✔ GitRepository annotated');
    e('◎ waiting for GitRepository reconciliation');
    await waitFor(lab, flags, `GitRepository/${ns}/${name}`, (st, now) => fluxUp(st, now));
    const { st } = snapshot();
    e(`✔ fetched revision ${st.flux.branch}@sha1:${st.flux.revision}`);
    return;
  }
  if (!['kustomization', 'ks'].includes(kind)) fail(`lab: flux reconcile ${kind} is not simulated`, 64);
  const name = args[1];
  const k0 = st0.flux.kustomizations.find((k) => k.name === name && k.namespace === ns);
  if (!k0) fail(`✗ Kustomization.kustomize.toolkit.fluxcd.io "${name}" not found`);
  if (k0.suspended) fail('✗ resource is suspended');
  if (flags['with-source']) {
    e(`► annotating GitRepository flux-system in ${ns} namespace`);
    e('✔ GitRepository annotated');
    e('◎ waiting for GitRepository reconciliation');
    e(`✔ fetched revision ${st0.flux.branch}@sha1:${st0.flux.revision}`);
  }
  transact((st, _l, now) => refresh(st.flux, found, now, lab));
  e(`► annotating Kustomization ${name} in ${ns} namespace`);
  e('✔ Kustomization annotated');
  e('◎ waiting for Kustomization reconciliation');
  reconcileFlux(labDir());
  await waitFor(lab, flags, `Kustomization/${ns}/${name}`, ksReady(lab, ns, name));
  const { st } = snapshot();
  e(`✔ applied revision ${st.flux.branch}@sha1:${st.flux.revision}`);
}

async function suspendResume(verb, flags, args, lab, io) {
  await access(flags);
  const e = (l) => io.err(`${l}\n`);
  const ns = flags.namespace ?? 'flux-system';
  if (['helmrelease', 'hr'].includes(args[0])) {
    const names = transact((st) => {
      const all = Object.entries(st.k8s.objects).filter(([k, o]) => k.startsWith('helmreleases.helm.toolkit.fluxcd.io/') && o.metadata.namespace === ns);
      const picked = all.filter(([, o]) => flags.all || args.slice(1).includes(o.metadata.name));
      for (const n of args.slice(1)) if (!picked.some(([, o]) => o.metadata.name === n)) fail(`✗ HelmRelease.helm.toolkit.fluxcd.io "${n}" not found`);
      if (!picked.length) fail(`✗ no HelmRelease objects found in "${ns}" namespace`);
      for (const [, o] of picked) o.spec = { ...(o.spec ?? {}), suspend: verb === 'suspend' };
      return picked.map(([, o]) => o.metadata.name);
    });
    for (const n of names) {
      e(`► ${verb === 'suspend' ? 'suspending' : 'resuming'} helmrelease ${n} in ${ns} namespace`);
      e(`✔ helmrelease ${verb === 'suspend' ? 'suspended' : 'resumed'}`);
    }
    return;
  }
  if (!['kustomization', 'ks'].includes(args[0])) fail(`lab: flux ${verb} ${args[0]} is not simulated`, 64);
  const names = transact((st, _l, now) => {
    if (!st.flux) fail(`✗ no Kustomization objects found in "${ns}" namespace`);
    const ks = st.flux.kustomizations.filter((k) => k.namespace === ns && (flags.all || args.slice(1).includes(k.name)));
    for (const n of args.slice(1)) if (!ks.some((k) => k.name === n)) fail(`✗ Kustomization.kustomize.toolkit.fluxcd.io "${n}" not found`);
    if (!ks.length) fail(`✗ no Kustomization objects found in "${ns}" namespace`);
    for (const k of ks) {
      if (verb === 'suspend') k.suspended = true;
      else {
        if (k.suspended && k.readyAt == null) k.appliedAt = now;
        k.suspended = false;
      }
    }
    return ks.map((k) => k.name);
  });
  for (const n of names) {
    e(`► ${verb === 'suspend' ? 'suspending' : 'resuming'} kustomization ${n} in ${ns} namespace`);
    e(`✔ kustomization ${verb === 'suspend' ? 'suspended' : 'resumed'}`);
  }
  // flux2 cmd/flux/resume.go: shouldReconcile = !Changed("wait") && len(args) == 1 || wait
  const shouldWait = flags.wait === true || (flags.wait === undefined && args.slice(1).length === 1);
  if (verb === 'resume' && shouldWait) {
    reconcileFlux(labDir());
    for (const n of names) {
      e('◎ waiting for Kustomization reconciliation');
      await waitFor(lab, flags, `Kustomization/${ns}/${n}`, ksReady(lab, ns, n));
      e(`✔ Kustomization ${n} reconciliation completed`);
    }
  }
}

main('flux', async (argv, io) => {
  const { flags, positionals, unknown } = parseArgs(argv, SPEC);
  const sub = positionals[0] ?? '';
  const args = positionals.slice(1);
  const cmd = ['bootstrap', 'get', 'reconcile', 'suspend', 'resume'].includes(sub) ? `${sub} ${args[0] ?? ''}`.trim() : sub;
  if (unknown.length) return { cmd, noFaults: true, run: async () => fail(`✗ unknown flag: ${unknown[0]}\n(lab: flag not simulated; see test/lab/README.md)`) };
  return {
    cmd,
    run: async () => {
      const lab = (await import('./lib/core.mjs')).loadLab();
      switch (sub) {
        case 'version':
          if (flags.client) io.out(`flux: ${FLUX_VERSION}\n`);
          else {
            io.out(`flux: ${FLUX_VERSION}\n`);
            await access(flags);
            const { st } = snapshot();
            if (!st.flux) fail('✗ no Flux installation found in the flux-system namespace');
            io.out(`distribution: flux-${st.flux.version ?? FLUX_VERSION}\n${FLUX_CONTROLLERS.map((c) => `${c}: ${st.flux.version ?? FLUX_VERSION}`).join('\n')}\n`);
          }
          return 0;
        case 'bootstrap':
          if (args[0] !== 'github') fail(`lab: flux bootstrap ${args[0]} is not simulated (github only)`, 64);
          await bootstrapGithub(flags, lab, io);
          return 0;
        case 'check':
          await check(flags, lab, io);
          return 0;
        case 'get':
          await get(flags, args, lab, io);
          return 0;
        case 'reconcile':
          await reconcile(flags, args, lab, io);
          return 0;
        case 'suspend':
        case 'resume':
          await suspendResume(sub, flags, args, lab, io);
          return 0;
        case 'uninstall': {
          await access(flags);
          transact((st) => {
            st.flux = null;
          });
          io.err('► deleting components in flux-system namespace\n✔ Deployment/flux-system/helm-controller deleted\n✔ Deployment/flux-system/kustomize-controller deleted\n✔ Deployment/flux-system/notification-controller deleted\n✔ Deployment/flux-system/source-controller deleted\n► deleting toolkit.fluxcd.io finalizers in all namespaces\n► deleting toolkit.fluxcd.io custom resource definitions\n✔ uninstall finished\n');
          return 0;
        }
        default:
          fail(`lab: flux ${sub} is not simulated (see test/lab/README.md)`, 64);
      }
      return 0;
    },
  };
});
