import { at } from './talosctl.ts';

// Talos and Kubernetes upgrades: `upgrade --image`, `upgrade-k8s --to`, and the installer image of a node from the
// config's Talos version and the schematic Terraform registered. Pure.

export function upgradeArgv(ip: string, image: string): string[] {
  return [...at(ip), 'upgrade', '--image', image, '--wait=false'];
}

export function upgradeK8sArgv(ip: string, to: string, preview = false): string[] {
  return [...at(ip), 'upgrade-k8s', '--to', to, ...(preview ? ['--dry-run'] : [])];
}

/**
 * The installer image of a node, built from the config's Talos version and the schematic Terraform registered — never
 * read from a running node (which may run the image we are trying to leave).
 */
export function installerImage(factoryUrl: string, schematicId: string, talosVersion: string, platform = 'metal'): string {
  if (!/^[0-9a-f]{64}$/.test(schematicId)) throw new Error(`not an Image Factory schematic id: ${JSON.stringify(schematicId)}`);
  if (!/^v\d+\.\d+\.\d+/.test(talosVersion)) throw new Error(`not a Talos version: ${JSON.stringify(talosVersion)}`);
  const host = new URL(factoryUrl).host;
  return `${host}/${platform}-installer/${schematicId}:${talosVersion}`;
}

/** The tag of an installer image reference ("…:v1.11.6" → "v1.11.6"). */
export function imageTag(image: string): string | undefined {
  const m = /:([^/:@]+)$/.exec(image);
  return m?.[1];
}
