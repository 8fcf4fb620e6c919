import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import type { ClusterConfig } from '../../scripts/lib/config/load.ts';
import { clusterPaths, REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { emptyState, snapshot, transact, writeJsonAtomic, latencyFor, prefixMatch } from './tools/lib/core.mjs';
import { DEFAULT_TIMINGS, REALISTIC_TIMINGS as REALISTIC, summarize, hexId, advance, timingsOf } from './tools/lib/world.mjs';
import { newSecretsBundle, baseMachineConfig, talosconfigFor, kubeconfigFor, configRecord, merge } from './tools/lib/talos.mjs';
import { desiredResources, outputsFor, schematicFor } from './tools/lib/tfmodel.mjs';

/** The schematic id the fake Terraform reports for a var file's values (same customization ⇒ same id). */
export { schematicFor };
import { kustomizationsFor, dependencyDepth, reconcileFlux, type FluxSource, type LabKustomization } from './tools/lib/fluxrepo.mjs';

// The simulated lab: stateful fake talosctl/terraform/helm/flux/kubectl/kubeseal first on PATH. See README.md here.

const HERE = dirname(fileURLToPath(import.meta.url));
export const LAB_BIN = join(HERE, 'bin');

export type Role = 'controlplane' | 'worker';

export interface LabNode {
  name: string;
  ip: string;
  role: Role;
}

/** Every duration of the time model, in ms (README "Time model"). */
export interface LabTimings {
  vmBoot: number;
  applyReboot: number;
  etcdBootstrap: number;
  etcdJoin: number;
  apiServer: number;
  kubeletRegister: number;
  cniReady: number;
  fluxInstall: number;
  kustomizationStep: number;
  reset: number;
  reboot: number;
  upgrade: number;
  /** After a configured node comes up, `bootstrap` answers FailedPrecondition "bootstrap is not available yet" this long. */
  bootstrapWindow: number;
  /** Upper bound on any wait a fake performs for the product (helm --wait, kubectl wait, talosctl health, flux). */
  waitCapMs: number;
}

export const ZERO_TIMINGS = DEFAULT_TIMINGS as unknown as LabTimings;
export const REALISTIC_TIMINGS = REALISTIC as unknown as LabTimings;

/** Realistic durations divided by `factor` (waitCapMs too), for a benchmark that runs in seconds. */
export function scaleTimings(t: LabTimings, factor: number): LabTimings {
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v / factor)])) as unknown as LabTimings;
}

/** A failing command, local or remote: what it prints and how many matching calls it hits. */
export interface CommandFault {
  /** Word prefix of "<tool> <subcommand…>", e.g. "talosctl apply-config", "helm upgrade", "pveum user token add". */
  cmd: string;
  exitCode?: number;
  stderr?: string;
  stdout?: string;
  /** How many matching calls fail (default: all). */
  times?: number;
  /** Let the first N matching calls through untouched. */
  skip?: number;
}

export type FaultSpec =
  | (CommandFault & {
      kind: 'command';
      /** Extra delay for matching calls (with or without a failure). */
      latencyMs?: number;
      /** Only calls naming this node IP with -n/--nodes. */
      node?: string;
    })
  | { kind: 'vip-down' }
  | { kind: 'node-unreachable'; node: string }
  | { kind: 'etcd-member-lost'; node: string }
  | { kind: 'cni-gone' }
  | { kind: 'flux-stuck'; kustomization: string; message?: string; reason?: string };

export interface LabOptions {
  nodes: LabNode[];
  vip: string;
  clusterName?: string;
  talosVersion?: string;
  kubernetesVersion?: string;
  timings?: Partial<LabTimings>;
  latencyMs?: Record<string, number>;
  faults?: FaultSpec[];
  /** absent (default): VMs appear with `terraform apply` of the infrastructure layer. */
  initial?: 'absent' | 'maintenance' | 'running';
  /**
   * Flux Kustomizations that appear on `flux bootstrap`; default: those a real `kubectl kustomize` build of fluxPath
   * produces (origin branch when originDir is set, else repoDir), as kustomize-controller applies them.
   */
  kustomizations?: {
    name: string;
    namespace?: string;
    dependsOn?: string[];
    labels?: Record<string, string>;
    /**
     * A repository path this Kustomization cannot become Ready without (e.g. the SealedSecret its HelmRelease reads):
     * it must be on `originBranch` of `originDir` (the bare "GitHub" remote Flux reads) — in the working copy is not enough.
     */
    requires?: string;
  }[];
  /**
   * kustomize-controller's --feature-gates=StrictPostBuildSubstitutions=true (default false, as in Flux v2.7.3): a
   * `${VAR}` without a default that no substitute/substituteFrom provides fails the build instead of becoming empty.
   */
  strictPostBuildSubstitutions?: boolean;
  /** The bare repository Flux reads (the pushed branch); without it, Flux reads repoDir as it is. */
  originDir?: string;
  originBranch?: string;
  /** Stand-in for the GitHub repository Flux reads (default: the repository root). */
  repoDir?: string;
  /** The Flux path in repoDir (default kubernetes/clusters/<cluster>). */
  fluxPath?: string;
  github?: { owner: string; repository: string; branch: string };
  /** Extra or overriding `terraform output` values per layer directory name (e.g. "00-persistent-auth"). */
  terraformOutputs?: Record<string, Record<string, unknown>>;
}

export interface LabCall {
  tool: string;
  cmd: string;
  argv: string[];
  envKeys: string[];
  cwd: string;
  stdinBytes: number;
  start: number;
  end: number;
  exitCode: number;
  pid: number;
  error?: string;
}

export interface CriticalPath {
  steps: { name: string; ms: number }[];
  totalMs: number;
}

export interface Lab {
  dir: string;
  stateDir: string;
  binDir: string;
  /** PATH (lab bin first), LAB_DIR, HOME_OPS_STATE_DIR, HOME (temp), KUBECONFIG/TALOSCONFIG emptied. */
  env: Record<string, string>;
  options: Required<Pick<LabOptions, 'clusterName' | 'vip' | 'nodes'>>;
  /** Runs fn with process.env extended by env; restores process.env exactly afterwards. */
  withEnv<T>(fn: () => Promise<T> | T): Promise<T>;
  injectFault(f: FaultSpec): void;
  clearFaults(): void;
  setTimings(t: Partial<LabTimings>): void;
  setLatency(l: Record<string, number>): void;
  /** Calls logged so far; cmd is a word prefix ("talosctl etcd" matches "talosctl etcd members"). */
  calls(filter?: { tool?: string; cmd?: string; failed?: boolean }): LabCall[];
  /** Peak number of overlapping calls matching cmd. */
  maxConcurrency(cmd: string): number;
  /** The world at now, time-based transitions applied (see README "state()"). */
  state(): LabState;
  /** The raw state.json (for assertions the summary does not cover). */
  raw(): any;
  /** The unavoidable waits of a cold bootstrap under the lab's timings and latencies (README "Critical path"). */
  criticalPath(opts?: { pathCommands?: string[] }): CriticalPath;
  /** Powers a node's VM on (after `talosctl reset` without --reboot, or `shutdown`). */
  powerOn(node: string): void;
  /** Creates the VMs as `terraform apply` of the infrastructure layer would (skips Terraform in a test). */
  createVms(): void;
  cleanup(): void;
}

export interface LabState {
  now: number;
  nodes: {
    name: string;
    ip: string;
    role: Role;
    present: boolean;
    reachable: boolean;
    down?: string;
    mode?: 'maintenance' | 'configured';
    configType?: Role;
    hostname?: string;
    talosVersion?: string;
    installImage?: string;
    applyCount: number;
    etcd?: 'Running' | 'Preparing' | 'Failed';
    etcdMember: boolean;
    apiServer: boolean;
    /** labels: what machine.nodeLabels and `kubectl label node` set (not the kubelet's well-known ones). */
    k8s?: { name: string; ready: boolean; reason: string; labels: Record<string, string> };
  }[];
  etcd: {
    bootstrapped: boolean;
    running: boolean;
    bootstrapNode?: string;
    members: string[];
    quorum: boolean;
    bootstraps: number;
    splitBrain: boolean;
    recoveredFrom?: string;
    /** SHA-256 (hex) of the file bootstrap --recover-from read, as it read it. */
    recoveredSha256?: string;
  };
  vipUp: boolean;
  cilium?: { version: string; revision: number };
  helmReleases: string[];
  flux?: {
    bootstrapped: boolean;
    bootstrapCount: number;
    controllersReady: boolean;
    kustomizations: { name: string; namespace: string; dependsOn: string[]; suspended: boolean; ready: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; readyAt?: number }[];
  };
  objects: string[];
  terraform: Record<string, any>;
  faults: any[];
}

/** Runs fn with process.env patched (undefined deletes a variable); restores process.env exactly afterwards, also on throw. */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  apply(vars);
  try {
    return await fn();
  } finally {
    apply(saved);
  }
}

export function labNodesFromConfig(config: ClusterConfig): LabNode[] {
  return config.nodes.map((n) => ({ name: n.name, ip: n.ip, role: n.role as Role }));
}

/** A lab shaped like the cluster config: its nodes, VIP, name, versions and Flux repository/path. */
export function labFromConfig(config: ClusterConfig, opts: Partial<LabOptions> = {}): Lab {
  return createLab({
    nodes: labNodesFromConfig(config),
    vip: config.network.vip,
    clusterName: config.cluster.name,
    talosVersion: config.versions.talos,
    kubernetesVersion: config.versions.kubernetes,
    fluxPath: config.github.path,
    github: { owner: config.github.owner, repository: config.github.repository, branch: config.github.branch },
    ...opts,
  });
}

const parseAll = (t: string) => parseAllDocuments(t) as any[];

/** What `flux bootstrap` makes appear (fluxrepo.mjs), or the build's error: a lab preset cannot start from a broken tree. */
function builtKustomizations(source: FluxSource, fluxPath: string, labDir: string): LabKustomization[] {
  const r = kustomizationsFor(source, fluxPath, join(labDir, 'flux-builds'), parseAll);
  if (r.error) throw new Error(`lab: the Flux path ${fluxPath} does not build: ${r.error.message}`);
  return r.kustomizations!;
}

export function createLab(opts: LabOptions): Lab {
  const dir = mkdtempSync(join(tmpdir(), 'lab-'));
  const stateDir = mkdtempSync(join(tmpdir(), 'lab-state-'));
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const clusterName = opts.clusterName ?? 'infra';
  const repoDir = resolve(opts.repoDir ?? REPO_ROOT);
  const fluxPath = opts.fluxPath ?? `kubernetes/clusters/${clusterName}`;
  const talosVersion = opts.talosVersion ?? 'v1.11.6';
  const kubernetesVersion = (opts.kubernetesVersion ?? '1.34.1').replace(/^v/, '');
  const labConfig = {
    clusterName,
    vip: opts.vip,
    nodes: opts.nodes,
    talosVersion,
    kubernetesVersion,
    timings: { ...DEFAULT_TIMINGS, ...(opts.timings ?? {}) },
    latencyMs: opts.latencyMs ?? {},
    repoDir,
    fluxPath,
    kustomizations: opts.kustomizations ?? null,
    strictPostBuildSubstitutions: opts.strictPostBuildSubstitutions ?? false,
    originDir: opts.originDir ?? null,
    originBranch: opts.originBranch ?? 'main',
    terraformOutputs: opts.terraformOutputs ?? {},
    github: opts.github ?? null,
    createdAt: Date.now(),
  };
  writeJsonAtomic(join(dir, 'lab.json'), labConfig);
  const st = emptyState();
  const now = Date.now();
  for (const n of opts.nodes) {
    st.nodes[n.ip] = { name: n.name, ip: n.ip, role: n.role, present: false, mode: 'maintenance', config: null, talosVersion, upAt: null, downReason: null, etcd: null, applyCount: 0 };
  }
  const env: Record<string, string> = {
    PATH: `${LAB_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    LAB_DIR: dir,
    HOME_OPS_STATE_DIR: stateDir,
    HOME: home,
    KUBECONFIG: '',
    TALOSCONFIG: '',
  };
  if (opts.initial === 'maintenance') {
    for (const n of Object.values<any>(st.nodes)) Object.assign(n, { present: true, upAt: now, downReason: null });
  }
  if (opts.initial === 'running') presetRunning(st, labConfig, opts, stateDir, builtKustomizations(labConfig, fluxPath, dir), now);
  for (const f of opts.faults ?? []) st.faults.push({ ...f, id: `f${++st.seq}` });
  writeJsonAtomic(join(dir, 'state.json'), st);

  const lab: Lab = {
    dir,
    stateDir,
    binDir: LAB_BIN,
    env,
    options: { clusterName, vip: opts.vip, nodes: opts.nodes },
    withEnv: (fn) => withEnv(env, fn),
    injectFault(f) {
      transact((s) => {
        s.faults.push({ ...f, id: `f${++s.seq}` });
        if (f.kind === 'cni-gone') delete s.helm.releases['kube-system/cilium'];
        if (f.kind === 'etcd-member-lost') {
          const n = Object.values<any>(s.nodes).find((x) => x.ip === f.node || x.name === f.node || x.config?.hostname === f.node);
          // The member's data is gone; etcd still lists it (unhealthy) until someone removes it.
          if (n) n.etcd = null;
        }
      }, dir);
    },
    clearFaults() {
      transact((s, l, t) => {
        s.faults = [];
        advance(s, l, t); // what the faults held back (stuck Kustomizations, lost members) resumes from now
      }, dir);
    },
    setTimings(t) {
      transact((_s, l) => {
        l.timings = { ...l.timings, ...t };
        writeJsonAtomic(join(dir, 'lab.json'), l);
      }, dir);
    },
    setLatency(l) {
      transact((_s, cfg) => {
        cfg.latencyMs = { ...cfg.latencyMs, ...l };
        writeJsonAtomic(join(dir, 'lab.json'), cfg);
      }, dir);
    },
    calls(filter = {}) {
      const file = join(dir, 'calls.jsonl');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LabCall)
        .filter((c) => (!filter.tool || c.tool === filter.tool) && (!filter.cmd || prefixMatch(filter.cmd, c.cmd)) && (filter.failed === undefined || (c.exitCode !== 0) === filter.failed))
        .sort((a, b) => a.start - b.start);
    },
    maxConcurrency(cmd) {
      const events = lab.calls({ cmd }).flatMap((c) => [[c.start, 1] as const, [c.end, -1] as const]);
      events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let cur = 0;
      let peak = 0;
      for (const [, d] of events) {
        cur += d;
        peak = Math.max(peak, cur);
      }
      return peak;
    },
    state() {
      let seen = snapshot(dir);
      if (reconcileFlux(dir, seen.st)) seen = snapshot(dir);
      return summarize(seen.st, seen.lab, seen.now) as LabState;
    },
    raw() {
      const seen = snapshot(dir).st;
      return reconcileFlux(dir, seen) ? snapshot(dir).st : seen;
    },
    criticalPath(o = {}) {
      const { lab: l } = snapshot(dir);
      const t = timingsOf(l) as unknown as LabTimings;
      const lat = (c: string) => latencyFor(l.latencyMs, c);
      const path = o.pathCommands ?? DEFAULT_PATH_COMMANDS;
      const depth = dependencyDepth(builtKustomizations(l, l.fluxPath, dir));
      const afterEtcd = Math.max(t.etcdJoin, t.apiServer + Math.max(t.kubeletRegister, lat('helm upgrade')) + t.cniReady);
      const steps = [
        { name: 'command latencies on the path', ms: path.reduce((sum, c) => sum + lat(c), 0) - lat('helm upgrade') },
        { name: 'vmBoot', ms: t.vmBoot },
        { name: 'applyReboot', ms: t.applyReboot },
        { name: 'etcdBootstrap', ms: t.etcdBootstrap },
        { name: 'max(etcdJoin, apiServer + max(kubeletRegister, helm upgrade latency) + cniReady)', ms: afterEtcd },
        { name: 'fluxInstall', ms: t.fluxInstall },
        { name: `kustomizationStep × ${depth} (dependsOn depth incl. flux-system)`, ms: depth * t.kustomizationStep },
      ];
      return { steps, totalMs: steps.reduce((s, x) => s + x.ms, 0) };
    },
    powerOn(node) {
      transact((s, l, t) => {
        const n = Object.values<any>(s.nodes).find((x) => x.ip === node || x.name === node);
        if (!n) throw new Error(`lab: no node ${node}`);
        n.present = true;
        n.upAt = t + (l.timings.reboot ?? 0);
        n.downReason = 'booting';
      }, dir);
    },
    createVms() {
      transact((s, l, t) => {
        for (const n of Object.values<any>(s.nodes)) {
          if (n.present) continue;
          Object.assign(n, { present: true, mode: 'maintenance', config: null, etcd: null, upAt: t + (l.timings.vmBoot ?? 0), downReason: 'booting' });
        }
      }, dir);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return lab;
}

/**
 * Commands whose latency adds to a cold bootstrap's critical path, once per call that cannot overlap another: the
 * layers' inits and workspace selections can run side by side, but the infrastructure layer reads what the
 * persistent-auth layer creates, so each layer's plan and apply follow one another. `talosctl gen config` is off the
 * path: it can run while the VMs boot.
 */
export const DEFAULT_PATH_COMMANDS = [
  'terraform init',
  'terraform workspace',
  'terraform plan', // 00-persistent-auth
  'terraform apply',
  'terraform plan', // 01-infrastructure
  'terraform apply',
  'talosctl apply-config',
  'talosctl bootstrap',
  'talosctl kubeconfig',
  'helm upgrade',
  'flux bootstrap',
];

/** A fully bootstrapped cluster, as if the bootstrap had run: world state plus the files it leaves in the state dir. */
function presetRunning(st: any, labConfig: any, opts: LabOptions, stateDir: string, ks: LabKustomization[], now: number) {
  const t0 = now - 1000;
  const name = labConfig.clusterName as string;
  // Terraform layers as an apply with the rendered var files (terraform/generated/<cluster>/) would leave them.
  const layers: Record<string, any> = {};
  for (const layer of ['00-persistent-auth', '01-infrastructure']) {
    const file = join(labConfig.repoDir, 'terraform', 'generated', name, `${layer}.tfvars.json`);
    let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    // Use the rendered var file only when it describes this lab's nodes.
    const nodesOf = (v: any) => Object.values<any>(v?.nodes ?? {}).map((n) => n.ip).sort().join(',');
    if (text && JSON.parse(text).nodes && nodesOf(JSON.parse(text)) !== opts.nodes.map((n) => n.ip).sort().join(',')) text = '';
    text ||= JSON.stringify({ talos_version: labConfig.talosVersion });
    layers[layer] = JSON.parse(text);
  }
  for (const [layer, vars] of Object.entries(layers)) {
    const resources = desiredResources(layer, vars, labConfig);
    st.terraform.layers[layer] = {
      initialized: true, current: name,
      workspaces: { default: { serial: 0, resources: [], outputs: {} }, [name]: { serial: 1, applied: true, resources, outputs: outputsFor(layer, vars, labConfig, resources) } },
    };
  }
  const installImage = String(st.terraform.layers['01-infrastructure'].workspaces[name].outputs.installer_image.value);
  const secrets = newSecretsBundle();
  const endpoint = `https://${opts.vip}:6443`;
  const genOpts = {
    clusterName: name, endpoint, secrets, kubernetesVersion: labConfig.kubernetesVersion,
    installImage, installDisk: '/dev/sda', dnsDomain: 'cluster.local',
  };
  const commonPatch = { cluster: { network: { cni: { name: 'none' } }, proxy: { disabled: true } } };
  const cpPatch = { machine: { network: { interfaces: [{ interface: 'eth0', vip: { ip: opts.vip } }] } } };
  const cps = opts.nodes.filter((n) => n.role === 'controlplane');
  const members: Record<string, string> = {};
  let k8sCa = '';
  let talosCa = '';
  let k8sCaCrt = '';
  for (const n of opts.nodes) {
    let cfg = merge(baseMachineConfig(n.role, genOpts), commonPatch);
    if (n.role === 'controlplane') cfg = merge(cfg, cpPatch);
    cfg = merge(cfg, { machine: { network: { hostname: n.name, interfaces: [{ interface: 'eth0', addresses: [`${n.ip}/24`] }] } } });
    const rec = configRecord(cfg);
    k8sCa = rec.k8sCa;
    talosCa = rec.talosCa;
    k8sCaCrt = rec.k8sCaCrt;
    const node = st.nodes[n.ip];
    Object.assign(node, { present: true, upAt: t0, downReason: null, mode: 'configured', config: rec, configuredAt: t0, applyCount: 1 });
    if (n.role === 'controlplane') {
      const id = hexId(`${n.ip}:preset`);
      members[n.ip] = id;
      node.etcd = { memberId: id, joinedAt: t0, runningAt: t0 };
    }
    st.k8s.nodes[n.name] = { name: n.name, ip: n.ip, role: n.role, labels: rec.nodeLabels, registeredAt: t0, kubeletVersion: `v${labConfig.kubernetesVersion}` };
  }
  st.etcd.cluster = { id: hexId(`cluster:${now}`), bootstrapNode: cps[0]?.ip, bootstrappedAt: t0, runningAt: t0, apiUpAt: t0, k8sCa, k8sCaCrt, talosCa, members, bootstrapMemberId: cps[0] ? members[cps[0].ip] : undefined, preset: true };
  st.helm.releases['kube-system/cilium'] = {
    name: 'cilium', namespace: 'kube-system', chart: 'cilium', version: '1.18.3', appVersion: '1.18.3', revision: 1, status: 'deployed',
    firstDeployedAt: t0, updatedAt: t0, values: {}, repo: 'https://helm.cilium.io',
  };
  const gh = opts.github ?? { owner: 'example-user', repository: 'home-ops', branch: 'main' };
  st.flux = {
    bootstrappedAt: t0, controllersReadyAt: t0, bootstrapCount: 1, owner: gh.owner, repository: gh.repository, branch: gh.branch,
    path: labConfig.fluxPath, url: `ssh://git@github.com/${gh.owner}/${gh.repository}`, revision: hexId('rev').padEnd(40, '0'),
    kustomizations: ks.map((k) => ({ ...k, appliedAt: t0, readyAt: t0 })),
  };
  // The files the bootstrap leaves in the private state directory.
  const p = clusterPaths(name, { ...process.env, HOME_OPS_STATE_DIR: stateDir });
  mkdirSync(p.talosDir, { recursive: true });
  writeFileSync(p.talosSecrets, stringify(secrets, { indent: 4 }), { mode: 0o600 });
  // What `talosctl gen config … -o <state>/talos` leaves (before the per-node patches applied at apply-config).
  writeFileSync(join(p.talosDir, 'controlplane.yaml'), stringify(merge(merge(baseMachineConfig('controlplane', genOpts), commonPatch), cpPatch), { indent: 4, lineWidth: 0 }));
  writeFileSync(join(p.talosDir, 'worker.yaml'), stringify(merge(baseMachineConfig('worker', genOpts), commonPatch), { indent: 4, lineWidth: 0 }));
  const tc = talosconfigFor(name, secrets);
  tc.contexts[name].endpoints = cps.map((n) => n.ip);
  tc.contexts[name].nodes = cps.slice(0, 1).map((n) => n.ip);
  writeFileSync(p.talosconfig, stringify(tc, { indent: 4 }), { mode: 0o600 });
  writeFileSync(p.kubeconfig, stringify(kubeconfigFor(name, endpoint, secrets.certs.k8s)), { mode: 0o600 });
}
