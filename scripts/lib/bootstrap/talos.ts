import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ClusterConfig } from '../config/load.ts';
import type { NodeConfig } from '../config/schema.ts';
import { generatedPaths } from '../configure/render.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { registerSecret } from '../core/redact.ts';
import { CommandError, formatArgv } from '../core/runner.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import * as kubeconfig from '../kubernetes/kubeconfig.ts';
import { nodeModePlanLine, pollRead, probeNodeMode, type NodeMode } from '../talos/modes.ts';
import * as machineConfig from '../talos/machine-config.ts';
import * as talosEtcd from '../talos/etcd.ts';
import * as nodeHealth from '../talos/health.ts';
import * as talosModes from '../talos/modes.ts';
import { parseEtcdMemberTable } from '../talos/etcd.ts';
import { callBootstrap } from '../talos/etcd.ts';
import * as tf from '../terraform/terraform.ts';
import { BootstrapError } from './errors.ts';
import { readIfExists, writeAtomic } from '../core/files.ts';
import { readInfrastructureOutputs } from '../terraform/layers.ts';
import { controlPlanes, firstControlPlane } from '../config/nodes.ts';
import { act, deadline, lastLine, parallel, planNote, plural, poll, probe, waitUntil, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 3: Talos. Secrets generated once and kept outside git; machine configs from the rendered patches; configs
// applied (in parallel) only to nodes still in maintenance mode; etcd bootstrapped on the first control plane only
// when no control plane runs etcd; kubeconfig fetched through the first controller, then switched to the VIP.
//
// Why no full `talosctl health` here: its checks include "all k8s nodes to report ready", which cannot pass before a
// CNI exists (Talos installs none: cni.name=none). This phase checks what can be true now (apid on every node, etcd
// members, the API server, the VIP); the cni phase runs the full `talosctl health` once Cilium has made nodes Ready.

/**
 * The Tailscale extension's config (auth key → secret patch), when Headscale is configured and the extension used.
 * Routes go in TS_ROUTES, the variable siderolabs/extensions network/tailscale/README.md documents for subnet routing:
 * the extension runs containerboot, which turns TS_ROUTES into `--advertise-routes` itself (a second
 * `--advertise-routes` in TS_EXTRA_ARGS would be passed twice to `tailscale up`).
 */
export function tailscalePatch(c: ClusterConfig, authKey: string | undefined): string | undefined {
  if (!c.headscale || !authKey || !c.imageFactory.extensions.includes('siderolabs/tailscale')) return undefined;
  const args = [`--login-server=${c.headscale.loginServer}`, '--accept-routes'];
  if (c.headscale.tag) args.push(`--advertise-tags=${c.headscale.tag}`);
  return stringify({
    apiVersion: 'v1alpha1',
    kind: 'ExtensionServiceConfig',
    name: 'tailscale',
    environment: [`TS_AUTHKEY=${authKey}`, `TS_ROUTES=${c.headscale.routes.join(',')}`, `TS_EXTRA_ARGS=${args.join(' ')}`],
  });
}

/** Hash of every input of `talosctl gen config`: same hash ⇒ the generated machine configs are current. */
export function genConfigInputsHash(parts: (string | undefined)[]): string {
  const h = createHash('sha256');
  for (const part of parts) h.update(String(part?.length ?? -1)).update(':').update(part ?? '');
  return h.digest('hex');
}

/** A cold start is likelier than a configured cluster here: maintenance mode is asked first. */
async function nodeModes(p: PhaseContext, nodes: NodeConfig[]): Promise<Map<string, NodeMode>> {
  const read = pollRead(p);
  const modes = await parallel(p, nodes, async (n) => [n.name, await probeNodeMode(read, n, 'maintenance')] as const);
  return new Map(modes);
}

function modeSummary(modes: Map<string, NodeMode>): string {
  const by = (m: NodeMode) => [...modes].filter(([, v]) => v === m).map(([k]) => k);
  const parts = [`${by('configured').length} configured`, `${by('maintenance').length} in maintenance mode`];
  const down = by('down');
  if (down.length) parts.push(`not answering: ${down.join(', ')}`);
  return parts.join(', ');
}

/** Waits until every node answers, in maintenance mode or configured (VMs just created are still booting). */
async function waitNodesAnswer(p: PhaseContext): Promise<Map<string, NodeMode>> {
  let modes = new Map<string, NodeMode>();
  if (p.runner.dryRun) {
    p.config.nodes.forEach((n) => p.runner.planOnly(nodeModePlanLine(n.ip, 'maintenance')));
    return new Map(p.config.nodes.map((n) => [n.name, 'maintenance' as NodeMode]));
  }
  await waitUntil(p, {
    what: 'every node to answer the Talos API (maintenance mode or configured)',
    timeoutMs: deadline(p, 'nodesReachable'),
    check: async () => {
      const pending = p.config.nodes.filter((n) => modes.get(n.name) !== 'configured');
      const fresh = await nodeModes(p, pending);
      modes = new Map([...modes, ...fresh]);
      return { done: [...modes.values()].every((m) => m !== 'down') && modes.size === p.config.nodes.length, detail: modeSummary(modes) };
    },
    hint: 'check the VMs in Proxmox (running? on the right bridge? the image has the static IP baked in via META key 10)',
  });
  return modes;
}

async function ensureSecrets(p: PhaseContext, files: ReturnType<typeof machineConfig.talosFiles>, modes: Map<string, NodeMode>): Promise<void> {
  if (existsSync(files.secrets)) {
    p.note(`reused Talos secrets ${files.secrets}`);
    return;
  }
  // New secrets are only safe on a cluster that has none: a configured node would reject configs made from them.
  const configured = [...modes].filter(([, m]) => m === 'configured').map(([n]) => n);
  if (configured.length) {
    throw new BootstrapError(
      `no Talos secrets at ${files.secrets}, but ${configured.join(', ')} already run${configured.length === 1 ? 's' : ''} a machine config`,
      `restore secrets.yaml from your backup to ${files.secrets}: new secrets would lock you out of this cluster. To start over instead, reset the nodes (task cluster:safe-reset)`,
    );
  }
  const tmp = `${files.secrets}.new`;
  if (!p.runner.dryRun) {
    // talosctl does not create directories; the state dir is private (0700).
    mkdirSync(p.paths.talosDir, { recursive: true, mode: 0o700 });
    rmSync(tmp, { force: true });
  }
  await act(p, machineConfig.genSecretsArgv(tmp, p.config.versions.talos));
  if (planNote(p, `move ${tmp} to ${files.secrets} (0600); never regenerated while it exists`)) return;
  writeAtomic(files.secrets, readFileSync(tmp, 'utf8'), 0o600);
  rmSync(tmp, { force: true });
  p.note(`generated Talos secrets ${files.secrets}`);
}

async function installerImage(p: PhaseContext): Promise<string> {
  const out = await readInfrastructureOutputs(p);
  if (out.dryRun) return '<installer_image output of terraform/01-infrastructure>';
  if (!out.ok) throw new CommandError(out, 'run the infra phase first (task bootstrap --from infra)');
  return tf.infrastructureOutputs(tf.parseOutputs(out.stdout)).installerImage;
}

async function ensureMachineConfigs(p: PhaseContext, files: ReturnType<typeof machineConfig.talosFiles>): Promise<boolean> {
  const c = p.config;
  const gen = generatedPaths(c.cluster.name);
  const image = await installerImage(p);
  p.facts.installerImage = image;
  const secretPatch = tailscalePatch(c, p.secrets.TAILSCALE_AUTHKEY);
  const patches = [gen.talosCommon, gen.talosControlPlane, gen.talosWorker].map((f) => readIfExists(join(REPO_ROOT, f)));
  const hash = genConfigInputsHash([readIfExists(files.secrets), ...patches, secretPatch, image, c.versions.talos, c.versions.kubernetes, c.network.vip, c.cluster.name]);
  const current = [files.controlPlane, files.worker, files.talosconfig].every((f) => existsSync(f)) && readIfExists(files.inputsHash) === hash;
  if (current && !p.runner.dryRun) {
    p.note('machine configs current');
    return false;
  }
  if (secretPatch && !planNote(p, `write ${files.secretPatch} (0600): Tailscale extension config with the auth key`)) {
    registerSecret(p.secrets.TAILSCALE_AUTHKEY);
    writeAtomic(files.secretPatch, secretPatch, 0o600);
  }
  const cps = controlPlanes(c).map((n) => n.ip);
  await act(
    p,
    machineConfig.genConfigArgv({
      clusterName: c.cluster.name,
      vip: c.network.vip,
      secretsFile: files.secrets,
      commonPatch: gen.talosCommon,
      controlPlanePatch: gen.talosControlPlane,
      workerPatch: gen.talosWorker,
      ...(secretPatch ? { extraPatches: [files.secretPatch] } : {}),
      installImage: image,
      kubernetesVersion: c.versions.kubernetes,
      talosVersion: c.versions.talos,
      outDir: p.paths.talosDir,
    }),
    { cwd: REPO_ROOT },
  );
  // talosctl talks to the control planes' own IPs, never the VIP (it moves, and exists only after etcd).
  await act(p, machineConfig.configEndpointsArgv(files.talosconfig, cps));
  await act(p, machineConfig.configNodesArgv(files.talosconfig, [firstControlPlane(c).ip]));
  if (!planNote(p, `record the gen config inputs hash in ${files.inputsHash} (and the non-secret inputs in ${files.inputsRecord})`)) {
    const record: machineConfig.GenConfigRecord = {
      clusterName: c.cluster.name,
      vip: c.network.vip,
      talosVersion: c.versions.talos,
      kubernetesVersion: c.versions.kubernetes,
      installImage: image,
      patches: Object.fromEntries([gen.talosCommon, gen.talosControlPlane, gen.talosWorker].map((f, i) => [f, machineConfig.sha256(patches[i])])),
    };
    writeAtomic(files.inputsRecord, `${JSON.stringify(record, null, 2)}\n`, 0o600);
    writeAtomic(files.inputsHash, hash, 0o600);
  }
  p.note('generated machine configs');
  return true;
}

async function applyConfigs(p: PhaseContext, files: ReturnType<typeof machineConfig.talosFiles>, modes: Map<string, NodeMode>): Promise<number> {
  const c = p.config;
  const gen = generatedPaths(c.cluster.name);
  const targets = c.nodes.filter((n) => modes.get(n.name) === 'maintenance');
  // All nodes at once: each apply returns quickly and the node installs and reboots on its own.
  await parallel(p, targets, (n) =>
    act(p, machineConfig.applyConfigInsecureArgv(n.ip, n.role === 'controlplane' ? files.controlPlane : files.worker, gen.talosNode(n.name)), {
      cwd: REPO_ROOT,
      hint: `node ${n.name} (${n.ip}) refused its config; \`talosctl get disks --insecure -n ${n.ip}\` shows whether it is still in maintenance mode`,
    }),
  );
  if (targets.length) p.note(`applied machine configs to ${targets.map((n) => n.name).join(', ')}`);
  else p.note('every node already configured');

  // Verify: every node answers with our client certificate (installed, rebooted, config active).
  const configured = new Set(c.nodes.filter((n) => modes.get(n.name) === 'configured').map((n) => n.name));
  if (p.runner.dryRun) {
    c.nodes.forEach((n) => p.runner.planOnly(`? ${formatArgv(talosModes.machineStatusArgv(n.ip))}`));
  }
  await waitUntil(p, {
    what: 'every node to install Talos and answer with its machine config',
    timeoutMs: deadline(p, 'nodesConfigured'),
    check: async () => {
      const pending = c.nodes.filter((n) => !configured.has(n.name));
      const res = await parallel(p, pending, async (n) => ({ n, ok: (await poll(p, talosModes.machineStatusArgv(n.ip), { timeoutMs: 30_000 })).ok }));
      for (const r of res) if (r.ok) configured.add(r.n.name);
      const left = c.nodes.filter((n) => !configured.has(n.name)).map((n) => n.name);
      return { done: left.length === 0, detail: `${configured.size}/${c.nodes.length} configured${left.length ? ` (installing: ${left.join(', ')})` : ''}` };
    },
    hint: 'watch a node with `talosctl -n IP dmesg --insecure` or the Proxmox console; a wrong install disk or image stops the install',
  });
  return targets.length;
}

/** true when some control plane runs etcd: the cluster exists and must never be bootstrapped again. */
async function etcdRunningAnywhere(p: PhaseContext): Promise<boolean> {
  const states = await parallel(p, controlPlanes(p.config), async (n) => {
    const res = await probe(p, nodeHealth.serviceArgv(n.ip, 'etcd'));
    return res.ok ? nodeHealth.parseServiceInfo(res.stdout).state : undefined;
  });
  return states.some((s) => s === 'Running');
}

async function ensureEtcdBootstrapped(p: PhaseContext): Promise<boolean> {
  const first = firstControlPlane(p.config);
  if (await etcdRunningAnywhere(p)) {
    p.note('etcd already bootstrapped');
    return false;
  }
  // etcd waits in "Preparing" for the bootstrap call; before that the service does not exist yet.
  await waitUntil(p, {
    what: `etcd on ${first.name} to wait for bootstrap`,
    timeoutMs: deadline(p, 'etcdService'),
    check: async () => {
      const res = await poll(p, nodeHealth.serviceArgv(first.ip, 'etcd'), { timeoutMs: 30_000 });
      const state = res.ok ? nodeHealth.parseServiceInfo(res.stdout).state : undefined;
      return { done: state === 'Preparing' || state === 'Running', detail: state ? `etcd ${state}` : 'etcd service not there yet' };
    },
  });
  // Re-check right before acting: another run (or a human) may have bootstrapped meanwhile.
  if (!p.runner.dryRun && (await etcdRunningAnywhere(p))) {
    p.note('etcd already bootstrapped');
    return false;
  }
  const res = await callBootstrap(p, talosEtcd.bootstrapArgv(first.ip), { retryForMs: deadline(p, 'etcdService') });
  if (!res.ok && talosEtcd.isAlreadyBootstrapped(`${res.stderr}\n${res.stdout}`)) {
    p.note('etcd already bootstrapped (AlreadyExists)');
    return false;
  }
  if (!res.ok) {
    throw new CommandError(res, `etcd bootstrap on ${first.name} failed; \`talosctl -n ${first.ip} -e ${first.ip} service etcd\` and \`… logs etcd\` show why. The next run re-checks etcd before bootstrapping again`);
  }
  p.note(`bootstrapped etcd on ${first.name}`);
  return true;
}

async function waitEtcdMembers(p: PhaseContext): Promise<void> {
  const first = firstControlPlane(p.config);
  const want = controlPlanes(p.config).map((n) => n.name);
  if (p.runner.dryRun) p.runner.planOnly(`? ${formatArgv(talosEtcd.etcdMembersArgv(first.ip))}`);
  await waitUntil(p, {
    what: `etcd to have all ${plural(want.length, 'control plane')} as members`,
    timeoutMs: deadline(p, 'etcdMembers'),
    check: async () => {
      const res = await poll(p, talosEtcd.etcdMembersArgv(first.ip), { timeoutMs: 30_000 });
      const members = res.ok ? parseEtcdMemberTable(res.stdout).map((m) => m.hostname) : [];
      return { done: members.length >= want.length, detail: `${members.length}/${want.length} members${members.length ? `: ${members.join(', ')}` : ''}` };
    },
    diagnose: async () => (await p.runner.probe(nodeHealth.serviceArgv(first.ip, 'etcd'))).stdout,
  });
}

/** The bootstrap chicken-and-egg: the VIP is elected through etcd, so the first kubeconfig goes to the first controller. */
async function ensureKubeconfig(p: PhaseContext): Promise<boolean> {
  const c = p.config;
  const first = firstControlPlane(c);
  const vipUrl = kubectl.apiServerUrl(c.network.vip);
  const existing = readIfExists(p.paths.kubeconfig);
  if (existing && kubeconfig.kubeconfigServer(existing) === vipUrl) {
    const res = await probe(p, kubectl.readyzArgv());
    if (res.ok) {
      p.note('kubeconfig current (API answers on the VIP)');
      return false;
    }
  }
  const res = await act(p, machineConfig.kubeconfigArgv(first.ip), { hint: `is the API server up on ${first.name}? \`talosctl -n ${first.ip} -e ${first.ip} service kube-apiserver\`` });
  if (!res.dryRun) {
    registerSecret(res.stdout.match(/client-key-data:\s*(\S+)/)?.[1]);
    writeAtomic(p.paths.kubeconfig, kubeconfig.withKubeconfigServer(res.stdout, kubectl.apiServerUrl(first.ip)), 0o600);
  } else planNote(p, `write ${p.paths.kubeconfig} (0600) with server ${kubectl.apiServerUrl(first.ip)} until the VIP answers`);
  await waitUntil(p, {
    what: `the Kubernetes API on ${first.name} (${first.ip})`,
    timeoutMs: deadline(p, 'apiServer'),
    check: async () => {
      const r = await poll(p, kubectl.readyzArgv(), { timeoutMs: 15_000 });
      return { done: r.ok, detail: r.ok ? 'ready' : lastLine(r) };
    },
  });
  await waitUntil(p, {
    what: `the API VIP ${c.network.vip}`,
    timeoutMs: deadline(p, 'vip'),
    check: async () => {
      const r = await poll(p, kubectl.readyzArgv(vipUrl), { timeoutMs: 15_000 });
      return { done: r.ok, detail: r.ok ? 'ready' : 'not answering yet' };
    },
    hint: `the VIP needs the control planes on one L2 segment with ${c.network.vip} free; \`talosctl -n ${first.ip} -e ${first.ip} get addresses\` shows who holds it`,
  });
  if (!planNote(p, `switch ${p.paths.kubeconfig} to ${vipUrl}`)) {
    writeAtomic(p.paths.kubeconfig, kubeconfig.withKubeconfigServer(readFileSync(p.paths.kubeconfig, 'utf8'), vipUrl), 0o600);
  }
  p.note(`kubeconfig via ${vipUrl}`);
  return true;
}

export async function talosPhase(p: PhaseContext): Promise<PhaseOutcome> {
  const files = machineConfig.talosFiles(p.paths);
  p.versions.talos = p.config.versions.talos;
  p.versions.kubernetes = p.config.versions.kubernetes;
  // One look at every node decides both whether new secrets are safe and which nodes still need their config.
  const modes = await waitNodesAnswer(p);
  await ensureSecrets(p, files, modes);
  const generated = await ensureMachineConfigs(p, files);
  const applied = await applyConfigs(p, files, modes);
  const bootstrapped = await ensureEtcdBootstrapped(p);
  await waitEtcdMembers(p);
  const kubeconfig = await ensureKubeconfig(p);
  p.facts.bootstrappedEtcd = bootstrapped;
  const parts = [
    applied ? `configured ${plural(applied, 'node')}` : 'nodes already configured',
    bootstrapped ? 'etcd bootstrapped' : 'etcd already bootstrapped',
    kubeconfig ? 'kubeconfig switched to the VIP' : 'kubeconfig current',
  ];
  return { changed: generated || applied > 0 || bootstrapped || kubeconfig, summary: parts.join('; ') };
}
