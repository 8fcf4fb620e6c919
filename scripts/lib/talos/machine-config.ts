import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { parse } from 'yaml';
import { apiServerUrl } from '../kubernetes/kubectl.ts';
import { at, talosMinor } from './talosctl.ts';

// Machine configs and client configs: `gen secrets`, `gen config` (with the Image Factory installer and our patches),
// talosconfig endpoints/nodes, `apply-config` (insecure into maintenance mode, or authenticated with a mode), and the
// admin kubeconfig. Pure argv builders.

/** Files the bootstrap keeps in the cluster's private state directory (never in git). */
export function talosFiles(paths: { talosDir: string; talosSecrets: string; talosconfig: string }) {
  return {
    secrets: paths.talosSecrets,
    controlPlane: join(paths.talosDir, 'controlplane.yaml'),
    worker: join(paths.talosDir, 'worker.yaml'),
    talosconfig: paths.talosconfig,
    /** Hash of everything `gen config` read; equal hash ⇒ the generated files are current. */
    inputsHash: join(paths.talosDir, 'gen-config.inputs.sha256'),
    /** The non-secret inputs of that `gen config` (GenConfigRecord): what day-2 applies compare with the config. */
    inputsRecord: join(paths.talosDir, 'gen-config.inputs.json'),
    /** Extra machine-config patch holding secrets (the Tailscale auth key), 0600. */
    secretPatch: join(paths.talosDir, 'secret-patch.yaml'),
  };
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

export function applyConfigInsecureArgv(ip: string, file: string, patch?: string): string[] {
  return ['talosctl', 'apply-config', '--insecure', '--nodes', ip, '--file', file, ...(patch ? ['--config-patch', `@${patch}`] : [])];
}

/** Prints the admin kubeconfig on stdout (the caller writes it, 0600). Its server is the cluster endpoint (the VIP). */
export function kubeconfigArgv(ip: string): string[] {
  return [...at(ip), 'kubeconfig', '-', '--merge=false'];
}

export type ApplyMode = 'auto' | 'no-reboot' | 'reboot' | 'staged' | 'try';

export interface ApplyInput {
  ip: string;
  file: string;
  /** Node patch (talos/generated/<cluster>/nodes/<node>.yaml), applied on top of the role's machine config. */
  patch?: string;
  mode: ApplyMode;
  /** talosctl's own --dry-run: shows the config diff and what the node would do; changes nothing. */
  preview?: boolean;
}

export function applyConfigArgv(a: ApplyInput): string[] {
  return [
    ...at(a.ip), 'apply-config',
    '--file', a.file,
    ...(a.patch ? ['--config-patch', `@${a.patch}`] : []),
    '--mode', a.mode,
    ...(a.preview ? ['--dry-run'] : []),
  ];
}

// ---- staleness of the generated machine configs ------------------------------------------------------------------

/** The non-secret inputs of one `talosctl gen config` run, recorded next to the generated files. */
export interface GenConfigRecord {
  clusterName: string;
  vip: string;
  talosVersion: string;
  kubernetesVersion: string;
  installImage: string;
  /** Repo-relative patch file → sha256 of its content then. */
  patches: Record<string, string>;
}

export const sha256 = (text: string | undefined): string => createHash('sha256').update(text ?? '').digest('hex');

/** The versions a generated machine config really carries: machine.kubelet.image and machine.install.image tags. */
export function machineConfigVersions(text: string): { kubernetes?: string; talos?: string } {
  const doc = (parse(text) ?? {}) as { machine?: { kubelet?: { image?: string }; install?: { image?: string } } };
  const tag = (image: string | undefined) => (image && /:([^:/@]+)(@.*)?$/.exec(image)?.[1]) || undefined;
  const kubernetes = tag(doc.machine?.kubelet?.image)?.replace(/^v/, '');
  const talos = tag(doc.machine?.install?.image);
  return { ...(kubernetes ? { kubernetes } : {}), ...(talos ? { talos } : {}) };
}

/**
 * Why a generated machine config no longer matches the config it would be applied for (empty: current). Applying a
 * stale one reverts what day-2 commands moved on: `talosctl upgrade-k8s` patches the configs on the nodes, not the
 * local files, so a file generated with the old --kubernetes-version would downgrade the node's Kubernetes.
 */
export function genConfigDrift(
  want: { clusterName: string; vip: string; talosVersion: string; kubernetesVersion: string; patches: Record<string, string | undefined> },
  file: { text: string; record?: GenConfigRecord },
): string[] {
  const out: string[] = [];
  const has = machineConfigVersions(file.text);
  const k8s = file.record?.kubernetesVersion ?? has.kubernetes;
  if (k8s && k8s.replace(/^v/, '') !== want.kubernetesVersion.replace(/^v/, '')) out.push(`generated for Kubernetes ${k8s}, versions.kubernetes is ${want.kubernetesVersion}`);
  const talos = file.record?.talosVersion ?? has.talos;
  if (talos && talos !== want.talosVersion) out.push(`generated for Talos ${talos}, versions.talos is ${want.talosVersion}`);
  if (file.record) {
    if (file.record.vip !== want.vip) out.push(`generated for the VIP ${file.record.vip}, network.vip is ${want.vip}`);
    if (file.record.clusterName !== want.clusterName) out.push(`generated for cluster ${file.record.clusterName}`);
    const changed = Object.entries(want.patches).filter(([f, text]) => f in file.record!.patches && file.record!.patches[f] !== sha256(text)).map(([f]) => f);
    if (changed.length) out.push(`${changed.join(', ')} changed since`);
  }
  return out;
}
