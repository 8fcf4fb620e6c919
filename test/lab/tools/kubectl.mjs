// Fake kubectl against the simulated cluster. Client-only commands (kustomize, create/label --dry-run=client /
// --local, version --client, completion) run the real /usr/bin/kubectl. See test/lab/README.md.
// Follows kubectl v1.34: kubernetes/kubectl pkg/cmd/{get,apply,label,annotate,delete,patch,wait,rollout,logs}; an
// undeclared flag fails as cobra/pflag make it, printed by kubectl's cmdutil: `error: unknown flag: --x`, exit 1.
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { main, parseArgs, fail, transact, snapshot, sleep, ToolExit, parseDuration, waitBudget, table, yaml, age, readStdin, labDir } from './lib/core.mjs';
import { loadKubeconfig, apiAccess, kubectlAccessError } from './lib/kube.mjs';
import { reconcileFlux } from './lib/fluxrepo.mjs';
import {
  RESOURCES, resolveType, resourceForKind, typeWord, pluralWord, key, store, namespaces, listObjects, conditionOf, matchesSelector, iso,
} from './lib/objects.mjs';

const REAL_KUBECTL = process.env.LAB_REAL_KUBECTL ?? '/usr/bin/kubectl';

const SPEC = {
  kubeconfig: { type: 'string' }, context: { type: 'string' }, cluster: { type: 'string' }, user: { type: 'string' },
  server: { short: 's', type: 'string' }, namespace: { short: 'n', type: 'string' }, 'request-timeout': { type: 'string' },
  'insecure-skip-tls-verify': { type: 'bool' }, 'all-namespaces': { short: 'A', type: 'bool' }, output: { short: 'o', type: 'string' },
  selector: { short: 'l', type: 'string' }, filename: { short: 'f', type: 'array' }, 'ignore-not-found': { type: 'bool' },
  'no-headers': { type: 'bool' }, 'field-selector': { type: 'string' }, raw: { type: 'string' }, for: { type: 'string' },
  timeout: { type: 'string' }, all: { type: 'bool' }, wait: { type: 'bool' }, 'server-side': { type: 'bool' },
  'force-conflicts': { type: 'bool' }, 'dry-run': { type: 'string' }, local: { type: 'bool' }, 'show-labels': { type: 'bool' },
  overwrite: { type: 'bool' }, watch: { short: 'w', type: 'bool' }, recursive: { short: 'R', type: 'bool' },
  'grace-period': { type: 'string' }, now: { type: 'bool' }, cascade: { type: 'string' }, 'field-manager': { type: 'string' },
  validate: { type: 'string' }, type: { type: 'string' }, patch: { short: 'p', type: 'string' }, client: { type: 'bool' },
  force: { type: 'bool' }, tail: { type: 'string' }, container: { short: 'c', type: 'string' }, previous: { type: 'bool' },
  v: { short: 'v', type: 'string' }, 'sort-by': { type: 'string' }, 'as': { type: 'string' }, kustomize: { short: 'k', type: 'string' },
  'from-literal': { type: 'array' }, 'from-file': { type: 'array' }, cert: { type: 'string' }, key: { type: 'string' },
};

function isClientOnly(argv, positionals, flags) {
  const sub = positionals[0];
  if (['kustomize', 'completion', 'explain', 'plugin', 'config'].includes(sub)) return true;
  if (sub === 'version' && flags.client) return true;
  if (flags.local) return true;
  if (typeof flags['dry-run'] === 'string' && flags['dry-run'] === 'client') return true;
  return argv.includes('--dry-run=client') || argv.includes('--help') || argv.includes('-h');
}

function delegate(argv) {
  const res = spawnSync(REAL_KUBECTL, argv, { stdio: ['inherit', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  if (res.error) fail(`lab: cannot run the real kubectl at ${REAL_KUBECTL}: ${res.error.message}`, 127);
  return { stdout: res.stdout.toString(), stderr: res.stderr.toString(), code: res.status ?? 1 };
}

async function access(flags) {
  const kc = await loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags.context, server: flags.server, insecure: flags['insecure-skip-tls-verify'] });
  if (kc.error) fail(kc.error);
  return kc;
}

function checkAccess(st, lab, now, kc) {
  const a = apiAccess(st, lab, now, kc);
  if (!a.ok) fail(kubectlAccessError(a));
  return a;
}

function nsOf(flags, kc) {
  return flags.namespace ?? kc.namespace ?? 'default';
}

/** "node/x", "nodes x y", "kustomizations.kustomize.toolkit.fluxcd.io/flux-system" → [{ r, name? }]. */
function targetsOf(args) {
  if (!args.length) fail('error: you must specify the type of resource to get. Use "kubectl api-resources" for a complete list of supported resources.');
  const out = [];
  if (args[0].includes('/')) {
    for (const a of args) {
      const [t, name] = a.split('/');
      const r = resolveType(t);
      if (!r) fail(`error: the server doesn't have a resource type "${t}"`);
      out.push({ r, name });
    }
    return out;
  }
  const types = args[0].split(',');
  for (const t of types) {
    const r = resolveType(t);
    if (!r) fail(`error: the server doesn't have a resource type "${t}"`);
    if (args.length > 1) for (const name of args.slice(1)) out.push({ r, name });
    else out.push({ r });
  }
  return out;
}

function requireType(st, r) {
  if (r.flux && !st.flux) fail(`error: the server doesn't have a resource type "${r.plural}"`);
}

function select(st, lab, now, r, { ns, all, name, selector }) {
  requireType(st, r);
  return listObjects(st, lab, now, r).filter(
    (o) => (!r.namespaced || all || o.metadata.namespace === ns) && (!name || o.metadata.name === name) && matchesSelector(o, selector),
  );
}

const notFound = (r, name) => `Error from server (NotFound): ${pluralWord(r)} "${name}" not found`;

// ---------------------------------------------------------------------------------------------------------------
// Output

function list(items) {
  return { apiVersion: 'v1', items, kind: 'List', metadata: { resourceVersion: '' } };
}

function tableFor(r, objs, now, { all, noHeaders, wide }) {
  const nsCol = all && r.namespaced ? ['NAMESPACE'] : [];
  const rows = [];
  let header;
  const created = (o) => age(now - Date.parse(o.metadata.creationTimestamp ?? new Date(now).toISOString()));
  switch (r.kind) {
    case 'Node':
      header = ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', ...(wide ? ['INTERNAL-IP', 'OS-IMAGE'] : [])];
      for (const o of objs) {
        const ready = conditionOf(o, 'Ready')?.status === 'True';
        const roles = Object.keys(o.metadata.labels).filter((l) => l.startsWith('node-role.kubernetes.io/')).map((l) => l.split('/')[1]);
        rows.push([o.metadata.name, ready ? 'Ready' : 'NotReady', roles.join(',') || '<none>', created(o), o.status.nodeInfo.kubeletVersion, ...(wide ? [o.status.addresses[0].address, o.status.nodeInfo.osImage] : [])]);
      }
      break;
    case 'Pod':
      header = [...nsCol, 'NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'];
      for (const o of objs) {
        const ready = o.status?.containerStatuses?.[0]?.ready;
        rows.push([...(nsCol.length ? [o.metadata.namespace] : []), o.metadata.name, ready ? '1/1' : '0/1', o.status?.phase ?? 'Pending', '0', created(o)]);
      }
      break;
    case 'Kustomization':
      header = [...nsCol, 'NAME', 'AGE', 'READY', 'STATUS'];
      for (const o of objs) {
        const c = conditionOf(o, 'Ready');
        rows.push([...(nsCol.length ? [o.metadata.namespace] : []), o.metadata.name, created(o), c?.status ?? 'Unknown', c?.message ?? '']);
      }
      break;
    case 'Secret':
      header = [...nsCol, 'NAME', 'TYPE', 'DATA', 'AGE'];
      for (const o of objs) rows.push([...(nsCol.length ? [o.metadata.namespace] : []), o.metadata.name, o.type ?? 'Opaque', String(Object.keys(o.data ?? {}).length), created(o)]);
      break;
    case 'Namespace':
      header = ['NAME', 'STATUS', 'AGE'];
      for (const o of objs) rows.push([o.metadata.name, o.status?.phase ?? 'Active', created(o)]);
      break;
    case 'Deployment':
      header = [...nsCol, 'NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE'];
      for (const o of objs) rows.push([...(nsCol.length ? [o.metadata.namespace] : []), o.metadata.name, `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`, String(o.status?.updatedReplicas ?? 0), String(o.status?.availableReplicas ?? 0), created(o)]);
      break;
    default:
      header = [...nsCol, 'NAME', 'AGE'];
      for (const o of objs) rows.push([...(nsCol.length ? [o.metadata.namespace] : []), o.metadata.name, created(o)]);
  }
  return table(noHeaders ? rows : [header, ...rows]);
}

/** Minimal JSONPath: {.a.b}, {.items[*].x}, {.items[0].x}, {range .items[*]}…{end}, {"\n"}. */
function jsonpath(tmpl, data) {
  const t = tmpl.replace(/^'|'$/g, '');
  const get = (expr, ctx) => {
    let vals = [ctx];
    const path = expr.trim().replace(/^\./, '');
    if (!path) return vals;
    for (const part of path.match(/[^.[\]]+|\[[^\]]*\]/g) ?? []) {
      const next = [];
      for (const v of vals) {
        if (v == null) continue;
        if (part === '[*]') next.push(...(Array.isArray(v) ? v : Object.values(v)));
        else if (/^\[\d+\]$/.test(part)) next.push(v[Number(part.slice(1, -1))]);
        else if (/^\[\?\(@\.(.+?)=="(.*)"\)\]$/.test(part)) {
          const [, f, val] = /^\[\?\(@\.(.+?)=="(.*)"\)\]$/.exec(part);
          next.push(...(Array.isArray(v) ? v : []).filter((x) => get(f, x)[0] === val));
        } else next.push(v[part.replace(/^\[['"]?|['"]?\]$/g, '')]);
      }
      vals = next;
    }
    return vals.filter((v) => v !== undefined);
  };
  const fmt = (v) => (typeof v === 'object' ? JSON.stringify(v) : String(v));
  const render = (s, ctx) => {
    let out = '';
    let i = 0;
    while (i < s.length) {
      const open = s.indexOf('{', i);
      if (open < 0) {
        out += s.slice(i);
        break;
      }
      out += s.slice(i, open);
      const close = s.indexOf('}', open);
      const inner = s.slice(open + 1, close).trim();
      i = close + 1;
      if (inner.startsWith('range ')) {
        const end = s.indexOf('{end}', i);
        const body = s.slice(i, end);
        for (const item of get(inner.slice(6), ctx)) out += render(body, item);
        i = end + 5;
      } else if (/^".*"$/.test(inner)) {
        out += JSON.parse(inner);
      } else {
        out += get(inner, ctx).map(fmt).join(' ');
      }
    }
    return out;
  };
  return render(t, data);
}

async function print(objs, single, r, flags, now, io) {
  const o = flags.output ?? '';
  if (o === 'json') return io.out(`${JSON.stringify(single ? objs[0] : list(objs), null, 4)}\n`);
  if (o === 'yaml') {
    const { stringify } = await yaml();
    return io.out(stringify(single ? objs[0] : list(objs)));
  }
  if (o === 'name') return io.out(objs.map((x) => `${typeWord(r)}/${x.metadata.name}\n`).join(''));
  if (o.startsWith('jsonpath=') || o.startsWith('jsonpath-as-json=')) {
    return io.out(jsonpath(o.slice(o.indexOf('=') + 1), single ? objs[0] : list(objs)));
  }
  if (o && o !== 'wide') fail(`lab: kubectl -o ${o} is not simulated (use json, yaml, name, wide or jsonpath)`);
  return io.out(tableFor(r, objs, now, { all: flags['all-namespaces'], noHeaders: flags['no-headers'], wide: o === 'wide' }));
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

async function get(args, flags, lab, io) {
  const kc = await access(flags);
  let { st, now } = snapshot();
  // kustomize-controller's work on a new revision happens on the next look (fluxrepo.mjs reconcileFlux).
  if (reconcileFlux(labDir(), st)) ({ st, now } = snapshot());
  checkAccess(st, lab, now, kc);
  if (flags.raw) {
    if (['/readyz', '/livez', '/healthz'].includes(flags.raw.split('?')[0])) return io.out('ok');
    if (flags.raw === '/version') return io.out(JSON.stringify({ major: '1', minor: String(st.k8sVersion ?? lab.kubernetesVersion).split('.')[1], gitVersion: `v${st.k8sVersion ?? lab.kubernetesVersion}` }, null, 2));
    fail(`Error from server (NotFound): the server could not find the requested resource`);
  }
  const ns = nsOf(flags, kc);
  const all = !!flags['all-namespaces'];
  const targets = targetsOf(args);
  const objs = [];
  let r0;
  for (const { r, name } of targets) {
    r0 ??= r;
    const found = select(st, lab, now, r, { ns, all, name, selector: flags.selector });
    if (name && !found.length) {
      if (flags['ignore-not-found']) continue;
      throw new ToolExit(1, `${notFound(r, name)}\n`);
    }
    objs.push(...found);
  }
  const single = targets.length === 1 && !!targets[0].name && (flags.output === 'json' || flags.output === 'yaml' || flags.output?.startsWith('jsonpath'));
  if (!objs.length) {
    if (flags['ignore-not-found'] && targets.every((t) => t.name)) return;
    if (!flags.output || flags.output === 'wide') {
      io.err(r0.namespaced && !all ? `No resources found in ${ns} namespace.\n` : 'No resources found\n');
      return;
    }
  }
  await print(objs, single, r0, flags, now, io);
}

// kubectl -f URL downloads the file (k8s.io/cli-runtime pkg/resource/visitor.go readHTTPResponse; kubectl 1.34). The
// lab has no network: it serves the Gateway API CRD files (kubernetes-sigs/gateway-api config/crd/<channel>/
// gateway.networking.k8s.io_<plural>.yaml at a release tag) as a CRD carrying that tag's bundle-version annotation,
// and answers any other URL the way an unknown file answers (404).
const GATEWAY_API_CRD_URL = /^https:\/\/raw\.githubusercontent\.com\/kubernetes-sigs\/gateway-api\/(v\d+\.\d+\.\d+)\/config\/crd\/(standard|experimental)\/gateway\.networking\.k8s\.io_([a-z]+)\.yaml$/;

function fetchManifest(url) {
  const m = GATEWAY_API_CRD_URL.exec(url);
  if (!m) fail(`error: unable to read URL "${url}", server reported 404 Not Found, status code=404`);
  const [, version, channel, plural] = m;
  const kind = { gatewayclasses: 'GatewayClass', gateways: 'Gateway', httproutes: 'HTTPRoute', referencegrants: 'ReferenceGrant', grpcroutes: 'GRPCRoute', tlsroutes: 'TLSRoute', tcproutes: 'TCPRoute', udproutes: 'UDPRoute', backendtlspolicies: 'BackendTLSPolicy' }[plural];
  if (!kind) fail(`error: unable to read URL "${url}", server reported 404 Not Found, status code=404`);
  return JSON.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.gateway.networking.k8s.io`, annotations: { 'gateway.networking.k8s.io/bundle-version': version, 'gateway.networking.k8s.io/channel': channel } },
    spec: { group: 'gateway.networking.k8s.io', names: { kind, plural }, scope: plural === 'gatewayclasses' ? 'Cluster' : 'Namespaced' },
  });
}

async function readManifests(flags) {
  const files = flags.filename ?? [];
  if (!files.length) fail('error: must specify one of -f and -k');
  const { parseAllDocuments } = await yaml();
  const out = [];
  for (const f of files) {
    let text;
    if (f === '-') text = await readStdin();
    else if (/^https?:\/\//.test(f)) text = fetchManifest(f);
    else {
      try {
        text = fs.readFileSync(f, 'utf8');
      } catch {
        fail(`error: the path "${f}" does not exist`);
      }
    }
    const source = f === '-' ? 'STDIN' : f;
    for (const d of parseAllDocuments(text)) {
      if (d.errors?.length) fail(`error: error parsing ${source}: error converting YAML to JSON: ${d.errors[0].message.split('\n')[0]}`);
      const obj = d.toJS();
      if (!obj) continue;
      if (obj.kind === 'List') out.push(...(obj.items ?? []).map((o) => ({ obj: o, source })));
      else out.push({ obj, source });
    }
  }
  if (!out.length) fail('error: no objects passed to apply');
  return out;
}

async function applyOrCreate(verb, flags, lab, io) {
  const kc = await access(flags);
  const docs = await readManifests(flags);
  const lines = [];
  transact((st, _l, now) => {
    checkAccess(st, lab, now, kc);
    for (const { obj, source } of docs) {
      if (!obj.apiVersion || !obj.kind) fail(`error: error validating "${source}": error validating data: [apiVersion not set, kind not set]; if you choose to ignore these errors, turn validation off with --validate=false`);
      const r = resourceForKind(obj.apiVersion, obj.kind);
      if (!r || (r.flux && !st.flux)) {
        fail(`error: resource mapping not found for name: "${obj.metadata?.name}" namespace: "${obj.metadata?.namespace ?? ''}" from "${source}": no matches for kind "${obj.kind}" in version "${obj.apiVersion}"\nensure CRDs are installed first`);
      }
      if (!obj.metadata?.name) fail(`error: error when retrieving current configuration of:\nResource: "${r.plural}", GroupVersionKind: "${obj.apiVersion}, Kind=${obj.kind}"\nName: "", Namespace: ""\nfrom server for: "${source}": resource name may not be empty`);
      const ns = r.namespaced ? obj.metadata.namespace ?? nsOf(flags, kc) : '';
      if (r.namespaced && !namespaces(st).includes(ns)) {
        fail(`Error from server (NotFound): error when creating "${source}": namespaces "${ns}" not found`);
      }
      const exists = st.k8s.objects[key(r, ns, obj.metadata.name)] || listObjects(st, lab, now, r).some((o) => o.metadata.name === obj.metadata.name && (!r.namespaced || o.metadata.namespace === ns));
      if (verb === 'create' && exists) {
        fail(`Error from server (AlreadyExists): error when creating "${source}": ${pluralWord(r)} "${obj.metadata.name}" already exists`);
      }
      if (r.kind === 'Kustomization' && st.flux) {
        const k = st.flux.kustomizations.find((x) => x.name === obj.metadata.name && x.namespace === ns);
        const dependsOn = (obj.spec?.dependsOn ?? []).map((d) => `${d.namespace ?? ns}/${d.name}`);
        if (k) Object.assign(k, { spec: obj.spec, dependsOn, labels: obj.metadata.labels ?? {}, suspended: obj.spec?.suspend === true });
        else st.flux.kustomizations.push({ name: obj.metadata.name, namespace: ns, spec: obj.spec, dependsOn, labels: obj.metadata.labels ?? {}, suspended: obj.spec?.suspend === true, appliedAt: now });
        lines.push(`${typeWord(r)}/${obj.metadata.name} ${k ? 'configured' : 'created'}`);
        continue;
      }
      const verbDone = store(st, r, obj, ns, now);
      lines.push(`${typeWord(r)}/${obj.metadata.name} ${flags['server-side'] ? 'serverside-applied' : verbDone}`);
    }
  });
  io.out(`${lines.join('\n')}\n`);
}

async function del(args, flags, lab, io) {
  const kc = await access(flags);
  const lines = [];
  const docs = flags.filename ? await readManifests(flags) : undefined;
  transact((st, _l, now) => {
    checkAccess(st, lab, now, kc);
    const ns = nsOf(flags, kc);
    const targets = docs
      ? docs.map(({ obj }) => ({ r: resourceForKind(obj.apiVersion, obj.kind), name: obj.metadata?.name, ns: obj.metadata?.namespace }))
      : targetsOf(args);
    for (const t of targets) {
      const r = t.r;
      if (!r) continue;
      requireType(st, r);
      const tns = t.ns ?? ns;
      const objs = t.name ? select(st, lab, now, r, { ns: tns, name: t.name }) : select(st, lab, now, r, { ns: tns, all: flags['all-namespaces'], selector: flags.selector });
      if (!objs.length) {
        if (t.name && !flags['ignore-not-found']) fail(notFound(r, t.name));
        if (!t.name && !flags['ignore-not-found']) io.err('No resources found\n');
        continue;
      }
      for (const o of objs) {
        const k = key(r, o.metadata.namespace, o.metadata.name);
        delete st.k8s.objects[k];
        if (r.kind === 'Node') {
          delete st.k8s.nodes[o.metadata.name];
          st.k8s.deletedNodes = { ...(st.k8s.deletedNodes ?? {}), [o.metadata.name]: now };
        }
        if (r.kind === 'Namespace') {
          for (const kk of Object.keys(st.k8s.objects)) if (kk.split('/')[1] === o.metadata.name) delete st.k8s.objects[kk];
        }
        if (r.kind === 'Kustomization' && st.flux) st.flux.kustomizations = st.flux.kustomizations.filter((x) => !(x.name === o.metadata.name && x.namespace === o.metadata.namespace));
        st.k8s.rv += 1;
        lines.push(`${r.kind.toLowerCase()}${r.group ? `.${r.group}` : ''} "${o.metadata.name}" deleted`);
      }
    }
  });
  if (lines.length) io.out(`${lines.join('\n')}\n`);
}

function parseFor(f) {
  if (!f) fail('error: --for must be specified');
  if (f === 'delete') return { kind: 'delete' };
  let m = /^condition=([^=]+)(?:=(.*))?$/.exec(f);
  if (m) return { kind: 'condition', type: m[1], value: m[2] ?? 'True' };
  m = /^jsonpath=(.+?)(?:=(.*))?$/.exec(f);
  if (m) return { kind: 'jsonpath', path: m[1].replace(/^'|'$/g, ''), value: m[2]?.replace(/^'|'$/g, '') };
  fail(`error: unrecognized condition: "${f}"`);
}

async function wait(args, flags, lab, io) {
  const kc = await access(flags);
  const cond = parseFor(flags.for);
  const budget = waitBudget(lab, parseDuration(flags.timeout, 30000));
  const deadline = Date.now() + budget;
  const ns = nsOf(flags, kc);
  const targets = targetsOf(args);
  const met = new Set();
  for (;;) {
    const { st, now } = snapshot();
    checkAccess(st, lab, now, kc);
    let pending = [];
    let objsSeen = 0;
    for (const t of targets) {
      requireType(st, t.r);
      const objs = select(st, lab, now, t.r, { ns, all: flags['all-namespaces'], name: t.name, selector: flags.selector });
      if (t.name && !objs.length && cond.kind !== 'delete') fail(notFound(t.r, t.name));
      if (!t.name && !objs.length && !flags.all && !flags.selector) fail('error: resource name may not be empty');
      objsSeen += objs.length;
      for (const o of objs) {
        const id = `${typeWord(t.r)}/${o.metadata.name}`;
        let ok;
        if (cond.kind === 'condition') ok = conditionOf(o, cond.type)?.status?.toLowerCase() === cond.value.toLowerCase();
        else if (cond.kind === 'jsonpath') ok = cond.value === undefined ? jsonpath(`{${cond.path.replace(/^\{|\}$/g, '')}}`, o) !== '' : jsonpath(`{${cond.path.replace(/^\{|\}$/g, '')}}`, o) === cond.value;
        else ok = false;
        if (ok) {
          if (!met.has(id)) io.out(`${id} condition met\n`);
          met.add(id);
        } else pending.push(`${pluralWord(t.r)}/${o.metadata.name}`);
      }
      if (cond.kind === 'delete' && t.name && !objs.length) {
        const id = `${typeWord(t.r)}/${t.name}`;
        if (!met.has(id)) io.out(`${id} condition met\n`);
        met.add(id);
      }
    }
    if (!objsSeen && (flags.all || flags.selector) && cond.kind !== 'delete') fail('error: no matching resources found');
    if (!pending.length) return;
    if (Date.now() >= deadline) fail(`error: timed out waiting for the condition on ${pending[0]}`);
    await sleep(Math.min(25, Math.max(1, deadline - Date.now())));
  }
}

async function rollout(args, flags, lab, io) {
  if (args[0] !== 'status' && args[0] !== 'restart') fail(`lab: kubectl rollout ${args[0]} is not simulated`);
  const kc = await access(flags);
  const [{ r, name }] = targetsOf(args.slice(1));
  if (args[0] === 'restart') {
    transact((st, _l, now) => {
      checkAccess(st, lab, now, kc);
      const ns = nsOf(flags, kc);
      if (!select(st, lab, now, r, { ns, name }).length) fail(notFound(r, name));
      st.k8s.restarts = { ...(st.k8s.restarts ?? {}), [`${ns}/${r.plural}/${name}`]: [...(st.k8s.restarts?.[`${ns}/${r.plural}/${name}`] ?? []), now] };
    });
    io.out(`${typeWord(r)}/${name} restarted\n`);
    return;
  }
  const deadline = Date.now() + waitBudget(lab, parseDuration(flags.timeout, 10 * 60000));
  let last;
  for (;;) {
    const { st, now } = snapshot();
    checkAccess(st, lab, now, kc);
    const [o] = select(st, lab, now, r, { ns: nsOf(flags, kc), name });
    if (!o) fail(notFound(r, name));
    let done;
    let msg;
    if (r.kind === 'DaemonSet') {
      const s = o.status;
      done = s.desiredNumberScheduled > 0 && s.numberAvailable === s.desiredNumberScheduled;
      msg = done ? `daemon set "${name}" successfully rolled out` : `Waiting for daemon set "${name}" rollout to finish: ${s.numberAvailable} of ${s.desiredNumberScheduled} updated pods are available...`;
    } else {
      const s = o.status ?? {};
      done = (s.availableReplicas ?? 0) >= (o.spec?.replicas ?? 1);
      msg = done ? `deployment "${name}" successfully rolled out` : `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${o.spec?.replicas ?? 1} updated replicas are available...`;
    }
    if (msg !== last) io.out(`${msg}\n`);
    last = msg;
    if (done) return;
    if (Date.now() >= deadline) fail('error: timed out waiting for the condition');
    await sleep(25);
  }
}

async function labelOrAnnotate(verb, args, flags, lab, io) {
  const kc = await access(flags);
  const [typeTok, name, ...pairs] = args[0]?.includes('/') ? [args[0].split('/')[0], args[0].split('/')[1], ...args.slice(1)] : args;
  const r = resolveType(typeTok ?? '');
  if (!r) fail(`error: the server doesn't have a resource type "${typeTok}"`);
  const field = verb === 'label' ? 'labels' : 'annotations';
  transact((st, _l, now) => {
    checkAccess(st, lab, now, kc);
    const ns = nsOf(flags, kc);
    const k = key(r, ns, name);
    // Nodes are derived from st.k8s.nodes (objects.mjs nodeObject): their labels live there.
    const node = r.kind === 'Node' ? st.k8s.nodes[name] : undefined;
    const o = node ? { metadata: { labels: node.labels, annotations: node.annotations } } : st.k8s.objects[k];
    if (!o) fail(notFound(r, name));
    o.metadata[field] = { ...(o.metadata[field] ?? {}) };
    for (const p of pairs) {
      if (p.endsWith('-')) delete o.metadata[field][p.slice(0, -1)];
      else {
        const [kk, v] = p.split('=');
        if (kk in o.metadata[field] && o.metadata[field][kk] !== v && !flags.overwrite) {
          fail(`error: '${kk}' already has a value (${o.metadata[field][kk]}), and --overwrite is false`);
        }
        o.metadata[field][kk] = v ?? '';
      }
    }
    if (node) node[field] = o.metadata[field];
    st.k8s.rv += 1;
    o.metadata.resourceVersion = String(st.k8s.rv);
    io.out(`${typeWord(r)}/${name} ${verb === 'label' ? 'labeled' : 'annotated'}\n`);
  });
}

async function patch(args, flags, lab, io) {
  const kc = await access(flags);
  const [{ r, name }] = targetsOf(args);
  let p;
  try {
    p = JSON.parse(flags.patch ?? '');
  } catch {
    const { parse } = await yaml();
    p = parse(flags.patch ?? '');
  }
  const mergeDeep = (a, b) => {
    if (!b || typeof b !== 'object' || Array.isArray(b)) return b;
    const out = { ...(a ?? {}) };
    for (const [k, v] of Object.entries(b)) {
      if (v === null) delete out[k];
      else out[k] = mergeDeep(out[k], v);
    }
    return out;
  };
  transact((st, _l, now) => {
    checkAccess(st, lab, now, kc);
    const ns = nsOf(flags, kc);
    if (r.kind === 'Kustomization' && st.flux) {
      const k = st.flux.kustomizations.find((x) => x.name === name && x.namespace === ns);
      if (!k) fail(notFound(r, name));
      if (p?.spec && 'suspend' in p.spec) k.suspended = !!p.spec.suspend;
      k.spec = mergeDeep(k.spec ?? {}, p?.spec ?? {});
      io.out(`${typeWord(r)}/${name} patched\n`);
      return;
    }
    const k = key(r, ns, name);
    const o = st.k8s.objects[k];
    if (!o) fail(notFound(r, name));
    st.k8s.objects[k] = mergeDeep(o, p);
    st.k8s.rv += 1;
    io.out(`${typeWord(r)}/${name} patched\n`);
  });
}

async function describe(args, flags, lab, io) {
  const kc = await access(flags);
  const { st, now } = snapshot();
  checkAccess(st, lab, now, kc);
  const ts = targetsOf(args);
  for (const t of ts) {
    for (const o of select(st, lab, now, t.r, { ns: nsOf(flags, kc), name: t.name, all: flags['all-namespaces'], selector: flags.selector })) {
      let text = `Name:         ${o.metadata.name}\n`;
      if (o.metadata.namespace) text += `Namespace:    ${o.metadata.namespace}\n`;
      text += `Labels:       ${Object.entries(o.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join('\n              ') || '<none>'}\n`;
      if (o.status?.conditions) {
        text += 'Conditions:\n' + table([['  Type', 'Status', 'Reason', 'Message'], ...o.status.conditions.map((c) => [`  ${c.type}`, c.status, c.reason ?? '', c.message ?? ''])]);
      }
      io.out(`${text}\n`);
    }
  }
}

main('kubectl', async (argv, io) => {
  const { flags, positionals, unknown } = parseArgs(argv, SPEC);
  const sub = positionals[0] ?? '';
  if (isClientOnly(argv, positionals, flags)) {
    return {
      cmd: sub,
      run: async () => {
        const r = delegate(argv);
        io.out(r.stdout);
        io.err(r.stderr);
        return r.code;
      },
    };
  }
  const args = positionals.slice(1);
  const cmd = ['rollout', 'auth'].includes(sub) ? `${sub} ${args[0] ?? ''}`.trim() : sub === 'get' && flags.raw ? 'get --raw' : sub;
  if (unknown.length) return { cmd, noFaults: true, run: async () => fail(`error: unknown flag: ${unknown[0]}\nSee 'kubectl ${sub} --help' for usage.\n(lab: flag not simulated; see test/lab/README.md)`) };
  return {
    cmd,
    run: async () => {
      const lab = (await import('./lib/core.mjs')).loadLab();
      switch (sub) {
        case 'get': await get(args, flags, lab, io); break;
        case 'apply': await applyOrCreate('apply', flags, lab, io); break;
        case 'create':
          if (!flags.filename) fail('lab: kubectl create <type> is only simulated with --dry-run=client (run by the real kubectl) or -f');
          await applyOrCreate('create', flags, lab, io);
          break;
        case 'replace': await applyOrCreate('apply', flags, lab, io); break;
        case 'delete': await del(args, flags, lab, io); break;
        case 'wait': await wait(args, flags, lab, io); break;
        case 'rollout': await rollout(args, flags, lab, io); break;
        case 'label': case 'annotate': await labelOrAnnotate(sub, args, flags, lab, io); break;
        case 'patch': await patch(args, flags, lab, io); break;
        case 'describe': await describe(args, flags, lab, io); break;
        case 'version': {
          const kc = await access(flags);
          const { st, now } = snapshot();
          const client = delegate(['version', '--client']).stdout;
          const a = apiAccess(st, lab, now, kc);
          io.out(client);
          if (!a.ok) fail(kubectlAccessError(a));
          io.out(`Server Version: v${st.k8sVersion ?? lab.kubernetesVersion}\n`);
          break;
        }
        case 'cluster-info': {
          const kc = await access(flags);
          const { st, now } = snapshot();
          checkAccess(st, lab, now, kc);
          io.out(`Kubernetes control plane is running at ${kc.server}\nCoreDNS is running at ${kc.server}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy\n\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n`);
          break;
        }
        case 'auth': {
          const kc = await access(flags);
          const { st, now } = snapshot();
          checkAccess(st, lab, now, kc);
          io.out('yes\n');
          break;
        }
        case 'logs': {
          const kc = await access(flags);
          const { st, now } = snapshot();
          checkAccess(st, lab, now, kc);
          io.out(`${iso(now)} lab: simulated log line for ${args.join(' ')}\n`);
          break;
        }
        case 'api-resources':
          io.out(table([['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'], ...RESOURCES.map((r) => [r.plural, r.short.join(','), r.group ? `${r.group}/${r.version}` : r.version, String(r.namespaced), r.kind])]));
          break;
        default:
          fail(`lab: kubectl ${sub} is not simulated (see test/lab/README.md)`, 64);
      }
      return 0;
    },
  };
});
