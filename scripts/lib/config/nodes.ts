import type { ClusterConfig } from '../config/load.ts';
import type { NodeConfig } from '../config/schema.ts';
import { plural } from '../core/steps.ts';

// Node roles as the bootstrap needs them: pure.

export function controlPlanes(c: ClusterConfig): NodeConfig[] {
  return c.nodes.filter((n) => n.role === 'controlplane');
}

export function workers(c: ClusterConfig): NodeConfig[] {
  return c.nodes.filter((n) => n.role === 'worker');
}

/** The control plane that bootstraps etcd and serves the API before the VIP exists. */
export function firstControlPlane(c: ClusterConfig): NodeConfig {
  const cp = controlPlanes(c)[0];
  if (!cp) throw new Error('the config has no control plane (the config validation should have caught this)');
  return cp;
}

export function describeNodes(c: ClusterConfig): string {
  const cps = controlPlanes(c).length;
  const ws = workers(c).length;
  return `${plural(c.nodes.length, 'node')} (${plural(cps, 'control plane')}, ${plural(ws, 'worker')})`;
}
