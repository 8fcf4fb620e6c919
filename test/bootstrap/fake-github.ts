import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A loopback stand-in for the GitHub REST API, answering from a local bare repository (the "remote" of the test
// repo): the few read endpoints a preflight check uses. Tests point GITHUB_API_URL at it.

export interface FakeGithub {
  url: string;
  close(): Promise<void>;
}

function git(bare: string, ...args: string[]): string | undefined {
  try {
    return execFileSync('git', ['--git-dir', bare, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

export async function startFakeGithub(opts: { owner: string; repo: string; bare: string; token: string }): Promise<FakeGithub> {
  const state: FakeGithub = { url: '', close: async () => {} };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `token ${opts.token}` && req.headers.authorization !== `Bearer ${opts.token}`) {
      return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    }
    const base = `/repos/${opts.owner}/${opts.repo}`;
    const p = url.pathname;
    if (p === base) {
      return send(200, { name: opts.repo, full_name: `${opts.owner}/${opts.repo}`, private: true, default_branch: 'main', permissions: { admin: true, push: true, pull: true }, owner: { login: opts.owner } });
    }
    let m = /^\/repos\/[^/]+\/[^/]+\/branches\/(.+)$/.exec(p);
    if (p.startsWith(base) && m) {
      const sha = git(opts.bare, 'rev-parse', `refs/heads/${decodeURIComponent(m[1]!)}`);
      return sha ? send(200, { name: m[1], commit: { sha } }) : send(404, { message: 'Branch not found' });
    }
    m = /^\/repos\/[^/]+\/[^/]+\/compare\/([^.]+)\.\.\.(.+)$/.exec(p);
    if (p.startsWith(base) && m) {
      const [baseRef, headRef] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
      const b = git(opts.bare, 'rev-parse', '--verify', `${baseRef}^{commit}`);
      const h = git(opts.bare, 'rev-parse', '--verify', `${headRef}^{commit}`) ?? git(opts.bare, 'rev-parse', '--verify', `refs/heads/${headRef}^{commit}`);
      if (!b || !h) return send(404, { message: 'Not Found' });
      const ahead = Number(git(opts.bare, 'rev-list', '--count', `${b}..${h}`) ?? 0);
      const behind = Number(git(opts.bare, 'rev-list', '--count', `${h}..${b}`) ?? 0);
      const status = ahead === 0 && behind === 0 ? 'identical' : behind === 0 ? 'ahead' : ahead === 0 ? 'behind' : 'diverged';
      return send(200, { status, ahead_by: ahead, behind_by: behind, base_commit: { sha: b }, merge_base_commit: { sha: b } });
    }
    if (p === `${base}/keys`) return send(200, []);
    return send(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
