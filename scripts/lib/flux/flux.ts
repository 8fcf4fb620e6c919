// flux argv builders, Kustomization parsing and dependency ordering: small pure functions, no I/O.
//
//   bootstrapGithubArgv(FluxGithub)         flux bootstrap github --owner=… --repository=… --branch=… --path=… [--personal] --version=… [--hostname=…]
//   githubHostname(apiUrl)                  GitHub Enterprise host from GITHUB_API_URL (undefined for github.com)
//   reconcileSourceArgv()                   flux reconcile source git flux-system
//   checkArgv()                             flux check
//   kustomizationsArgv()                    kubectl get kustomizations.kustomize.toolkit.fluxcd.io -A -o json
//   gitRepositoryArgv()                     kubectl get gitrepositories.source.toolkit.fluxcd.io flux-system -n flux-system -o json --ignore-not-found
//   parseKustomizations(stdout)             → [{ id: ns/name, dependsOn, ready, reason, message, suspended, deferred }]
//   dependencyOrder(ks)                     topological order (dependencies first; ties by name; cycles last)
//   describe(k)                             "infrastructure: Ready (Applied revision: main@sha1:…)"
//   syncMatches(gitRepo, ks, want)          does the installed flux-system sync read our repo/branch/path?
//
// A Kustomization labelled `bootstrap.home-ops/wait: verify` needs something the integrations phase provides (e.g. the
// Proxmox CSI token's SealedSecret): the gitops phase does not wait for it, the verify phase does.

export const FLUX_NAMESPACE = 'flux-system';
export const KUSTOMIZATION = 'kustomizations.kustomize.toolkit.fluxcd.io';
export const GIT_REPOSITORY = 'gitrepositories.source.toolkit.fluxcd.io';
export const DEFER_LABEL = 'bootstrap.home-ops/wait';

export interface FluxGithub {
  owner: string;
  repository: string;
  branch: string;
  path: string;
  personal: boolean;
  version: string;
  hostname?: string;
}

export function bootstrapGithubArgv(f: FluxGithub): string[] {
  return [
    'flux', 'bootstrap', 'github',
    `--owner=${f.owner}`,
    `--repository=${f.repository}`,
    `--branch=${f.branch}`,
    `--path=${f.path}`,
    ...(f.personal ? ['--personal'] : []),
    `--version=${f.version}`,
    ...(f.hostname ? [`--hostname=${f.hostname}`] : []),
    '--timeout=10m',
  ];
}

/** GITHUB_API_URL = https://ghe.example.com/api/v3 → "ghe.example.com"; api.github.com or unset → undefined. */
export function githubHostname(apiUrl: string | undefined): string | undefined {
  if (!apiUrl) return undefined;
  const host = new URL(apiUrl).host;
  return host === 'api.github.com' || host === 'github.com' ? undefined : host;
}

export function reconcileSourceArgv(): string[] {
  return ['flux', 'reconcile', 'source', 'git', 'flux-system', '--namespace', FLUX_NAMESPACE];
}

export function checkArgv(): string[] {
  return ['flux', 'check'];
}

export function versionArgv(): string[] {
  return ['flux', 'version', '--client'];
}

export function kustomizationsArgv(): string[] {
  return ['kubectl', 'get', KUSTOMIZATION, '--all-namespaces', '-o', 'json'];
}

export function gitRepositoryArgv(): string[] {
  return ['kubectl', 'get', GIT_REPOSITORY, 'flux-system', '--namespace', FLUX_NAMESPACE, '-o', 'json', '--ignore-not-found'];
}

export function fluxSystemKustomizationArgv(): string[] {
  return ['kubectl', 'get', KUSTOMIZATION, 'flux-system', '--namespace', FLUX_NAMESPACE, '-o', 'json', '--ignore-not-found'];
}

export interface KustomizationState {
  /** namespace/name */
  id: string;
  name: string;
  dependsOn: string[];
  ready: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  suspended: boolean;
  /** Waited for by the verify phase, not gitops (label bootstrap.home-ops/wait=verify). */
  deferred: boolean;
}

interface KsObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { dependsOn?: { name: string; namespace?: string }[]; suspend?: boolean };
  status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

export function parseKustomizations(stdout: string): KustomizationState[] {
  const list = JSON.parse(stdout || '{}') as { items?: KsObject[] };
  return (list.items ?? []).map((k) => {
    const ns = k.metadata?.namespace ?? FLUX_NAMESPACE;
    const name = k.metadata?.name ?? '?';
    const cond = k.status?.conditions?.find((c) => c.type === 'Ready');
    const ready = cond?.status === 'True' ? 'True' : cond?.status === 'False' ? 'False' : 'Unknown';
    return {
      id: `${ns}/${name}`,
      name,
      dependsOn: (k.spec?.dependsOn ?? []).map((d) => `${d.namespace ?? ns}/${d.name}`),
      ready,
      ...(cond?.reason ? { reason: cond.reason } : {}),
      ...(cond?.message ? { message: cond.message } : cond ? {} : { message: 'waiting to be reconciled' }),
      suspended: k.spec?.suspend === true,
      deferred: k.metadata?.labels?.[DEFER_LABEL] === 'verify',
    };
  });
}

/** Dependencies before dependants (Kahn's algorithm, ties broken by id); members of a cycle come last, by id. */
export function dependencyOrder<T extends { id: string; dependsOn: string[] }>(items: T[]): T[] {
  const byId = new Map(items.map((k) => [k.id, k]));
  const pending = new Map(items.map((k) => [k.id, new Set(k.dependsOn.filter((d) => byId.has(d)))]));
  const out: T[] = [];
  for (;;) {
    const ready = [...pending].filter(([, deps]) => deps.size === 0).map(([id]) => id).sort();
    if (ready.length === 0) break;
    const id = ready[0]!;
    out.push(byId.get(id)!);
    pending.delete(id);
    for (const deps of pending.values()) deps.delete(id);
  }
  return [...out, ...[...pending.keys()].sort().map((id) => byId.get(id)!)];
}

export function describe(k: KustomizationState): string {
  const state = k.suspended ? 'Suspended' : k.ready === 'True' ? 'Ready' : k.ready === 'False' ? 'NotReady' : 'Unknown';
  const why = k.message ?? k.reason;
  return `${k.name}: ${state}${why ? ` (${why.split('\n')[0]})` : ''}`;
}

export interface SyncTarget {
  owner: string;
  repository: string;
  branch: string;
  path: string;
}

/** The flux-system GitRepository/Kustomization pair read our repository, branch and path. */
export function syncMatches(gitRepo: Record<string, unknown> | undefined, ks: Record<string, unknown> | undefined, want: SyncTarget): boolean {
  if (!gitRepo || !ks) return false;
  const spec = gitRepo.spec as { url?: string; ref?: { branch?: string } } | undefined;
  const ksSpec = ks.spec as { path?: string } | undefined;
  const url = (spec?.url ?? '').replace(/\.git$/, '').toLowerCase();
  const normPath = (p: string) => p.replace(/^\.\//, '').replace(/\/$/, '');
  return (
    url.endsWith(`/${want.owner}/${want.repository}`.toLowerCase()) &&
    spec?.ref?.branch === want.branch &&
    normPath(ksSpec?.path ?? '') === normPath(want.path)
  );
}

export function parseFluxVersion(stdout: string): string | undefined {
  return /\bv?\d+\.\d+\.\d+[^\s]*/.exec(stdout)?.[0];
}
