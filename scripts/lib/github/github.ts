import { Octokit } from '@octokit/rest';
import { httpFetch, noAnswerCause, type HttpPolicy } from '../core/http.ts';
import type { OpResult, OpsContext } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { redact, registerSecret } from '../core/redact.ts';
import { headArgv } from '../git/git.ts';

// GitHub REST (@octokit/rest) for the bootstrap preflight and for destroy. API base URL: GITHUB_API_URL when set
// (GitHub Enterprise, or the tests' local server), else https://api.github.com. Token: GITHUB_TOKEN (.env).
//
//   checkGithubReady(ctx, { localSha? })   preflight: the branch Flux reads contains the local HEAD commit (pushed),
//                                          and the token may manage deploy keys (flux bootstrap github adds one)
//       GET /repos/{owner}/{repo}                       → permissions.admin must be true
//       GET /repos/{owner}/{repo}/branches/{branch}     → the branch exists
//       GET /repos/{owner}/{repo}/compare/{branch}...{sha} → status "identical" or "behind": the branch contains sha
//       GET /repos/{owner}/{repo}/keys?per_page=100     → the token can read deploy keys (fine-grained: Administration)
//   removeFluxDeployKeys(ctx)              destroy: delete the deploy keys flux bootstrap github made for this
//                                          cluster's path, titled "<ns>-<branch>-<ns>-<path>" (flux ≥2) or
//                                          "flux-<path>" (older); other keys are left alone
//       GET /repos/{owner}/{repo}/keys (paginated) → DELETE /repos/{owner}/{repo}/keys/{key_id} (per matching key)

export const DEFAULT_API_URL = 'https://api.github.com';

export interface GithubOptions {
  /** Environment for GITHUB_API_URL (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The local commit that must be on the branch; default `git rev-parse HEAD` in the repository. */
  localSha?: string;
  /** Flux's namespace (default flux-system), part of the deploy key title. */
  fluxNamespace?: string;
  /** Deadline, retries and progress interval of each API request (core/http.ts defaults). */
  http?: Omit<HttpPolicy, 'what' | 'log'>;
}

export class GithubCheckError extends Error {
  override name = 'GithubCheckError';
}

export function apiBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.GITHUB_API_URL || DEFAULT_API_URL).replace(/\/+$/, '');
}

export function githubClient(ctx: Pick<OpsContext, 'secrets' | 'log'>, env: NodeJS.ProcessEnv = process.env, http: GithubOptions['http'] = {}): Octokit {
  const token = ctx.secrets.GITHUB_TOKEN;
  if (!token) throw new GithubCheckError('GITHUB_TOKEN is missing: add it to .env (a token that may read the repository and add deploy keys)');
  registerSecret(token);
  return new Octokit({
    auth: token,
    baseUrl: apiBaseUrl(env),
    userAgent: 'home-ops',
    // Deadline, progress line and bounded retries come from core/http.ts; Octokit's own retrying stays off.
    request: { retries: 0, fetch: httpFetch({ what: 'GitHub API', log: ctx.log, ...http }) },
    // The library's own messages are ours to explain: they go to the debug level (and the log file) only.
    log: {
      debug: (m: string) => ctx.log.debug(redact(m)),
      info: (m: string) => ctx.log.debug(redact(m)),
      warn: (m: string) => ctx.log.debug(`octokit: ${redact(m)}`),
      error: (m: string) => ctx.log.debug(`octokit: ${redact(m)}`),
    },
  });
}

/** The deploy key titles flux bootstrap github gives this cluster's key (flux2 pkg/bootstrap deployKeyName; old CLI). */
export function fluxDeployKeyTitles(path: string, branch: string, namespace = 'flux-system'): string[] {
  const clean = path.replace(/^\.\//, '').replace(/\/+$/, '');
  const paths = [clean, `./${clean}`];
  return [...paths.map((p) => `${namespace}-${branch}-${namespace}-${p}`), ...paths.map((p) => `flux-${p}`)];
}

function status(err: unknown): number | undefined {
  return typeof (err as { status?: unknown })?.status === 'number' ? (err as { status: number }).status : undefined;
}

function explain(err: unknown, what: string): GithubCheckError {
  // No answer at all is not an HTTP status (Octokit would call it a 500).
  const none = noAnswerCause(err);
  if (none) return new GithubCheckError(redact(`${what} failed: ${none.message}; is the GitHub API reachable from here (GITHUB_API_URL, proxy, DNS)?`));
  const s = status(err);
  const msg = (err as Error)?.message ?? String(err);
  const hint =
    s === 401
      ? 'the token is invalid or expired: create a new GITHUB_TOKEN'
      : s === 403
        ? 'the token lacks a permission (classic token: repo scope; fine-grained: Contents read and Administration read/write) or hit a rate limit'
        : s === 404
          ? 'not found, or not visible to this token (private repositories need the token to have access)'
          : 'is the GitHub API reachable (GITHUB_API_URL)?';
  return new GithubCheckError(redact(`${what} failed${s ? ` (HTTP ${s})` : ''}: ${msg}; ${hint}`));
}

async function localHead(ctx: OpsContext): Promise<string> {
  const res = await ctx.runner.probe(headArgv(), { cwd: REPO_ROOT });
  if (!res.ok) throw new GithubCheckError(`git rev-parse HEAD failed in ${REPO_ROOT}: ${res.stderr.trim()}`);
  return res.stdout.trim();
}

export async function checkGithubReady(ctx: OpsContext, opts: GithubOptions = {}): Promise<OpResult> {
  const g = ctx.config.github;
  const env = opts.env ?? process.env;
  const repo = `${g.owner}/${g.repository}`;
  const base = apiBaseUrl(env);
  if (ctx.runner.dryRun) {
    ctx.runner.planOnly(`? GET ${base}/repos/${repo}   # permissions.admin (deploy keys)`);
    ctx.runner.planOnly(`? GET ${base}/repos/${repo}/branches/${g.branch}`);
    ctx.runner.planOnly(`? GET ${base}/repos/${repo}/compare/${g.branch}...<HEAD>   # the branch contains the local commit`);
    ctx.runner.planOnly(`? GET ${base}/repos/${repo}/keys?per_page=100`);
    return { changed: false, summary: `would check ${repo}@${g.branch} and the token` };
  }
  const octokit = githubClient(ctx, env, opts.http);
  const sha = opts.localSha ?? (await localHead(ctx));
  const problems: string[] = [];

  let repoData: Awaited<ReturnType<typeof octokit.rest.repos.get>>['data'];
  try {
    repoData = (await octokit.rest.repos.get({ owner: g.owner, repo: g.repository })).data;
  } catch (err) {
    throw explain(err, `GET /repos/${repo}`);
  }
  if (!repoData.permissions?.admin) {
    problems.push(`the token is not admin on ${repo} (permissions.admin is false), so flux bootstrap cannot add its deploy key`);
  } else {
    try {
      await octokit.rest.repos.listDeployKeys({ owner: g.owner, repo: g.repository, per_page: 100 });
    } catch (err) {
      problems.push(explain(err, `GET /repos/${repo}/keys (deploy keys)`).message);
    }
  }

  try {
    await octokit.rest.repos.getBranch({ owner: g.owner, repo: g.repository, branch: g.branch });
    try {
      const cmp = (await octokit.rest.repos.compareCommitsWithBasehead({ owner: g.owner, repo: g.repository, basehead: `${g.branch}...${sha}` })).data;
      // head (sha) behind or identical to base (branch) ⇔ the branch contains the commit.
      if (cmp.status !== 'identical' && cmp.status !== 'behind') {
        problems.push(`the local commit ${sha.slice(0, 12)} is not on ${repo}@${g.branch} (${cmp.status}, ${cmp.ahead_by} commit(s) ahead): git push origin HEAD:${g.branch}`);
      }
    } catch (err) {
      if (status(err) === 404) problems.push(`the local commit ${sha.slice(0, 12)} is not on GitHub: git push origin HEAD:${g.branch}`);
      else problems.push(explain(err, `GET /repos/${repo}/compare`).message);
    }
  } catch (err) {
    if (status(err) === 404) problems.push(`branch ${g.branch} (github.branch) does not exist on ${repo}: git push origin HEAD:${g.branch}`);
    else problems.push(explain(err, `GET /repos/${repo}/branches/${g.branch}`).message);
  }

  if (problems.length) throw new GithubCheckError(`GitHub preflight for ${repo}:\n  ${problems.join('\n  ')}`);
  return { changed: false, summary: `${repo}@${g.branch} contains ${sha.slice(0, 12)}; the token may add deploy keys` };
}

export async function removeFluxDeployKeys(ctx: OpsContext, opts: GithubOptions = {}): Promise<OpResult> {
  const g = ctx.config.github;
  const env = opts.env ?? process.env;
  const repo = `${g.owner}/${g.repository}`;
  const titles = fluxDeployKeyTitles(g.path, g.branch, opts.fluxNamespace);
  const base = apiBaseUrl(env);
  if (ctx.runner.dryRun) {
    ctx.runner.planOnly(`? GET ${base}/repos/${repo}/keys?per_page=100`);
    ctx.runner.planOnly(`DELETE ${base}/repos/${repo}/keys/{key_id}   # each key titled ${titles[0]}`);
    return { changed: false, summary: `would remove Flux deploy keys titled ${titles[0]} from ${repo}` };
  }
  const octokit = githubClient(ctx, env, opts.http);
  let keys: { id: number; title: string }[];
  try {
    keys = await octokit.paginate(octokit.rest.repos.listDeployKeys, { owner: g.owner, repo: g.repository, per_page: 100 });
  } catch (err) {
    throw explain(err, `GET /repos/${repo}/keys`);
  }
  const stale = keys.filter((k) => titles.includes(k.title));
  for (const k of stale) {
    try {
      await octokit.rest.repos.deleteDeployKey({ owner: g.owner, repo: g.repository, key_id: k.id });
      ctx.log.info(`removed deploy key ${k.id} "${k.title}" from ${repo}`);
    } catch (err) {
      if (status(err) !== 404) throw explain(err, `DELETE /repos/${repo}/keys/${k.id}`);
    }
  }
  return stale.length
    ? { changed: true, summary: `removed ${stale.length} Flux deploy key(s) from ${repo}: ${stale.map((k) => k.title).join(', ')}` }
    : { changed: false, summary: `no changes (no Flux deploy key for ${g.path} on ${repo})` };
}
