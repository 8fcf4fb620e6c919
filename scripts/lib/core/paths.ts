import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (scripts/lib/core/ is three levels down). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Where a cluster's private state lives: Talos secrets, talosconfig, kubeconfig, the sealed-secrets key file, state
 * files and logs. Outside the repository, so `git clean` or a fresh clone never loses them and they never reach git.
 * HOME_OPS_STATE_DIR overrides the base (tests point it at a temporary directory).
 */
export function stateDir(cluster: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.HOME_OPS_STATE_DIR ?? join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'home-ops');
  return join(base, cluster);
}

export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/** Files of one cluster that tools read. */
export function clusterPaths(cluster: string, env: NodeJS.ProcessEnv = process.env) {
  const dir = stateDir(cluster, env);
  return {
    dir,
    talosSecrets: join(dir, 'talos', 'secrets.yaml'),
    talosDir: join(dir, 'talos'),
    talosconfig: join(dir, 'talos', 'talosconfig'),
    kubeconfig: join(dir, 'kubeconfig'),
    sealedSecretsDir: join(dir, 'sealed-secrets'),
    logs: join(dir, 'logs'),
    bootstrapState: join(dir, 'bootstrap-state.json'),
    snapshots: join(dir, 'etcd-snapshots'),
    reports: join(dir, 'reports'),
  };
}
