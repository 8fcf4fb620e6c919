import { join } from 'node:path';
import { apiServerUrl } from '../kubernetes/kubectl.ts';

// talosctl argv builders and output parsers: small pure functions, no I/O. The bootstrap, reset, etcd and upgrade
// scripts share them.
//
// Argv builders (every one returns a full argv starting with 'talosctl'):
//   genSecretsArgv(out, talosVersion)                     talosctl gen secrets -o OUT --talos-version vX.Y
//   genConfigArgv(GenConfigInput)                         talosctl gen config NAME https://VIP:6443 --with-secrets … -o DIR --force
//   configEndpointsArgv(talosconfig, ips)                 talosctl --talosconfig F config endpoint IP…
//   configNodesArgv(talosconfig, ips)                     talosctl --talosconfig F config node IP…
//   maintenanceProbeArgv(ip)                              talosctl get disks --insecure --nodes IP   (ok ⇔ maintenance mode)
//   machineStatusArgv(ip)                                 talosctl -e IP -n IP get machinestatus -o json (ok ⇔ configured, apid answers with our certs)
//   applyConfigInsecureArgv(ip, file, patch?)             talosctl apply-config --insecure --nodes IP --file F --config-patch @P
//   serviceArgv(ip, id)                                   talosctl -e IP -n IP service ID
//   bootstrapArgv(ip)                                     talosctl -e IP -n IP bootstrap
//   etcdMembersArgv(ip)                                   talosctl -e IP -n IP etcd members
//   kubeconfigArgv(ip)                                    talosctl -e IP -n IP kubeconfig - --merge=false   (stdout)
//   healthArgv(HealthInput)                               talosctl -e CP -n CP health --control-plane-nodes … --worker-nodes … --wait-timeout D
// Every authenticated command names its endpoint and node explicitly (-e IP -n IP): the VIP must never be a talosctl
// endpoint, and before etcd exists a control plane cannot proxy to other nodes.
//
// Parsers:
//   parseServiceInfo(stdout)      `service ID` key/value block → { state, health }
//   parseResourceStream(stdout)   `get … -o json` (a stream of JSON objects, not an array) → objects
//   machineStage(stdout)          `get machinestatus -o json` → stage ("booting", "running", …)
//   isAlreadyBootstrapped(text)   bootstrap error that means "done already" (AlreadyExists)
//   isBootstrapNotReadyYet(text)  bootstrap error that means "retry shortly" (FailedPrecondition)
//   parseClientVersion(stdout)    `talosctl version --client` → "v1.11.6"

/** Files the bootstrap keeps in the cluster's private state directory (never in git). */
export function talosFiles(paths: { talosDir: string; talosSecrets: string; talosconfig: string }) {
  return {
    secrets: paths.talosSecrets,
    controlPlane: join(paths.talosDir, 'controlplane.yaml'),
    worker: join(paths.talosDir, 'worker.yaml'),
    talosconfig: paths.talosconfig,
    /** Hash of everything `gen config` read; equal hash ⇒ the generated files are current. */
    inputsHash: join(paths.talosDir, 'gen-config.inputs.sha256'),
    /** Extra machine-config patch holding secrets (the Tailscale auth key), 0600. */
    secretPatch: join(paths.talosDir, 'secret-patch.yaml'),
  };
}

/** "v1.11.6" → "v1.11": the form `--talos-version` documents (config compatibility level). */
export function talosMinor(version: string): string {
  const m = /^v?(\d+)\.(\d+)/.exec(version);
  if (!m) throw new Error(`not a Talos version: ${version}`);
  return `v${m[1]}.${m[2]}`;
}

/** The cluster endpoint in the machine configs: the API server on the VIP. */
export const clusterEndpoint = apiServerUrl;

export function genSecretsArgv(out: string, talosVersion: string): string[] {
  return ['talosctl', 'gen', 'secrets', '-o', out, '--talos-version', talosMinor(talosVersion)];
}

export interface GenConfigInput {
  clusterName: string;
  vip: string;
  secretsFile: string;
  /** Repo-relative or absolute patch files (talos/generated/<cluster>/…). */
  commonPatch: string;
  controlPlanePatch: string;
  workerPatch: string;
  /** More patches for all nodes (e.g. the secret patch); applied after the common one. */
  extraPatches?: string[];
  installImage?: string;
  kubernetesVersion: string;
  talosVersion: string;
  outDir: string;
}

export function genConfigArgv(i: GenConfigInput): string[] {
  return [
    'talosctl', 'gen', 'config', i.clusterName, clusterEndpoint(i.vip),
    '--with-secrets', i.secretsFile,
    '--config-patch', `@${i.commonPatch}`,
    ...(i.extraPatches ?? []).flatMap((p) => ['--config-patch', `@${p}`]),
    '--config-patch-control-plane', `@${i.controlPlanePatch}`,
    '--config-patch-worker', `@${i.workerPatch}`,
    ...(i.installImage ? ['--install-image', i.installImage] : []),
    '--kubernetes-version', i.kubernetesVersion,
    '--talos-version', talosMinor(i.talosVersion),
    '--with-docs=false', '--with-examples=false',
    '-o', i.outDir,
    '--force',
  ];
}

export function configEndpointsArgv(talosconfig: string, ips: string[]): string[] {
  return ['talosctl', '--talosconfig', talosconfig, 'config', 'endpoint', ...ips];
}

export function configNodesArgv(talosconfig: string, ips: string[]): string[] {
  return ['talosctl', '--talosconfig', talosconfig, 'config', 'node', ...ips];
}

/** Read-only; succeeds only while the node runs the maintenance service (no machine config yet). */
export function maintenanceProbeArgv(ip: string): string[] {
  return ['talosctl', 'get', 'disks', '--insecure', '--nodes', ip];
}

/** talosctl aimed at one node through its own apid: `talosctl --endpoints IP --nodes IP`. */
export function at(ip: string): string[] {
  return ['talosctl', '--endpoints', ip, '--nodes', ip];
}

/** Read-only; succeeds once the node has a machine config and apid accepts our client certificate. */
export function machineStatusArgv(ip: string): string[] {
  return [...at(ip), 'get', 'machinestatus', '-o', 'json'];
}

export function applyConfigInsecureArgv(ip: string, file: string, patch?: string): string[] {
  return ['talosctl', 'apply-config', '--insecure', '--nodes', ip, '--file', file, ...(patch ? ['--config-patch', `@${patch}`] : [])];
}

export function serviceArgv(ip: string, service: string): string[] {
  return [...at(ip), 'service', service];
}

export function bootstrapArgv(ip: string): string[] {
  return [...at(ip), 'bootstrap'];
}

export function etcdMembersArgv(ip: string): string[] {
  return [...at(ip), 'etcd', 'members'];
}

/** Prints the admin kubeconfig on stdout (the caller writes it, 0600). Its server is the cluster endpoint (the VIP). */
export function kubeconfigArgv(ip: string): string[] {
  return [...at(ip), 'kubeconfig', '-', '--merge=false'];
}

export interface HealthInput {
  node: string;
  controlPlanes: string[];
  workers: string[];
  waitTimeout: string;
}

export function healthArgv(h: HealthInput): string[] {
  return [
    ...at(h.node), 'health',
    '--control-plane-nodes', h.controlPlanes.join(','),
    ...(h.workers.length ? ['--worker-nodes', h.workers.join(',')] : []),
    '--wait-timeout', h.waitTimeout,
  ];
}

export function clientVersionArgv(): string[] {
  return ['talosctl', 'version', '--client', '--short'];
}

// ---------------------------------------------------------------------------------------------------------------
// Parsers

export interface ServiceInfo {
  state?: string;
  health?: string;
}

/** `talosctl service etcd` prints a key/value block: NODE, ID, STATE, HEALTH, LAST HEALTH MESSAGE, EVENTS. */
export function parseServiceInfo(stdout: string): ServiceInfo {
  const info: ServiceInfo = {};
  for (const line of stdout.split('\n')) {
    const m = /^(STATE|HEALTH)\s+(\S.*?)\s*$/.exec(line);
    if (m) info[m[1] === 'STATE' ? 'state' : 'health'] = m[2];
  }
  return info;
}

/** `talosctl get … -o json` prints one indented JSON object per resource, back to back (not an array). */
export function parseResourceStream(stdout: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < stdout.length; i++) {
    const ch = stdout[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0 && start >= 0) {
        out.push(JSON.parse(stdout.slice(start, i + 1)) as Record<string, unknown>);
        start = -1;
      }
    }
  }
  return out;
}

export function machineStage(stdout: string): string | undefined {
  const [first] = parseResourceStream(stdout);
  const spec = first?.spec as { stage?: unknown } | undefined;
  return typeof spec?.stage === 'string' ? spec.stage : undefined;
}

/** `rpc error: code = AlreadyExists` / "etcd data directory is not empty": the cluster is bootstrapped already. */
export function isAlreadyBootstrapped(text: string): boolean {
  return /code = AlreadyExists|etcd data directory is not empty|already bootstrapped/i.test(text);
}

/** FailedPrecondition while the node is still starting ("bootstrap is not available yet", "time is not in sync yet"). */
export function isBootstrapNotReadyYet(text: string): boolean {
  return /bootstrap is not available yet|time is not in sync yet|code = Unavailable|connection refused/i.test(text);
}

export function parseClientVersion(stdout: string): string | undefined {
  return /\bv\d+\.\d+\.\d+[^\s]*/.exec(stdout)?.[0];
}
