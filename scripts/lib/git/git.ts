// git argv builders and parsers the bootstrap uses (run with cwd = the repository root): pure.
//
//   statusArgv(paths?)         git status --porcelain=v1 --untracked-files=all [-- PATHS]
//   headArgv()                 git rev-parse HEAD
//   addArgv(paths)             git add -- PATHS
//   commitArgv(msg, paths)     git commit -m MSG -- PATHS   (commits only these paths, whatever else is staged)
//   pushArgv(remote, branch)   git push REMOTE HEAD:refs/heads/BRANCH
//   parseStatus(stdout)        → [{ code, path }]

export const REMOTE = 'origin';

export function statusArgv(paths: string[] = []): string[] {
  return ['git', 'status', '--porcelain=v1', '--untracked-files=all', ...(paths.length ? ['--', ...paths] : [])];
}

export function headArgv(): string[] {
  return ['git', 'rev-parse', 'HEAD'];
}

export function addArgv(paths: string[]): string[] {
  return ['git', 'add', '--', ...paths];
}

export function commitArgv(message: string, paths: string[]): string[] {
  return ['git', 'commit', '--quiet', '-m', message, '--', ...paths];
}

export function pushArgv(remote: string, branch: string): string[] {
  return ['git', 'push', remote, `HEAD:refs/heads/${branch}`];
}

export function versionArgv(): string[] {
  return ['git', '--version'];
}

export interface StatusEntry {
  code: string;
  path: string;
}

export function parseStatus(stdout: string): StatusEntry[] {
  return stdout
    .split('\n')
    .filter((l) => l.length > 3)
    .map((l) => ({ code: l.slice(0, 2), path: l.slice(3) }));
}
