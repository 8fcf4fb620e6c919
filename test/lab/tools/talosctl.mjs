// Fake talosctl (Talos v1.11 CLI): see test/lab/README.md for the commands, outputs and errors reproduced.
// Follows talosctl v1.11.6: siderolabs/talos cmd/talosctl/cmd/talos/{apply-config,bootstrap,etcd,health,kubeconfig,
// upgrade,upgrade-k8s,reset,get,service}.go and cmd/talosctl/cmd/mgmt/gen/{config,secrets}.go; flags are cobra/pflag's
// (spf13/pflag flag.go: an undeclared flag fails with `Error: unknown flag: --x`, exit 1 — see GLOBAL and the per-command SPECS).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  main, parseArgs, fail, transact, snapshot, sleep, ToolExit, parseDuration, waitBudget, table, yaml, readStdin,
} from './lib/core.mjs';
import {
  reachability, etcdService, hasQuorum, apiServerOn, k8sNodes, timingsOf, healthyMembers, hexId, dropClusterIfNoData,
} from './lib/world.mjs';
import { fingerprint, issuedBy } from './lib/pki.mjs';
import { parseConfigYaml } from './lib/miniyaml.mjs';
import {
  newSecretsBundle, toYaml, readYamlDocs, merge, loadPatches, baseMachineConfig, talosconfigFor, kubeconfigFor, configRecord, imageTag,
} from './lib/talos.mjs';

const CLIENT_VERSION = process.env.LAB_TALOSCTL_VERSION ?? 'v1.11.6';
const CLIENT_SHA = '6dd14300';

const GLOBAL = {
  talosconfig: { type: 'string' },
  endpoints: { short: 'e', type: 'slice' },
  nodes: { short: 'n', type: 'slice' },
  context: { type: 'string' },
  cluster: { type: 'string' },
  help: { short: 'h', type: 'bool' },
};

const SPECS = {
  'gen secrets': {
    'output-file': { short: 'o', type: 'string' }, 'talos-version': { type: 'string' }, force: { short: 'f', type: 'bool' },
    'from-controlplane-config': { type: 'string' }, 'from-kubernetes-pki': { short: 'p', type: 'string' },
    'kubernetes-bootstrap-token': { short: 't', type: 'string' },
  },
  'gen config': {
    'with-secrets': { type: 'string' }, 'config-patch': { type: 'array' }, 'config-patch-control-plane': { type: 'array' },
    'config-patch-worker': { type: 'array' }, 'install-disk': { type: 'string' }, 'install-image': { type: 'string' },
    'kubernetes-version': { type: 'string' }, 'talos-version': { type: 'string' }, 'additional-sans': { type: 'slice' },
    'dns-domain': { type: 'string' }, output: { short: 'o', type: 'string' }, 'output-dir': { type: 'string' },
    'output-types': { short: 't', type: 'slice' }, 'with-docs': { type: 'bool' }, 'with-examples': { type: 'bool' },
    'with-cluster-discovery': { type: 'bool' }, 'with-kubespan': { type: 'bool' }, force: { short: 'f', type: 'bool' },
    version: { type: 'string' }, 'registry-mirror': { type: 'slice' },
  },
  'config endpoint': {}, 'config node': {}, 'config info': { output: { short: 'o', type: 'string' } }, 'config context': {},
  'config contexts': {}, 'config merge': {},
  'apply-config': {
    file: { short: 'f', type: 'string' }, insecure: { short: 'i', type: 'bool' }, 'config-patch': { short: 'p', type: 'array' },
    mode: { short: 'm', type: 'string' }, 'dry-run': { type: 'bool' }, timeout: { type: 'string' },
    'cert-fingerprint': { type: 'array' }, 'skip-talos-version-check': { type: 'bool' },
  },
  get: {
    insecure: { short: 'i', type: 'bool' }, output: { short: 'o', type: 'string' }, namespace: { type: 'string' },
    watch: { short: 'w', type: 'bool' },
  },
  version: { client: { type: 'bool' }, short: { type: 'bool' }, insecure: { short: 'i', type: 'bool' } },
  service: {},
  'etcd members': {}, 'etcd status': {}, 'etcd snapshot': {}, 'etcd remove-member': {}, 'etcd leave': {},
  'etcd forfeit-leadership': {},
  bootstrap: { 'recover-from': { type: 'string' }, 'recover-skip-hash-check': { type: 'bool' } },
  health: {
    'control-plane-nodes': { type: 'slice' }, 'worker-nodes': { type: 'slice' }, 'init-node': { type: 'string' },
    'wait-timeout': { type: 'string' }, 'k8s-endpoint': { type: 'string' }, server: { type: 'bool' }, 'run-e2e': { type: 'bool' },
  },
  kubeconfig: { force: { short: 'f', type: 'bool' }, merge: { short: 'm', type: 'bool' }, 'force-context-name': { type: 'string' } },
  reset: {
    graceful: { type: 'bool' }, reboot: { type: 'bool' }, wait: { type: 'bool' }, timeout: { type: 'string' },
    'system-labels-to-wipe': { type: 'slice' }, 'wipe-mode': { type: 'string' }, 'user-disks-to-wipe': { type: 'slice' },
    insecure: { short: 'i', type: 'bool' }, debug: { type: 'bool' },
  },
  upgrade: {
    image: { short: 'i', type: 'string' }, stage: { short: 's', type: 'bool' }, wait: { type: 'bool' }, force: { short: 'f', type: 'bool' },
    timeout: { type: 'string' }, debug: { type: 'bool' }, 'reboot-mode': { short: 'm', type: 'string' }, insecure: { type: 'bool' },
  },
  'upgrade-k8s': {
    to: { type: 'string' }, from: { type: 'string' }, 'dry-run': { type: 'bool' }, endpoint: { type: 'string' },
    'pre-pull-images': { type: 'bool' }, 'upgrade-kubelet': { type: 'bool' },
  },
  reboot: { mode: { short: 'm', type: 'string' }, wait: { type: 'bool' }, timeout: { type: 'string' }, debug: { type: 'bool' } },
  shutdown: { force: { type: 'bool' }, wait: { type: 'bool' }, timeout: { type: 'string' } },
  read: {},
  cp: {},
  validate: { config: { short: 'c', type: 'string' }, mode: { short: 'm', type: 'string' }, strict: { type: 'bool' } },
};
const ALIASES = { apply: 'apply-config', 'config endpoints': 'config endpoint', 'config nodes': 'config node' };
const GROUPS = new Set(['gen', 'config', 'etcd']);

/** Finds the (sub)command words, skipping global flags and their values. */
function commandOf(argv) {
  const words = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('-')) {
      const name = a.replace(/^-+/, '').split('=')[0];
      const g = Object.entries(GLOBAL).find(([n, s]) => n === name || s.short === name);
      const spec = g?.[1] ?? SPECS[words.join(' ')]?.[name] ?? Object.values(SPECS[words.join(' ')] ?? {}).find((s) => s.short === name);
      if (spec && spec.type !== 'bool' && !a.includes('=') && !(a.length > 2 && !a.startsWith('--'))) i++;
      continue;
    }
    words.push(a);
    if (words.length === 1 && !GROUPS.has(a)) break;
    if (words.length === 2) break;
  }
  let cmd = words.join(' ');
  cmd = ALIASES[cmd] ?? cmd;
  return cmd;
}

const rpc = (code, desc) => `rpc error: code = ${code} desc = ${desc}`;
const dialErr = (ip, what) => rpc('Unavailable', `connection error: desc = "transport: Error while dialing: dial tcp ${ip}:50000: ${what}"`);
const CERT_REQUIRED = rpc('Unavailable', 'connection error: desc = "error reading server preface: remote error: tls: certificate required"');
const UNKNOWN_CA = rpc('Unavailable', 'connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"');
const MAINTENANCE_UNIMPLEMENTED = rpc('Unimplemented', 'API is not implemented in maintenance mode');

function reachError(st, n, ip, now) {
  const r = reachability(st, n, now);
  if (r.up) return undefined;
  if (r.why === 'absent') return dialErr(ip, 'connect: no route to host');
  if (r.why === 'unreachable' || r.why === 'powered-off') return dialErr(ip, 'i/o timeout');
  return dialErr(ip, 'connect: connection refused');
}

// ---------------------------------------------------------------------------------------------------------------
// Client configuration (talosconfig)

function talosconfigPath(flags) {
  return flags.talosconfig || process.env.TALOSCONFIG || path.join(process.env.HOME || os.homedir(), '.talos', 'config');
}

async function readTalosconfig(file) {
  if (!fs.existsSync(file)) return undefined;
  return (await parseConfigYaml(fs.readFileSync(file, 'utf8'))) ?? {};
}

async function clientOf(flags) {
  const file = talosconfigPath(flags);
  const tc = await readTalosconfig(file);
  const ctxName = flags.context ?? tc?.context;
  const ctx = tc?.contexts?.[ctxName];
  if (flags.context && !ctx) fail(`context "${flags.context}" not found in talosconfig`);
  const endpoints = flags.endpoints?.length ? flags.endpoints : ctx?.endpoints ?? [];
  const nodes = flags.nodes?.length ? flags.nodes : ctx?.nodes ?? [];
  // The nodes a command acts on: --nodes, else the first endpoint.
  return { file, ca: ctx?.ca, crt: ctx?.crt, endpoints, nodes, targets: nodes.length ? nodes : endpoints.slice(0, 1) };
}

/**
 * Authenticated access to `target` through the client's endpoint; throws ToolExit with the error talosctl prints
 * (prefixed by `prefix`). Returns the target node record.
 */
function connect(st, lab, now, client, target, prefix) {
  const die = (msg) => fail(`${prefix}${msg}`);
  if (!client.endpoints.length) fail('error constructing client: failed to determine endpoints');
  const epIp = client.endpoints[0].replace(/:\d+$/, '');
  let ep;
  if (epIp === lab.vip) {
    ep = Object.values(st.nodes).find((n) => n.config?.vip === lab.vip && apiServerOn(st, lab, n, now));
    if (!ep || st.faults.some((f) => f.kind === 'vip-down')) die(dialErr(epIp, 'connect: no route to host'));
  } else {
    ep = st.nodes[epIp];
    const e = reachError(st, ep, epIp, now);
    if (e) die(e);
  }
  if (ep.mode !== 'configured') die(UNKNOWN_CA);
  if (!client.ca || fingerprint(client.ca) !== ep.config.talosCa) die(UNKNOWN_CA);
  if (!client.crt || !issuedBy(client.crt, ep.config.talosCaCrt)) die(CERT_REQUIRED);
  const tip = target ?? ep.ip;
  const n = st.nodes[tip];
  if (n !== ep) {
    const e = reachError(st, n, tip, now);
    if (e) die(e);
    if (n.mode !== 'configured' || n.config.talosCa !== ep.config.talosCa) {
      die(rpc('Unavailable', `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`));
    }
  }
  return n;
}

/** --insecure access: the maintenance service, no client certificate. */
function connectInsecure(st, now, ip, prefix) {
  const n = st.nodes[ip];
  const e = reachError(st, n, ip, now);
  if (e) fail(`${prefix}${e}`);
  if (n.mode === 'configured') fail(`${prefix}${CERT_REQUIRED}`);
  return n;
}

function singleNode(client, cmdName) {
  if (client.nodes.length > 1) fail(`command "${cmdName}" is not supported with multiple nodes`);
  return client.nodes[0];
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

async function genSecrets(flags) {
  const out = flags['output-file'] ?? 'secrets.yaml';
  const text = await toYaml(newSecretsBundle());
  if (out === '-') return { stdout: text };
  if (!flags.force && fs.existsSync(out)) fail(`file ${JSON.stringify(out)} already exists, use --force to overwrite`);
  fs.writeFileSync(out, text, { mode: 0o600 });
  return {};
}

async function genConfig(flags, positionals, io) {
  if (positionals.length !== 2) fail(`accepts 2 arg(s), received ${positionals.length}`);
  const [clusterName, endpoint] = positionals;
  let u;
  try {
    u = new URL(endpoint);
  } catch {
    u = undefined;
  }
  if (!u || !u.protocol) fail(`no scheme and port specified for the cluster endpoint URL\ntry: "https://${endpoint}:6443"`);
  if (u.protocol !== 'https:') fail(`the control plane endpoint URL should have scheme https://\ntry: "https://${u.host}"`);
  let secrets;
  if (flags['with-secrets']) {
    const f = flags['with-secrets'];
    if (!fs.existsSync(f)) fail(`failed to load secrets bundle: open ${f}: no such file or directory`);
    const [doc] = await readYamlDocs(fs.readFileSync(f, 'utf8'), f);
    if (!doc?.certs?.os?.crt || !doc?.certs?.k8s?.crt) fail('failed to validate secrets bundle: one of [certs.os, certs.k8s] is missing');
    secrets = doc;
  } else {
    secrets = newSecretsBundle();
  }
  const opts = {
    clusterName,
    endpoint,
    secrets,
    kubernetesVersion: flags['kubernetes-version'] ?? '1.34.1',
    installImage: flags['install-image'] ?? `ghcr.io/siderolabs/installer:${CLIENT_VERSION}`,
    installDisk: flags['install-disk'] ?? '/dev/sda',
    dnsDomain: flags['dns-domain'] ?? 'cluster.local',
    additionalSans: flags['additional-sans'],
  };
  const common = await loadPatches(flags['config-patch']);
  const cpPatches = await loadPatches(flags['config-patch-control-plane'], 'config-patch-control-plane');
  const wPatches = await loadPatches(flags['config-patch-worker'], 'config-patch-worker');
  const build = async (type, extra) => {
    let cfg = baseMachineConfig(type, opts);
    const docs = [];
    for (const p of [...common, ...extra]) {
      cfg = merge(cfg, p.main);
      docs.push(...p.extra);
    }
    const { stringify } = await yaml();
    return [cfg, ...docs].map((d) => stringify(d, { indent: 4, lineWidth: 0 })).join('---\n');
  };
  const types = flags['output-types'] ?? ['controlplane', 'worker', 'talosconfig'];
  const dir = flags.output ?? flags['output-dir'] ?? process.cwd();
  const files = [];
  if (types.includes('controlplane')) files.push([path.join(dir, 'controlplane.yaml'), await build('controlplane', cpPatches)]);
  if (types.includes('worker')) files.push([path.join(dir, 'worker.yaml'), await build('worker', wPatches)]);
  if (types.includes('talosconfig')) files.push([path.join(dir, 'talosconfig'), await toYaml(talosconfigFor(clusterName, secrets))]);
  if (flags.output === '-') return { stdout: files.map((f) => f[1]).join('---\n') };
  for (const [f] of files) if (!flags.force && fs.existsSync(f)) fail(`file ${JSON.stringify(f)} already exists, use --force to overwrite`);
  for (const [f, text] of files) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text, { mode: 0o644 });
    io.err(`Created ${f}\n`);
  }
  return {};
}

async function configEdit(cmd, flags, positionals) {
  const file = talosconfigPath(flags);
  const tc = await readTalosconfig(file);
  if (!tc) fail(`failed to read config: open ${file}: no such file or directory`);
  const name = flags.context ?? tc.context;
  const ctx = tc.contexts?.[name];
  if (!ctx) fail(`context "${name}" is not defined`);
  if (cmd === 'config endpoint') ctx.endpoints = positionals;
  else if (cmd === 'config node') ctx.nodes = positionals;
  else if (cmd === 'config context') {
    if (!tc.contexts[positionals[0]]) fail(`context ${positionals[0]} is not defined`);
    tc.context = positionals[0];
  } else if (cmd === 'config info') {
    return {
      stdout:
        `Current context:     ${name}\nNodes:               ${(ctx.nodes ?? []).join(', ') || 'not defined'}\n` +
        `Endpoints:           ${(ctx.endpoints ?? []).join(', ') || 'not defined'}\nRoles:               os:admin\n` +
        `Certificate expires: 1 year from now\n`,
    };
  } else if (cmd === 'config contexts') {
    return { stdout: table([['CURRENT', 'NAME', 'ENDPOINTS', 'NODES'], ...Object.entries(tc.contexts).map(([n, c]) => [n === tc.context ? '*' : '', n, (c.endpoints ?? []).join(','), (c.nodes ?? []).join(',')])]) };
  } else if (cmd === 'config merge') {
    const other = await readTalosconfig(positionals[0]);
    if (!other) fail(`open ${positionals[0]}: no such file or directory`);
    for (const [n, c] of Object.entries(other.contexts ?? {})) tc.contexts[tc.contexts[n] ? `${n}-1` : n] = c;
    tc.context = other.context;
  }
  fs.writeFileSync(file, await toYaml(tc), { mode: 0o600 });
  return {};
}

async function readMachineConfig(file, patches) {
  let text;
  if (file === '/dev/stdin' || file === '-') text = await readStdin();
  else {
    if (!file) fail('no filename supplied for configuration');
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      fail(`open ${file}: no such file or directory`);
    }
  }
  const docs = await readYamlDocs(text, file);
  let cfg = docs.find((d) => d.version === 'v1alpha1') ?? docs[0];
  let extra = docs.filter((d) => d !== cfg);
  for (const p of await loadPatches(patches)) {
    cfg = merge(cfg, p.main);
    extra = [...extra, ...p.extra];
  }
  return configRecord(cfg, extra);
}

async function applyConfig(flags, lab, io) {
  const client = await clientOf(flags);
  const record = await readMachineConfig(flags.file, flags['config-patch']);
  const mode = flags.mode ?? 'auto';
  const { targets } = client;
  if (!targets.length) fail('error constructing client: failed to determine endpoints');
  const prefix = 'error applying new configuration: ';
  return transact((st, _lab, now) => {
    const t = timingsOf(lab);
    for (const ip of targets) {
      const n = flags.insecure ? connectInsecure(st, now, ip, prefix) : connect(st, lab, now, client, ip, prefix);
      if (flags['dry-run']) {
        io.err(`Dry run summary:\nApplied configuration without a reboot (skipped in dry-run).\n`);
        continue;
      }
      const first = n.mode !== 'configured';
      const needsReboot = first || mode === 'reboot' || n.config.installImage !== record.installImage && mode !== 'no-reboot';
      if (!first && mode === 'no-reboot' && n.config.type !== record.type) {
        fail(`${prefix}${rpc('InvalidArgument', 'apply configuration without a reboot is not possible: this change requires a reboot')}`);
      }
      n.mode = 'configured';
      n.config = record;
      n.configuredAt = now;
      n.applyCount = (n.applyCount ?? 0) + 1;
      if (first) {
        // Installs to disk from the install image, then reboots into it.
        n.talosVersion = imageTag(record.installImage) ?? n.talosVersion;
        n.upAt = now + t.applyReboot;
        n.downReason = 'installing';
      } else if (needsReboot && mode !== 'staged') {
        n.upAt = now + t.reboot;
        n.downReason = 'rebooting';
        io.err('Applied configuration with a reboot\n');
      } else {
        io.err(`Applied configuration without a reboot\n`);
      }
    }
    return 0;
  });
}

function resource(node, ns, type, id, spec, phase = 'running') {
  const ts = new Date().toISOString();
  return { node: node ?? '', metadata: { namespace: ns, type, id, version: 1, owner: '', phase, created: ts, updated: ts }, spec };
}

async function get(flags, positionals, lab) {
  const [typeRaw, id] = positionals;
  if (!typeRaw) fail('accepts between 1 and 2 arg(s), received 0');
  const type = typeRaw.toLowerCase();
  const out = flags.output ?? 'table';
  const client = await clientOf(flags);
  const { targets } = client;
  if (!targets.length) fail('error constructing client: failed to determine endpoints');
  const { st, now } = snapshot();
  const results = [];
  const errors = [];
  for (const ip of targets) {
    try {
      const n = flags.insecure ? connectInsecure(st, now, ip, '') : connect(st, lab, now, client, ip, '');
      const nodeCol = flags.insecure ? '' : ip;
      results.push(...resourcesOf(st, lab, now, n, nodeCol, type, id, !!flags.insecure));
    } catch (e) {
      if (!(e instanceof ToolExit)) throw e;
      errors.push(`${ip}: ${e.stderr.trim()}`);
    }
  }
  let stdout = '';
  if (out === 'json') stdout = results.map((r) => `${JSON.stringify(r, null, 4)}\n`).join('');
  else if (out === 'yaml') {
    const { stringify } = await yaml();
    stdout = results.map((r) => `${stringify(r, { indent: 4 })}`).join('---\n');
  } else {
    stdout = table([
      ['NODE', 'NAMESPACE', 'TYPE', 'ID', 'VERSION', ...Object.keys(results[0]?.columns ?? {})],
      ...results.map((r) => [r.node, r.metadata.namespace, r.metadata.type.split('.')[0].replace(/s$/, ''), r.metadata.id, r.metadata.version]),
    ]);
  }
  if (errors.length) throw new ToolExit(1, `${errors.join('\n')}\n`, stdout);
  return { stdout };
}

function resourcesOf(st, lab, now, n, nodeCol, type, id, insecure) {
  switch (type) {
    case 'disks':
    case 'disk':
      return [resource(nodeCol, 'runtime', 'Disks.block.talos.dev', 'sda', { dev_path: '/dev/sda', size: 68719476736, pretty_size: '69 GB', model: 'QEMU HARDDISK', transport: 'virtio', rotational: true, readonly: false, cdrom: false })];
    case 'machinestatus':
    case 'machinestatuses': {
      const stage = n.mode === 'configured' ? 'running' : 'maintenance';
      const ready = n.mode === 'configured';
      return [resource(nodeCol, 'runtime', 'MachineStatuses.runtime.talos.dev', 'machine', { stage, status: { ready, unmetConditions: ready ? [] : [{ name: 'config', reason: 'waiting for machine configuration' }] } })];
    }
    case 'machineconfig':
    case 'machineconfigs':
    case 'mc':
      if (n.mode !== 'configured') fail(rpc('NotFound', 'resource MachineConfigs.config.talos.dev(config/v1alpha1@undefined) NotFound'));
      return [resource(nodeCol, 'config', 'MachineConfigs.config.talos.dev', 'v1alpha1', { type: n.config.type, hostname: n.config.hostname, clusterName: n.config.clusterName, installImage: n.config.installImage })];
    case 'version':
    case 'versions':
      return [resource(nodeCol, 'runtime', 'Versions.runtime.talos.dev', 'version', { version: n.talosVersion })];
    case 'nodename':
    case 'nodenames':
      if (n.mode !== 'configured') fail(MAINTENANCE_UNIMPLEMENTED);
      return [resource(nodeCol, 'k8s', 'Nodenames.kubernetes.talos.dev', 'nodename', { nodename: n.config.hostname ?? n.name, hostname: n.config.hostname ?? n.name })];
    case 'members':
    case 'member':
      if (insecure) fail(MAINTENANCE_UNIMPLEMENTED);
      return Object.values(st.nodes)
        .filter((m) => m.mode === 'configured' && m.config.k8sCa === n.config.k8sCa && reachability(st, m, now).up)
        .map((m) => resource(nodeCol, 'cluster', 'Members.cluster.talos.dev', m.config.hostname ?? m.name, { nodeId: hexId(m.ip), addresses: [m.ip], hostname: m.config.hostname ?? m.name, machineType: m.config.type, operatingSystem: `Talos (${m.talosVersion})` }));
    default:
      fail(`lab: talosctl get ${type} is not simulated (supported: disks, machinestatus, machineconfig, version, nodename, members)`);
  }
  return [];
}

async function version(flags, lab) {
  const client = `Client:\n\tTag:         ${CLIENT_VERSION}\n\tSHA:         ${CLIENT_SHA}\n\tBuilt:       \n\tGo version:  go1.24.11\n\tOS/Arch:     linux/amd64\n`;
  if (flags.client) return { stdout: flags.short ? `Client:\nTalos ${CLIENT_VERSION}\n` : client };
  const c = await clientOf(flags);
  const targets = c.nodes.length ? c.nodes : c.endpoints.slice(0, 1);
  if (!targets.length) fail('error constructing client: failed to determine endpoints');
  const { st, now } = snapshot();
  let stdout = flags.short ? `Client:\nTalos ${CLIENT_VERSION}\nServer:\n` : `${client}Server:\n`;
  for (const ip of targets) {
    let n;
    try {
      n = flags.insecure ? connectInsecure(st, now, ip, '') : connect(st, lab, now, c, ip, '');
    } catch (e) {
      if (!(e instanceof ToolExit)) throw e;
      throw new ToolExit(1, `${ip}: error getting server version: ${e.stderr.trim()}\n`, stdout);
    }
    stdout += flags.short
      ? `\tNODE:        ${flags.insecure ? '' : ip}\n\tTag:         ${n.talosVersion}\n`
      : `\tNODE:        ${flags.insecure ? '' : ip}\n\tTag:         ${n.talosVersion}\n\tSHA:         ${CLIENT_SHA}\n\tBuilt:       \n\tGo version:  go1.24.11\n\tOS/Arch:     linux/amd64\n\tEnabled:     RBAC\n`;
  }
  return { stdout };
}

function ago(now, t) {
  return `${Math.max(0, Math.round((now - t) / 1000))}s ago`;
}

async function service(flags, positionals, lab) {
  const id = positionals[0];
  const client = await clientOf(flags);
  const { targets } = client;
  if (!targets.length) fail('error constructing client: failed to determine endpoints');
  const { st, now } = snapshot();
  const blocks = [];
  for (const ip of targets) {
    const n = connect(st, lab, now, client, ip, '');
    const svcs = servicesOf(st, lab, n, now);
    if (!id) {
      blocks.push(table([['NODE', 'SERVICE', 'STATE', 'HEALTH', 'LAST CHANGE', 'LAST EVENT'], ...svcs.map((s) => [ip, s.id, s.state, s.health, `${Math.round((now - s.since) / 1000)}s ago`, s.event])]));
      continue;
    }
    const s = svcs.find((x) => x.id === id);
    if (!s) fail(`${ip}: ${rpc('NotFound', `service "${id}" not registered`)}`);
    let block = `NODE     ${ip}\nID       ${s.id}\nSTATE    ${s.state}\nHEALTH   ${s.health}\n`;
    if (s.message) block += `LAST HEALTH MESSAGE   ${s.message}\n`;
    block += `EVENTS   ${s.events.map((e, i) => `${i ? '         ' : ''}[${e.state}]: ${e.msg} (${ago(now, e.at)})`).join('\n')}\n`;
    blocks.push(block);
  }
  return { stdout: blocks.join('') };
}

function servicesOf(st, lab, n, now) {
  const base = n.upAt ?? now;
  const svc = (id, state = 'Running', health = 'OK', since = base) => ({
    id, state, health, since, event: state === 'Running' ? 'Health check successful' : 'Running pre state',
    events: [{ state, msg: state === 'Running' ? 'Health check successful' : 'Running pre state', at: since }],
  });
  const out = [svc('apid'), svc('containerd'), svc('cri'), svc('kubelet'), svc('machined'), svc('trustd'), svc('udevd')];
  const e = etcdService(st, lab, n, now);
  if (e) {
    const events =
      e.state === 'Running'
        ? [
            { state: 'Running', msg: 'Health check successful', at: e.since },
            { state: 'Running', msg: 'Started task etcd (PID 2861) for container etcd', at: e.since },
            { state: 'Preparing', msg: 'Creating service runner', at: e.since },
            { state: 'Preparing', msg: 'Running pre state', at: base },
            { state: 'Waiting', msg: 'Waiting for service "cri" to be "up", time sync, network', at: base },
          ]
        : [
            { state: e.state, msg: e.state === 'Failed' ? `Failed running service: ${e.message}` : 'Running pre state', at: now },
            { state: 'Waiting', msg: 'Waiting for service "cri" to be "up", time sync, network', at: base },
          ];
    out.push({ id: 'etcd', state: e.state, health: e.health, since: e.since ?? base, message: e.state === 'Running' ? undefined : e.message, event: events[0].msg, events });
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

function memberRows(st, n, ip) {
  const cl = st.etcd.cluster;
  return Object.entries(cl.members).map(([mip, id]) => {
    const m = st.nodes[mip];
    return [ip, id, m?.config?.hostname ?? m?.name ?? mip, `https://${mip}:2380`, `https://${mip}:2379`, 'false'];
  });
}

async function etcd(cmd, flags, positionals, lab, io) {
  const client = await clientOf(flags);
  const sub = cmd.split(' ')[1];
  const prefixes = { members: 'error getting members: ', snapshot: 'error reading file: ', status: '', 'remove-member': '', leave: '', 'forfeit-leadership': '' };
  if (sub === 'snapshot' || sub === 'remove-member') singleNode(client, `etcd ${sub}`);
  const target = client.nodes[0];
  const mutate = sub === 'remove-member' || sub === 'leave';
  const run = (st, now) => {
    const n = connect(st, lab, now, client, target, prefixes[sub]);
    const ip = n.ip;
    const svc = etcdService(st, lab, n, now);
    if (!svc) fail(`${prefixes[sub]}${rpc('FailedPrecondition', 'etcd is not running on this node (not a control plane node)')}`);
    if (svc.state !== 'Running') fail(`${prefixes[sub]}${rpc('Unavailable', 'etcd is not running on this node (service etcd is ' + svc.state + ')')}`);
    if (sub === 'members') {
      return { stdout: table([['NODE', 'ID', 'HOSTNAME', 'PEER URLS', 'CLIENT URLS', 'LEARNER'], ...memberRows(st, n, ip)]) };
    }
    if (sub === 'status') {
      const cl = st.etcd.cluster;
      const leader = cl.members[cl.bootstrapNode] ?? Object.values(cl.members)[0];
      const rows = (client.nodes.length ? client.nodes : [ip]).map((nip) => {
        const m = st.nodes[nip];
        const size = `${(4 + (st.k8s.rv % 40) / 10).toFixed(1)} MB`;
        return [nip, m?.etcd?.memberId ?? '?', size, `${size} (100.00%)`, leader, String(st.k8s.rv + 1000), '2', String(st.k8s.rv + 1000), 'false', '3.6', '3.6', ''];
      });
      return { stdout: table([['NODE', 'MEMBER', 'DB SIZE', 'IN USE', 'LEADER', 'RAFT INDEX', 'RAFT TERM', 'RAFT APPLIED INDEX', 'LEARNER', 'PROTOCOL', 'STORAGE', 'ERRORS'], ...rows]) };
    }
    if (sub === 'snapshot') {
      const file = positionals[0];
      if (!file) fail('accepts 1 arg(s), received 0');
      if (!hasQuorum(st, lab, now)) fail(`error reading file: ${rpc('Unavailable', 'etcdserver: no leader')}`);
      const padded = etcdDbImage('etcd-snapshot', st, now);
      const sum = createHash('sha256').update(padded).digest();
      const data = Buffer.concat([padded, sum]);
      fs.writeFileSync(`${file}.part`, data, { mode: 0o600 });
      fs.renameSync(`${file}.part`, file);
      const keys = Object.keys(st.k8s.objects).length + Object.keys(st.k8s.nodes).length + 300;
      return {
        stdout: `etcd snapshot saved to ${JSON.stringify(file)} (${data.length} bytes)\nsnapshot info: hash ${sum.readUInt32BE(0).toString(16).padStart(8, '0')}, revision ${st.k8s.rv}, total keys ${keys}, total size ${padded.length}\n`,
      };
    }
    if (sub === 'remove-member') {
      const want = positionals[0];
      if (!want) fail('accepts 1 arg(s), received 0');
      const cl = st.etcd.cluster;
      // Talos ≥1.7 takes the hex member ID; older ones the hostname.
      const ipOf = Object.keys(cl.members).find((mip) => cl.members[mip] === want || (st.nodes[mip]?.config?.hostname ?? st.nodes[mip]?.name) === want);
      if (!ipOf) fail(rpc('Unknown', 'etcdserver: member not found'));
      delete cl.members[ipOf];
      if (st.nodes[ipOf]) st.nodes[ipOf].etcd = null;
      return {};
    }
    if (sub === 'leave') {
      delete st.etcd.cluster.members[ip];
      n.etcd = null;
      return {};
    }
    if (sub === 'forfeit-leadership') return {};
    fail(`lab: talosctl etcd ${sub} is not simulated`);
  };
  const res = mutate ? transact((st, _l, now) => run(st, now)) : (({ st, now }) => run(st, now))(snapshot());
  return res;
}

function readSnapshotFile(file, skipHash) {
  let data;
  try {
    data = fs.readFileSync(file);
  } catch {
    fail(`open ${file}: no such file or directory`);
  }
  const hasHash = data.length % 512 === 32;
  const body = hasHash ? data.subarray(0, data.length - 32) : data;
  if (!skipHash) {
    if (!hasHash) fail('snapshot file integrity check failed. 32 bytes checksum doesn\'t match calculated checksum');
    const sum = createHash('sha256').update(body).digest();
    if (!sum.equals(data.subarray(data.length - 32))) fail('snapshot file integrity check failed. 32 bytes checksum doesn\'t match calculated checksum');
  }
  let payload;
  try {
    payload = JSON.parse(body.subarray(4, 4 + body.readUInt32BE(0)).toString('utf8'));
  } catch {
    fail('lab: not an etcd snapshot written by the lab');
  }
  const hash = hasHash ? data.readUInt32BE(data.length - 32).toString(16).padStart(8, '0') : '00000000';
  const keys = Object.keys(payload.k8s?.objects ?? {}).length + Object.keys(payload.k8s?.nodes ?? {}).length + 300;
  const sha256 = createHash('sha256').update(data).digest('hex');
  return { payload, sha256, info: `hash ${hash}, revision ${payload.revision}, total keys ${keys}, total size ${body.length}` };
}

async function bootstrap(flags, lab, io) {
  const client = await clientOf(flags);
  const target = singleNode(client, 'bootstrap');
  const prefix = 'error executing bootstrap: ';
  const snap = flags['recover-from'] ? readSnapshotFile(flags['recover-from'], flags['recover-skip-hash-check']) : undefined;
  if (snap) io.out(`recovering from snapshot ${JSON.stringify(flags['recover-from'])}: ${snap.info}\n`);
  return transact((st, _l, now) => {
    const t = timingsOf(lab);
    const n = connect(st, lab, now, client, target, prefix);
    if (n.config.type !== 'controlplane') fail(`${prefix}${rpc('FailedPrecondition', 'bootstrap can only be performed on a control plane node')}`);
    if (now < n.upAt + (t.bootstrapWindow ?? 0)) fail(`${prefix}${rpc('FailedPrecondition', 'bootstrap is not available yet')}`);
    if (n.etcd) fail(`${prefix}${rpc('AlreadyExists', 'etcd data directory is not empty')}`);
    const cl = st.etcd.cluster;
    const others = Object.values(st.nodes).filter((m) => m !== n && m.etcd);
    if (cl && others.length) st.etcd.splitBrain = true;
    const memberId = hexId(`${n.ip}:${now}`);
    st.etcd.bootstraps.push({ ip: n.ip, at: now, recoverFrom: flags['recover-from'] });
    st.etcd.cluster = {
      id: hexId(`cluster:${now}`),
      bootstrapNode: n.ip,
      bootstrappedAt: now,
      runningAt: null,
      apiUpAt: null,
      k8sCa: n.config.k8sCa,
      k8sCaCrt: n.config.k8sCaCrt,
      talosCa: n.config.talosCa,
      members: { [n.ip]: memberId },
      bootstrapMemberId: memberId,
      ...(snap ? { recoveredFrom: flags['recover-from'], recoveredSha256: snap.sha256 } : {}),
    };
    n.etcd = { memberId, joinedAt: now, runningAt: now + t.etcdBootstrap };
    if (snap) {
      st.k8s.objects = snap.payload.k8s?.objects ?? {};
      st.k8s.nodes = snap.payload.k8s?.nodes ?? {};
      st.k8s.rv = (snap.payload.k8s?.rv ?? 1) + 1;
      st.helm.releases = snap.payload.helm ?? {};
      st.flux = snap.payload.flux ?? null;
    }
    return 0;
  });
}

const HEALTH_CHECKS = [
  'etcd to be healthy',
  'etcd members to be consistent across nodes',
  'etcd members to be control plane nodes',
  'apid to be ready',
  'all nodes memory sizes',
  'all nodes disk sizes',
  'no diagnostics',
  'kubelet to be healthy',
  'all nodes to finish boot sequence',
  'all k8s nodes to report',
  'all control plane static pods to be running',
  'all control plane components to be ready',
  'all k8s nodes to report ready',
  'kube-proxy to report ready',
  'coredns to report ready',
  'all k8s nodes to report schedulable',
];

function healthCheck(name, st, lab, now, cps, workers) {
  const all = [...cps, ...workers];
  const nodes = all.map((ip) => st.nodes[ip]);
  const down = all.filter((ip) => !reachability(st, st.nodes[ip], now).up);
  switch (name) {
    case 'etcd to be healthy': {
      const bad = cps.filter((ip) => etcdService(st, lab, st.nodes[ip], now)?.state !== 'Running');
      return bad.length ? `${bad[0]}: service "etcd" not in expected state "Running": current state [${etcdService(st, lab, st.nodes[bad[0]], now)?.state ?? 'Unknown'}] Waiting to join the etcd cluster` : undefined;
    }
    case 'etcd members to be consistent across nodes':
    case 'etcd members to be control plane nodes': {
      const members = Object.keys(st.etcd.cluster?.members ?? {});
      const missing = cps.filter((ip) => !members.includes(ip));
      if (missing.length) return `etcd member ips ${JSON.stringify(members)} are not consistent with control plane ips ${JSON.stringify(cps)}`;
      return hasQuorum(st, lab, now) ? undefined : 'etcd cluster has no quorum';
    }
    case 'apid to be ready':
    case 'kubelet to be healthy':
    case 'all nodes to finish boot sequence':
    case 'all nodes memory sizes':
    case 'all nodes disk sizes':
    case 'no diagnostics':
      if (down.length) return `${down[0]}: ${dialErr(down[0], 'connect: connection refused')}`;
      return nodes.some((n) => n.mode !== 'configured') ? 'node is in maintenance mode' : undefined;
    case 'all k8s nodes to report': {
      const reg = Object.values(st.k8s.nodes).map((r) => r.ip);
      const missing = all.filter((ip) => !reg.includes(ip));
      if (!apiServerOn(st, lab, st.nodes[cps[0]], now)) return `Get "https://${cps[0]}:6443/api/v1/nodes": dial tcp ${cps[0]}:6443: connect: connection refused`;
      return missing.length ? `expected number of nodes ${all.length}, got ${all.length - missing.length}` : undefined;
    }
    case 'all control plane static pods to be running':
    case 'all control plane components to be ready':
      return cps.every((ip) => apiServerOn(st, lab, st.nodes[ip], now)) ? undefined : `expected 3 static pods on node, got fewer`;
    case 'all k8s nodes to report ready':
    case 'coredns to report ready':
    case 'all k8s nodes to report schedulable': {
      const notReady = k8sNodes(st, lab, now).filter((k) => all.includes(k.ip) && !k.ready).map((k) => k.name);
      if (name === 'coredns to report ready') return notReady.length === all.length ? 'no ready pods found for namespace "kube-system" and label selector "k8s-app=kube-dns"' : undefined;
      return notReady.length ? `some nodes are not ready: [${notReady.join(' ')}]` : undefined;
    }
    case 'kube-proxy to report ready':
      return 'SKIP';
    default:
      return undefined;
  }
}

async function health(flags, lab, io) {
  const client = await clientOf(flags);
  const node = singleNode(client, 'health');
  const timeoutMs = waitBudget(lab, parseDuration(flags['wait-timeout'], 20 * 60000));
  const deadline = Date.now() + timeoutMs;
  let { st, now } = snapshot();
  const n = connect(st, lab, now, client, node, '');
  let cps = flags['control-plane-nodes'];
  let workers = flags['worker-nodes'] ?? [];
  if (!cps) {
    cps = Object.values(st.nodes).filter((m) => m.config?.type === 'controlplane' && m.config.k8sCa === n.config.k8sCa).map((m) => m.ip);
    workers = Object.values(st.nodes).filter((m) => m.config?.type === 'worker' && m.config.k8sCa === n.config.k8sCa).map((m) => m.ip);
    io.err(`discovered nodes: [${[...cps, ...workers].map((x) => JSON.stringify(x)).join(' ')}]\n`);
  }
  for (const check of HEALTH_CHECKS) {
    let last;
    for (;;) {
      ({ st, now } = snapshot());
      const problem = healthCheck(check, st, lab, now, cps, workers);
      if (problem === 'SKIP') {
        io.err(`waiting for ${check}: SKIP\n`);
        break;
      }
      if (!problem) {
        io.err(`waiting for ${check}: OK\n`);
        break;
      }
      if (problem !== last) io.err(`waiting for ${check}: ${problem}\n`);
      last = problem;
      if (Date.now() >= deadline) {
        throw new ToolExit(1, 'healthcheck error: rpc error: code = DeadlineExceeded desc = context deadline exceeded\n');
      }
      await sleep(Math.min(50, Math.max(5, deadline - Date.now())));
    }
  }
  return {};
}

async function kubeconfig(flags, positionals, lab) {
  const client = await clientOf(flags);
  const target = singleNode(client, 'kubeconfig');
  const { st, now } = snapshot();
  const n = connect(st, lab, now, client, target, 'error copying: ');
  if (n.config.type !== 'controlplane' || !n.config.k8sCaKey) fail(`error copying: ${rpc('Unknown', 'kubeconfig is available only on control plane nodes')}`);
  const kc = kubeconfigFor(n.config.clusterName, n.config.endpoint, { crt: n.config.k8sCaCrt, key: n.config.k8sCaKey });
  const user = kc['current-context'];
  const { stringify, parse } = await yaml();
  const text = stringify(kc, { indent: 2 });
  let dest = positionals[0];
  const merge = flags.merge ?? true;
  if (dest === '-') return { stdout: text };
  if (!dest) dest = merge ? path.join(process.env.HOME ?? os.homedir(), '.kube', 'config') : process.cwd();
  if (fs.existsSync(dest) && fs.statSync(dest).isDirectory()) dest = path.join(dest, 'kubeconfig');
  if (fs.existsSync(dest) && !(flags.force || merge)) fail(`kubeconfig file already exists, use --force to overwrite: ${JSON.stringify(dest)}`);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  if (merge && fs.existsSync(dest)) {
    const cur = parse(fs.readFileSync(dest, 'utf8')) ?? {};
    for (const key of ['clusters', 'users', 'contexts']) {
      cur[key] = [...(cur[key] ?? []).filter((e) => !(flags.force && kc[key].some((x) => x.name === e.name))), ...kc[key].map((x) => {
        if (!flags.force && (cur[key] ?? []).some((e) => e.name === x.name)) return { ...x, name: `${x.name}-1` };
        return x;
      })];
    }
    cur['current-context'] = flags.force ? user : cur.contexts.at(-1).name;
    fs.writeFileSync(dest, stringify(cur), { mode: 0o600 });
  } else {
    fs.writeFileSync(dest, text, { mode: 0o600 });
  }
  return {};
}

async function reset(flags, lab, io) {
  const client = await clientOf(flags);
  const { targets } = client;
  const labels = flags['system-labels-to-wipe'] ?? [];
  const graceful = flags.graceful ?? true;
  const reboot = flags.reboot ?? false;
  const wait = flags.wait ?? true;
  const prefix = 'error executing reset: ';
  transact((st, _l, now) => {
    const t = timingsOf(lab);
    // apid fans the request out to every node before any of them goes down.
    const nodes = targets.map((ip) => (flags.insecure ? connectInsecure(st, now, ip, prefix) : connect(st, lab, now, client, ip, prefix)));
    for (const n of nodes) {
      const full = labels.length === 0 || flags['wipe-mode'] === 'all' || flags['wipe-mode'] === 'system-disk';
      const wipeState = full || labels.includes('STATE');
      const wipeEphemeral = full || labels.includes('EPHEMERAL');
      if (graceful && n.etcd && st.etcd.cluster) {
        if (Object.keys(st.etcd.cluster.members).length <= 1) {
          fail(`${prefix}${rpc('FailedPrecondition', 'failed to leave etcd cluster: etcdserver: re-configuration failed due to not enough started members')}`);
        }
        delete st.etcd.cluster.members[n.ip];
      }
      if (wipeEphemeral) {
        n.etcd = null;
        // The bad data directory is gone: the node can rejoin as a new member.
        st.faults = st.faults.filter((f) => !(f.kind === 'etcd-member-lost' && (f.node === n.ip || f.node === n.name || f.node === n.config?.hostname)));
      }
      if (wipeState) {
        n.mode = 'maintenance';
        n.config = null;
        n.etcd = null;
      }
      if (full) n.wipedAt = now;
      n.resetCount = (n.resetCount ?? 0) + 1;
      if (reboot) {
        n.upAt = now + t.reset;
        n.downReason = 'resetting';
      } else {
        n.upAt = null;
        n.downReason = 'powered-off';
      }
    }
    dropClusterIfNoData(st);
  });
  if (wait && reboot) {
    await waitUntilUp(lab, flags, targets, (ip) => io.err(`waiting for ${ip} to come back after reset\n`));
  }
  return {};
}

async function upgrade(flags, lab, io) {
  const client = await clientOf(flags);
  const { targets } = client;
  const image = flags.image ?? `ghcr.io/siderolabs/installer:${CLIENT_VERSION}`;
  const wait = flags.wait ?? true;
  const rows = [['NODE', 'ACK', 'STARTED']];
  transact((st, _l, now) => {
    const t = timingsOf(lab);
    const nodes = targets.map((ip) => connect(st, lab, now, client, ip, 'error performing upgrade: '));
    for (const n of nodes) {
      const ip = n.ip;
      if (!flags.force && n.etcd && st.etcd.cluster && !hasQuorumWithout(st, lab, now, n)) {
        fail(`error performing upgrade: ${rpc('FailedPrecondition', 'etcd quorum check failed: upgrading this node would break etcd quorum (use --force to skip)')}`);
      }
      n.talosVersion = imageTag(image) ?? n.talosVersion;
      n.config.installImage = image;
      n.upgradeCount = (n.upgradeCount ?? 0) + 1;
      if (!flags.stage) {
        n.upAt = now + t.upgrade;
        n.downReason = 'upgrading';
      }
      rows.push([ip, 'Upgrade request received', new Date(now).toISOString()]);
    }
  });
  if (!wait) return { stdout: table(rows) };
  await waitUntilUp(lab, flags, targets, (ip) => io.err(`watching nodes: [${ip}]\n    * ${ip}: post check passed\n`));
  return {};
}

/**
 * `--wait` of reset, upgrade and reboot: each target answers again, within --timeout (30m by default); `announce` runs
 * before waiting on a target, `onUp` once it answers.
 */
async function waitUntilUp(lab, flags, targets, announce, onUp = () => {}) {
  const deadline = Date.now() + waitBudget(lab, parseDuration(flags.timeout, 30 * 60000));
  for (const ip of targets) {
    announce(ip);
    for (;;) {
      const { st, now } = snapshot();
      if (reachability(st, st.nodes[ip], now).up) break;
      if (Date.now() > deadline) fail('context deadline exceeded');
      await sleep(20);
    }
    onUp(ip);
  }
}

function hasQuorumWithout(st, lab, now, n) {
  const total = Object.keys(st.etcd.cluster.members).length;
  const healthy = healthyMembers(st, lab, now).filter((ip) => ip !== n.ip).length;
  return total <= 1 || healthy * 2 > total;
}

async function upgradeK8s(flags, lab, io) {
  const client = await clientOf(flags);
  const target = singleNode(client, 'upgrade-k8s');
  const to = (flags.to ?? '1.34.1').replace(/^v/, '');
  const dry = !!flags['dry-run'];
  return transact((st, _l, now) => {
    const n = connect(st, lab, now, client, target, 'error upgrading kubernetes: ');
    if (!apiServerOn(st, lab, n, now) && !Object.values(st.nodes).some((m) => apiServerOn(st, lab, m, now))) {
      fail(`error upgrading kubernetes: Get "${n.config.endpoint}/version": dial tcp: connect: connection refused`);
    }
    const nodes = Object.values(st.nodes).filter((m) => m.mode === 'configured' && m.config.k8sCa === n.config.k8sCa);
    const from = (flags.from ?? nodes.map((m) => m.config.kubernetesVersion ?? lab.kubernetesVersion).sort()[0]).replace(/^v/, '');
    const lines = [`automatically detected the lowest Kubernetes version ${from}`, `discovered controlplane nodes ${JSON.stringify(nodes.filter((m) => m.config.type === 'controlplane').map((m) => m.ip))}`, `discovered worker nodes ${JSON.stringify(nodes.filter((m) => m.config.type === 'worker').map((m) => m.ip))}`];
    if (dry) lines.push('> running in dry-run mode, no changes will be applied');
    for (const comp of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      lines.push(`updating "${comp}" to version "${to}"`);
      for (const m of nodes.filter((x) => x.config.type === 'controlplane')) lines.push(` > "${m.ip}": starting update`);
    }
    lines.push(`updating kubelet to version "${to}"`);
    for (const m of nodes) {
      lines.push(` > "${m.ip}": starting update`);
      if (!dry) {
        m.config.kubernetesVersion = to;
        const reg = Object.values(st.k8s.nodes).find((r) => r.ip === m.ip);
        if (reg) reg.kubeletVersion = `v${to}`;
      }
      lines.push(` < "${m.ip}": successfully updated`);
    }
    if (!dry) st.k8sVersion = to;
    io.out(`${lines.join('\n')}\n`);
    return 0;
  });
}

async function rebootCmd(flags, lab, io) {
  const client = await clientOf(flags);
  const { targets } = client;
  transact((st, _l, now) => {
    const t = timingsOf(lab);
    const nodes = targets.map((ip) => connect(st, lab, now, client, ip, 'error executing reboot: '));
    for (const n of nodes) {
      n.upAt = now + t.reboot;
      n.downReason = 'rebooting';
      n.rebootCount = (n.rebootCount ?? 0) + 1;
    }
  });
  if (flags.wait ?? true) await waitUntilUp(lab, flags, targets, () => {}, (ip) => io.err(`    * ${ip}: post check passed\n`));
  return {};
}

async function shutdownCmd(flags, lab) {
  const client = await clientOf(flags);
  const { targets } = client;
  transact((st, _l, now) => {
    for (const ip of targets) {
      const n = connect(st, lab, now, client, ip, 'error executing shutdown: ');
      n.upAt = null;
      n.downReason = 'powered-off';
    }
  });
  return {};
}

/** `read FILE`: only the boot id (it changes with every boot: how scripts tell a reboot happened). */
async function readFile(flags, args, lab) {
  const client = await clientOf(flags);
  const target = singleNode(client, 'read');
  const { st, now } = snapshot();
  const n = connect(st, lab, now, client, target, '');
  if (args[0] !== '/proc/sys/kernel/random/boot_id') fail(`lab: talosctl read ${args[0]} is not simulated (only /proc/sys/kernel/random/boot_id)`, 64);
  const h = hexId(`${n.ip}:${n.upAt}`).padStart(16, '0') + hexId(`${n.upAt}:${n.ip}`).padStart(16, '0');
  return { stdout: `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}\n` };
}

/**
 * The lab's etcd database: what the cluster stores (k8s objects and nodes, Helm releases, Flux) as JSON, its length in
 * the first 4 bytes, zero-padded to 512-byte pages. `kind` tells a snapshot ('etcd-snapshot') from a raw copy ('etcd-db').
 */
function etcdDbImage(kind, st, now) {
  const payload = Buffer.from(JSON.stringify({
    lab: kind, cluster: st.etcd.cluster?.id, revision: st.k8s.rv, takenAt: now,
    k8s: { objects: st.k8s.objects, nodes: st.k8s.nodes, rv: st.k8s.rv }, helm: st.helm.releases, flux: st.flux,
  }));
  const db = Buffer.alloc(Math.ceil((payload.length + 4) / 512) * 512);
  db.writeUInt32BE(payload.length, 0);
  payload.copy(db, 4);
  return db;
}

/**
 * `cp /var/lib/etcd/member/snap/db DEST`: the documented fallback when `etcd snapshot` fails (no quorum): a raw copy of
 * the member's database, without the trailing checksum (restore it with --recover-skip-hash-check).
 */
async function copyOut(flags, args, lab) {
  const client = await clientOf(flags);
  const target = singleNode(client, 'cp');
  const [src, destArg] = args;
  if (src !== '/var/lib/etcd/member/snap/db') fail(`lab: talosctl cp ${src} is not simulated (only /var/lib/etcd/member/snap/db)`, 64);
  const { st, now } = snapshot();
  const n = connect(st, lab, now, client, target, 'error copying: ');
  if (!n.etcd) fail(`error copying: ${rpc('Unknown', 'lstat /var/lib/etcd/member/snap/db: no such file or directory')}`);
  const db = etcdDbImage('etcd-db', st, now);
  let dest = destArg ?? '.';
  if (fs.existsSync(dest) && fs.statSync(dest).isDirectory()) dest = path.join(dest, 'db');
  fs.writeFileSync(dest, db, { mode: 0o600 });
  return {};
}

async function validate(flags) {
  const file = flags.config;
  if (!file) fail('required flag(s) "config", "mode" not set');
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    fail(`open ${file}: no such file or directory`);
  }
  const docs = await readYamlDocs(text, file);
  configRecord(docs.find((d) => d.version === 'v1alpha1') ?? docs[0], docs.slice(1));
  return { stdout: `${file} is valid for ${flags.mode ?? 'metal'} mode\n` };
}

// ---------------------------------------------------------------------------------------------------------------

main('talosctl', async (argv, io) => {
  const cmd = commandOf(argv);
  const spec = { ...GLOBAL, ...(SPECS[cmd] ?? {}) };
  const { flags, positionals, unknown } = parseArgs(argv, spec);
  const words = cmd.split(' ');
  const args = positionals.slice(words.length);
  const nodes = flags.nodes ?? [];
  if (!SPECS[cmd]) {
    return { cmd: cmd || '', noFaults: true, run: async () => fail(`lab: talosctl ${cmd} is not simulated (see test/lab/README.md)`, 64) };
  }
  if (unknown.length) {
    return { cmd, noFaults: true, run: async () => fail(`Error: unknown flag: ${unknown[0]}\n(lab: flag not simulated; see test/lab/README.md)`) };
  }
  const faultCmd = cmd === 'get' ? `get ${(args[0] ?? '').toLowerCase()}`.trim() : cmd;
  return {
    cmd: faultCmd,
    nodes,
    run: async () => {
      const lab = (await import('./lib/core.mjs')).loadLab();
      let res;
      switch (cmd) {
        case 'gen secrets': res = await genSecrets(flags); break;
        case 'gen config': res = await genConfig(flags, args, io); break;
        case 'config endpoint': case 'config node': case 'config info': case 'config context': case 'config contexts': case 'config merge':
          res = await configEdit(cmd, flags, args); break;
        case 'apply-config': await applyConfig(flags, lab, io); break;
        case 'get': res = await get(flags, args, lab); break;
        case 'version': res = await version(flags, lab); break;
        case 'service': res = await service(flags, args, lab); break;
        case 'bootstrap': await bootstrap(flags, lab, io); break;
        case 'health': res = await health(flags, lab, io); break;
        case 'kubeconfig': res = await kubeconfig(flags, args, lab); break;
        case 'reset': res = await reset(flags, lab, io); break;
        case 'upgrade': res = await upgrade(flags, lab, io); break;
        case 'upgrade-k8s': await upgradeK8s(flags, lab, io); break;
        case 'reboot': res = await rebootCmd(flags, lab, io); break;
        case 'shutdown': res = await shutdownCmd(flags, lab); break;
        case 'validate': res = await validate(flags); break;
        case 'read': res = await readFile(flags, args, lab); break;
        case 'cp': res = await copyOut(flags, args, lab); break;
        default:
          if (cmd.startsWith('etcd ')) res = await etcd(cmd, flags, args, lab, io);
          else fail(`lab: talosctl ${cmd} is not simulated`, 64);
      }
      if (res?.stdout) io.out(res.stdout);
      return 0;
    },
  };
});

