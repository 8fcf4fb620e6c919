import { relative } from 'node:path';
import { REPO_ROOT } from '../core/paths.ts';
import { CommandError } from '../core/runner.ts';
import * as git from '../git/git.ts';
import { BootstrapError } from './errors.ts';
import { act, probe, type PhaseContext } from './steps.ts';

// Files the bootstrap writes into the GitOps tree (the sealing certificate, SealedSecrets) reach Flux only through the
// remote. The bootstrap commits exactly those paths (`git commit -- PATHS`, nothing else the user staged) and pushes
// to the branch Flux reads. Resumable: a commit that was made but not pushed is pushed by the next run.

export function lsRemoteArgv(remote: string, branch: string): string[] {
  return ['git', 'ls-remote', remote, `refs/heads/${branch}`];
}

export function isAncestorArgv(ancestor: string, of: string): string[] {
  return ['git', 'merge-base', '--is-ancestor', ancestor, of];
}

/** Commits `files` if they changed and pushes HEAD when the remote branch lacks it. Returns what it did. */
export async function commitAndPush(p: PhaseContext, files: string[], message: string): Promise<{ committed: boolean; pushed: boolean }> {
  const rel = files.map((f) => relative(REPO_ROOT, f));
  const branch = p.config.github.branch;
  const opts = { cwd: REPO_ROOT };
  let committed = false;
  const status = await probe(p, git.statusArgv(rel), opts);
  if (status.dryRun || git.parseStatus(status.stdout).length) {
    await act(p, git.addArgv(rel), opts);
    await act(p, git.commitArgv(message, rel), opts);
    committed = true;
  }
  if (p.runner.dryRun) {
    await act(p, git.pushArgv(git.REMOTE, branch), opts);
    return { committed, pushed: true };
  }
  const head = (await p.runner.probe(git.headArgv(), opts)).stdout.trim();
  const remote = await p.runner.probe(lsRemoteArgv(git.REMOTE, branch), { ...opts, timeoutMs: 60_000 });
  if (!remote.ok) throw new CommandError(remote, `cannot read ${git.REMOTE}/${branch}: check network and credentials for git`);
  const remoteSha = remote.stdout.trim().split(/\s+/)[0] ?? '';
  if (remoteSha === head) return { committed, pushed: false };
  if (remoteSha && !(await p.runner.probe(isAncestorArgv(remoteSha, head), opts)).ok) {
    throw new BootstrapError(
      `${git.REMOTE}/${branch} has commits this checkout lacks (e.g. the ones flux bootstrap pushed), so the bootstrap's commit cannot be pushed`,
      `run \`git pull --rebase ${git.REMOTE} ${branch}\`, then \`task bootstrap\` again (it resumes here and pushes)`,
    );
  }
  await act(p, git.pushArgv(git.REMOTE, branch), {
    ...opts,
    timeoutMs: 120_000,
    hint: `push failed; the commit is kept locally. Fix access to ${git.REMOTE} and run \`task bootstrap\` again: it pushes first`,
  });
  return { committed, pushed: true };
}
