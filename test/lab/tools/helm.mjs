// Fake helm (v3): upgrade --install / install / status / list / get values / uninstall / repo add|update / version /
// template. Releases live in the simulated cluster; installing kube-system/cilium brings the CNI (nodes turn Ready
// cniReady ms later). See test/lab/README.md.
// Follows helm v3.19.0: helm/helm cmd/helm/{upgrade,install,status,list,get_values,uninstall,repo_add,template}.go and
// pkg/action; flags are cobra/pflag's: an undeclared one fails with `Error: unknown flag: --x`, exit 1.
import fs from 'node:fs';
import { main, parseArgs, fail, transact, snapshot, sleep, parseDuration, waitBudget, table, tabbed, yaml } from './lib/core.mjs';
import { loadKubeconfig, apiAccess, dialError } from './lib/kube.mjs';
import { namespaces, store, RESOURCES } from './lib/objects.mjs';
import { k8sNodes } from './lib/world.mjs';

const SPEC = {
  namespace: { short: 'n', type: 'string' }, kubeconfig: { type: 'string' }, 'kube-context': { type: 'string' },
  install: { short: 'i', type: 'bool' }, repo: { type: 'string' }, version: { type: 'string' }, values: { short: 'f', type: 'array' },
  set: { type: 'array' }, 'set-string': { type: 'array' }, 'set-json': { type: 'array' }, 'create-namespace': { type: 'bool' },
  wait: { type: 'bool' }, 'wait-for-jobs': { type: 'bool' }, atomic: { type: 'bool' }, timeout: { type: 'string' },
  output: { short: 'o', type: 'string' }, filter: { type: 'string' }, 'all-namespaces': { short: 'A', type: 'bool' },
  all: { short: 'a', type: 'bool' }, short: { type: 'bool' }, 'reuse-values': { type: 'bool' }, 'reset-values': { type: 'bool' },
  'dry-run': { type: 'string' }, debug: { type: 'bool' }, 'skip-crds': { type: 'bool' }, 'keep-history': { type: 'bool' },
  'force-update': { type: 'bool' }, revision: { type: 'string' }, 'cleanup-on-fail': { type: 'bool' }, force: { type: 'bool' },
  description: { type: 'string' }, 'kube-apiserver': { type: 'string' }, 'kube-insecure-skip-tls-verify': { type: 'bool' },
};

const HELM_VERSION = 'v3.19.0';

/** helm's time formats: JSON uses RFC3339 with nanoseconds; list uses Go's time.String(). */
const rfc = (t) => new Date(t).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
const goTime = (t) => `${new Date(t).toISOString().replace('T', ' ').replace(/\.(\d{3})Z$/, '.$1000000 +0000 UTC')}`;

async function access(flags, st, lab, now) {
  const kc = await loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags['kube-context'], server: flags['kube-apiserver'], insecure: flags['kube-insecure-skip-tls-verify'] });
  if (kc.error) fail(`Error: Kubernetes cluster unreachable: ${kc.error.replace(/^error: /, '')}`);
  const a = apiAccess(st, lab, now, kc);
  if (!a.ok) fail(`Error: Kubernetes cluster unreachable: ${dialError(a)}`);
  return kc;
}

async function readValues(files, sets) {
  const { parse } = await yaml();
  let values = {};
  for (const f of files ?? []) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      fail(`Error: open ${f}: no such file or directory`);
    }
    let v;
    try {
      v = parse(text) ?? {};
    } catch (e) {
      fail(`Error: failed to parse ${f}: error converting YAML to JSON: ${e.message.split('\n')[0]}`);
    }
    values = deepMerge(values, v);
  }
  for (const s of sets ?? []) {
    for (const pair of s.split(',')) {
      const [k, ...rest] = pair.split('=');
      const raw = rest.join('=');
      const v = raw === 'true' ? true : raw === 'false' ? false : /^-?\d+$/.test(raw) ? Number(raw) : raw;
      const parts = k.split('.');
      let o = values;
      for (const p of parts.slice(0, -1)) o = o[p] = typeof o[p] === 'object' && o[p] ? o[p] : {};
      o[parts.at(-1)] = v;
    }
  }
  return values;
}

function deepMerge(a, b) {
  if (!b || typeof b !== 'object' || Array.isArray(b)) return b;
  const out = { ...(a && typeof a === 'object' ? a : {}) };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(out[k], v);
  return out;
}

function chartName(chart) {
  return chart.replace(/^oci:\/\//, '').split('/').pop();
}

function statusJson(rel) {
  return {
    name: rel.name,
    info: { first_deployed: rfc(rel.firstDeployedAt), last_deployed: rfc(rel.updatedAt), deleted: '', description: rel.revision > 1 ? 'Upgrade complete' : 'Install complete', status: rel.status, notes: rel.notes ?? '' },
    chart: { metadata: { name: rel.chart, version: rel.version, description: `Helm chart for ${rel.chart}`, apiVersion: 'v2', appVersion: rel.appVersion, type: 'application' }, lock: null, templates: [], values: {}, schema: null, files: [] },
    config: rel.values,
    manifest: `---\n# Source: ${rel.chart}/templates/lab.yaml\n`,
    version: rel.revision,
    namespace: rel.namespace,
  };
}

function statusText(rel) {
  return `NAME: ${rel.name}\nLAST DEPLOYED: ${new Date(rel.updatedAt).toUTCString().replace(/GMT$/, 'UTC')}\nNAMESPACE: ${rel.namespace}\nSTATUS: ${rel.status}\nREVISION: ${rel.revision}\nTEST SUITE: None\n${rel.notes ? `NOTES:\n${rel.notes}\n` : ''}`;
}

async function upgradeInstall(flags, args, lab, io, installOnly) {
  const [name, chart] = args;
  if (!name || !chart) fail(`Error: "helm ${installOnly ? 'install' : 'upgrade'}" requires 2 arguments\n\nUsage:  helm ${installOnly ? 'install [NAME] [CHART]' : 'upgrade [RELEASE] [CHART]'} [flags]`);
  const ns = flags.namespace ?? 'default';
  const values = await readValues(flags.values, [...(flags.set ?? []), ...(flags['set-string'] ?? [])]);
  const cname = chartName(chart);
  if (!flags.repo && !chart.includes('/') && !fs.existsSync(chart)) {
    fail(`Error: ${installOnly ? 'INSTALLATION' : 'UPGRADE'} FAILED: repo ${chart} not found`);
  }
  const version = (flags.version ?? '1.0.0').replace(/^v/, '');
  {
    const { st, lab: l, now } = snapshot();
    await access(flags, st, l, now);
  }
  let result;
  transact((st, _l, now) => {
    const key = `${ns}/${name}`;
    const prev = st.helm.releases[key];
    if (!namespaces(st).includes(ns)) {
      if (!flags['create-namespace']) fail(`Error: ${prev ? 'UPGRADE' : 'INSTALLATION'} FAILED: create: failed to create: namespaces "${ns}" not found`);
      store(st, RESOURCES.find((r) => r.kind === 'Namespace'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } } }, '', now);
    }
    if (installOnly && prev) fail('Error: INSTALLATION FAILED: cannot re-use a name that is still in use');
    if (!installOnly && !flags.install && !prev) fail(`Error: UPGRADE FAILED: "${name}" has no deployed releases`);
    const rel = {
      name, namespace: ns, chart: cname, version, appVersion: version, revision: (prev?.revision ?? 0) + 1, status: 'deployed',
      firstDeployedAt: prev?.firstDeployedAt ?? now, updatedAt: now, values: flags['reuse-values'] && prev ? deepMerge(prev.values, values) : values,
      repo: flags.repo ?? chart, history: [...(prev?.history ?? []), { revision: (prev?.revision ?? 0) + 1, at: now, version }],
    };
    if (key === 'kube-system/cilium') {
      // A reinstalled CNI clears an injected "cni-gone"; nodes turn Ready cniReady ms after this install.
      st.faults = st.faults.filter((f) => f.kind !== 'cni-gone');
      rel.readyBase = prev && prev.status === 'deployed' ? prev.readyBase ?? prev.firstDeployedAt : now;
      rel.notes = `You have successfully installed Cilium with Hubble.\n\nYour release version is ${version}.`;
    }
    st.helm.releases[key] = rel;
    result = { rel, prev };
  });
  const { rel, prev } = result;
  if (flags.wait || flags.atomic) {
    const deadline = Date.now() + waitBudget(lab, parseDuration(flags.timeout, 5 * 60000));
    for (;;) {
      const { st, now } = snapshot();
      const nodes = k8sNodes(st, lab, now);
      const ready = rel.name !== 'cilium' || rel.namespace !== 'kube-system' || (nodes.length > 0 && nodes.every((n) => n.ready));
      if (ready) break;
      if (Date.now() >= deadline) {
        if (flags.atomic) {
          transact((s) => {
            if (prev) s.helm.releases[`${ns}/${name}`] = prev;
            else delete s.helm.releases[`${ns}/${name}`];
          });
          fail(`Error: ${prev ? 'UPGRADE' : 'INSTALLATION'} FAILED: release ${name} failed, and has been ${prev ? 'rolled back' : 'uninstalled'} due to atomic being set: context deadline exceeded`);
        }
        transact((s) => {
          if (s.helm.releases[`${ns}/${name}`]) s.helm.releases[`${ns}/${name}`].status = 'failed';
        });
        fail(`Error: ${prev ? 'UPGRADE' : 'INSTALLATION'} FAILED: context deadline exceeded`);
      }
      await sleep(20);
    }
  }
  if (!installOnly) io.out(prev ? `Release "${name}" has been upgraded. Happy Helming!\n` : `Release "${name}" does not exist. Installing it now.\n`);
  io.out(statusText(rel));
}

main('helm', async (argv, io) => {
  const { flags, positionals, unknown } = parseArgs(argv, SPEC);
  const sub = positionals[0] ?? '';
  const args = positionals.slice(1);
  const cmd = ['repo', 'get'].includes(sub) ? `${sub} ${args[0] ?? ''}`.trim() : sub;
  if (unknown.length) return { cmd, noFaults: true, run: async () => fail(`Error: unknown flag: ${unknown[0]}\n(lab: flag not simulated; see test/lab/README.md)`) };
  return {
    cmd,
    run: async () => {
      const lab = (await import('./lib/core.mjs')).loadLab();
      switch (sub) {
        case 'version':
          io.out(flags.short ? `${HELM_VERSION}+g3d8990f\n` : `version.BuildInfo{Version:"${HELM_VERSION}", GitCommit:"3d8990f0836691f0229297773f3524598f46bda6", GitTreeState:"clean", GoVersion:"go1.24.7"}\n`);
          return 0;
        case 'repo': {
          const action = args[0];
          transact((st) => {
            if (action === 'add') {
              const [, name, url] = args;
              if (st.helm.repos[name] && st.helm.repos[name] !== url && !flags['force-update']) fail(`Error: repository name (${name}) already exists, please specify a different name`);
              const existed = st.helm.repos[name] === url;
              st.helm.repos[name] = url;
              io.out(existed ? `"${name}" already exists with the same configuration, skipping\n` : `"${name}" has been added to your repositories\n`);
            } else if (action === 'update') {
              io.out(`Hang tight while we grab the latest from your chart repositories...\n${Object.keys(st.helm.repos).map((n) => `...Successfully got an update from the "${n}" chart repository\n`).join('')}Update Complete. ⎈Happy Helming!⎈\n`);
            } else if (action === 'list') {
              if (!Object.keys(st.helm.repos).length) fail('Error: no repositories to show');
              io.out(tabbed([['NAME', 'URL'], ...Object.entries(st.helm.repos)]));
            } else fail(`lab: helm repo ${action} is not simulated`, 64);
          });
          return 0;
        }
        case 'upgrade':
          await upgradeInstall(flags, args, lab, io, false);
          return 0;
        case 'install':
          await upgradeInstall(flags, args, lab, io, true);
          return 0;
        case 'template':
          io.out(`---\n# Source: ${chartName(args[1] ?? args[0] ?? 'chart')}/templates/lab.yaml\n# lab: helm template renders nothing real\n`);
          return 0;
        case 'status':
        case 'list':
        case 'ls':
        case 'get':
        case 'uninstall':
        case 'delete':
        case 'history': {
          const mutate = sub === 'uninstall' || sub === 'delete';
          const body = (st, now) => {
            return (async () => {
              await access(flags, st, lab, now);
              const ns = flags.namespace ?? 'default';
              if (sub === 'list' || sub === 'ls') {
                const re = flags.filter ? new RegExp(flags.filter) : undefined;
                const rels = Object.values(st.helm.releases)
                  .filter((r) => (flags['all-namespaces'] || r.namespace === ns) && (!re || re.test(r.name)) && (flags.all || r.status === 'deployed' || r.status === 'failed'))
                  .sort((a, b) => a.name.localeCompare(b.name));
                if (flags.output === 'json') io.out(`${JSON.stringify(rels.map((r) => ({ name: r.name, namespace: r.namespace, revision: String(r.revision), updated: goTime(r.updatedAt), status: r.status, chart: `${r.chart}-${r.version}`, app_version: r.appVersion })))}\n`);
                else if (flags.short) io.out(rels.map((r) => `${r.name}\n`).join(''));
                else io.out(tabbed([['NAME', 'NAMESPACE', 'REVISION', 'UPDATED', 'STATUS', 'CHART', 'APP VERSION'], ...rels.map((r) => [r.name, r.namespace, String(r.revision), goTime(r.updatedAt), r.status, `${r.chart}-${r.version}`, r.appVersion])]));
                return;
              }
              const name = sub === 'get' ? args[1] : args[0];
              const rel = st.helm.releases[`${ns}/${name}`];
              if (sub === 'get') {
                if (args[0] !== 'values') fail(`lab: helm get ${args[0]} is not simulated`, 64);
                if (!rel) fail('Error: release: not found');
                if (flags.output === 'json') io.out(`${JSON.stringify(Object.keys(rel.values ?? {}).length ? rel.values : null)}\n`);
                else {
                  const { stringify } = await yaml();
                  io.out(`USER-SUPPLIED VALUES:\n${Object.keys(rel.values ?? {}).length ? stringify(rel.values) : 'null\n'}`);
                }
                return;
              }
              if (sub === 'status') {
                if (!rel) fail('Error: release: not found');
                io.out(flags.output === 'json' ? `${JSON.stringify(statusJson(rel))}\n` : statusText(rel));
                return;
              }
              if (sub === 'history') {
                if (!rel) fail('Error: release: not found');
                io.out(table([['REVISION', 'UPDATED', 'STATUS', 'CHART', 'APP VERSION', 'DESCRIPTION'], ...rel.history.map((h, i) => [String(h.revision), new Date(h.at).toUTCString(), i === rel.history.length - 1 ? rel.status : 'superseded', `${rel.chart}-${h.version}`, h.version, i ? 'Upgrade complete' : 'Install complete'])]));
                return;
              }
            })();
          };
          if (mutate) {
            // Validate access and existence first (async), then mutate under the lock.
            const { st, now } = snapshot();
            await access(flags, st, lab, now);
            const ns = flags.namespace ?? 'default';
            const name = args[0];
            transact((s) => {
              if (!s.helm.releases[`${ns}/${name}`]) fail(`Error: uninstall: Release not loaded: ${name}: release: not found`);
              delete s.helm.releases[`${ns}/${name}`];
            });
            io.out(`release "${name}" uninstalled\n`);
            return 0;
          }
          const { st, now } = snapshot();
          await body(st, now);
          return 0;
        }
        default:
          fail(`lab: helm ${sub} is not simulated (see test/lab/README.md)`, 64);
      }
      return 0;
    },
  };
});
