import { FLUX_NAMESPACE, KUSTOMIZATION, GIT_REPOSITORY } from './kustomizations.ts';

// Installing Flux and checking what is installed: `flux bootstrap github`, `flux check`, `flux version`, the
// flux-system GitRepository and Kustomization, and whether they read our repository, branch and path. Pure.

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

export function gitRepositoryArgv(): string[] {
  return ['kubectl', 'get', GIT_REPOSITORY, 'flux-system', '--namespace', FLUX_NAMESPACE, '-o', 'json', '--ignore-not-found'];
}

export function fluxSystemKustomizationArgv(): string[] {
  return ['kubectl', 'get', KUSTOMIZATION, 'flux-system', '--namespace', FLUX_NAMESPACE, '-o', 'json', '--ignore-not-found'];
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
