import { execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

// A local stand-in for the GitHub REST API (the documented endpoints the scripts use), for octokit pointed at it with
// GITHUB_API_URL. Stateful: one repository with branches (name → commit shas on it, newest first, or a local bare
// repository's real branches and history), deploy keys and the token's admin permission. Unknown routes → 404 like
// GitHub; a wrong token → 401 "Bad credentials".
//
//   GET    /repos/{o}/{r}                     → { full_name, default_branch, permissions: { admin, push, pull } }
//   GET    /repos/{o}/{r}/branches/{b}        → { name, commit: { sha } }
//   GET    /repos/{o}/{r}/compare/{base}...{head} → { status: identical|behind|ahead|diverged, ahead_by, behind_by }
//   GET    /repos/{o}/{r}/keys[?per_page&page] → [{ id, key, title, read_only, … }]  (Link header when paged)
//   DELETE /repos/{o}/{r}/keys/{id}            → 204

export interface FakeGithubState {
  owner: string;
  repo: string;
  token: string;
  admin: boolean;
  /** Deploy key listing forbidden (a token without Administration permission). */
  keysForbidden?: boolean;
  branches: Record<string, string[]>;
  /** A local bare repository whose branches and commits answer instead of `branches` (the bootstrap's test remote). */
  bare?: string;
  keys: { id: number; title: string; key: string; read_only: boolean }[];
}

export interface FakeGithub {
  url: string;
  state: FakeGithubState;
  requests: { method: string; path: string }[];
  close(): Promise<void>;
}

function git(bare: string, ...args: string[]): string | undefined {
  try {
    return execFileSync('git', ['--git-dir', bare, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

/** The branch's head commit. */
function branchHead(state: FakeGithubState, branch: string): string | undefined {
  return state.bare ? git(state.bare, 'rev-parse', '--verify', `refs/heads/${branch}^{commit}`) : state.branches[branch]?.[0];
}

/** How `head` relates to the branch `base` (GitHub's compare), or undefined when either is unknown. */
function compare(state: FakeGithubState, base: string, head: string): { ahead: number; behind: number } | undefined {
  if (state.bare) {
    const b = branchHead(state, base);
    const h = git(state.bare, 'rev-parse', '--verify', `${head}^{commit}`) ?? branchHead(state, head);
    if (!b || !h) return undefined;
    return { ahead: Number(git(state.bare, 'rev-list', '--count', `${b}..${h}`)), behind: Number(git(state.bare, 'rev-list', '--count', `${h}..${b}`)) };
  }
  const shas = state.branches[base];
  if (!shas || !Object.values(state.branches).flat().includes(head)) return undefined;
  const idx = shas.indexOf(head);
  return idx >= 0 ? { ahead: 0, behind: idx } : { ahead: 1, behind: 1 };
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

export async function startFakeGithub(state: FakeGithubState): Promise<FakeGithub> {
  const requests: FakeGithub['requests'] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push({ method: req.method ?? 'GET', path: url.pathname });
    const auth = req.headers.authorization ?? '';
    if (!/^(token|bearer) /i.test(auth) || auth.split(' ')[1] !== state.token) {
      return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    }
    const notFound = () => send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    const prefix = `/repos/${state.owner}/${state.repo}`;
    if (!url.pathname.startsWith(prefix)) return notFound();
    const rest = url.pathname.slice(prefix.length);
    if (req.method === 'GET' && rest === '') {
      return send(res, 200, {
        id: 1,
        name: state.repo,
        full_name: `${state.owner}/${state.repo}`,
        default_branch: 'main',
        private: true,
        permissions: { admin: state.admin, maintain: state.admin, push: true, triage: true, pull: true },
      });
    }
    let m = /^\/branches\/(.+)$/.exec(rest);
    if (req.method === 'GET' && m) {
      const sha = branchHead(state, decodeURIComponent(m[1]!));
      if (!sha) return send(res, 404, { message: 'Branch not found', documentation_url: 'https://docs.github.com/rest', status: '404' });
      return send(res, 200, { name: decodeURIComponent(m[1]!), commit: { sha }, protected: false });
    }
    m = /^\/compare\/(.+)\.\.\.(.+)$/.exec(rest);
    if (req.method === 'GET' && m) {
      const c = compare(state, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
      if (!c) return notFound();
      const status = c.ahead === 0 && c.behind === 0 ? 'identical' : c.ahead === 0 ? 'behind' : c.behind === 0 ? 'ahead' : 'diverged';
      return send(res, 200, { status, ahead_by: c.ahead, behind_by: c.behind, total_commits: c.ahead });
    }
    if (rest === '/keys' && req.method === 'GET') {
      if (state.keysForbidden) return send(res, 403, { message: 'Resource not accessible by personal access token', documentation_url: 'https://docs.github.com/rest', status: '403' });
      const perPage = Number(url.searchParams.get('per_page') ?? 30);
      const page = Number(url.searchParams.get('page') ?? 1);
      const slice = state.keys.slice((page - 1) * perPage, page * perPage);
      const last = Math.max(1, Math.ceil(state.keys.length / perPage));
      const headers: Record<string, string> = {};
      if (page < last) {
        const base = `http://${req.headers.host}${url.pathname}`;
        headers.link = `<${base}?per_page=${perPage}&page=${page + 1}>; rel="next", <${base}?per_page=${perPage}&page=${last}>; rel="last"`;
      }
      return send(res, 200, slice.map((k) => ({ ...k, verified: true, created_at: '2025-01-01T00:00:00Z', url: `${prefix}/keys/${k.id}` })), headers);
    }
    m = /^\/keys\/(\d+)$/.exec(rest);
    if (m && req.method === 'DELETE') {
      const before = state.keys.length;
      state.keys = state.keys.filter((k) => k.id !== Number(m![1]));
      if (state.keys.length === before) return notFound();
      res.writeHead(204);
      return res.end();
    }
    return notFound();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
