import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { startHttpProxy } from '../servers/faults.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { checkGithubReady, fluxDeployKeyTitles, removeFluxDeployKeys } from '../../scripts/lib/github/github.ts';
import { startFakeGithub, type FakeGithub, type FakeGithubState } from '../servers/github.ts';
import { config, makeContext, withEnv } from './harness.ts';

// @octokit/rest against a local HTTP server answering the documented GitHub REST endpoints, via GITHUB_API_URL.

const SHA = (n: number) => String(n).repeat(40).slice(0, 40);
const TOKEN = 'ghp_testtoken000000000000000000000000';
const PATH = 'kubernetes/clusters/itest';
let gh: FakeGithub;

function state(over: Partial<FakeGithubState> = {}): FakeGithubState {
  return {
    owner: 'example-user',
    repo: 'home-ops',
    token: TOKEN,
    admin: true,
    keysForbidden: false,
    branches: { main: [SHA(3), SHA(2), SHA(1)], feature: [SHA(9), SHA(2)] },
    keys: [
      { id: 11, title: `flux-system-main-flux-system-./${PATH}`, key: 'ssh-rsa AAA1', read_only: true },
      { id: 12, title: `flux-${PATH}`, key: 'ssh-rsa AAA2', read_only: true },
      { id: 13, title: 'deploy-bot', key: 'ssh-ed25519 AAA3', read_only: false },
      { id: 14, title: 'flux-system-main-flux-system-./kubernetes/clusters/other', key: 'ssh-rsa AAA4', read_only: true },
      ...Array.from({ length: 120 }, (_, i) => ({ id: 100 + i, title: `ci-${i}`, key: `ssh-ed25519 K${i}`, read_only: true })),
    ],
    ...over,
  };
}

const parts = { sshPort: 22, identityFile: '/x', knownHostsFile: '/x', user: 'root' };
const ctxWith = (secrets: Record<string, string> = { GITHUB_TOKEN: TOKEN }, dryRun = false) => makeContext(config(parts), { secrets, dryRun });
const env = () => ({ GITHUB_API_URL: gh.url });

test.before(async () => {
  gh = await startFakeGithub(state());
});
test.after(async () => {
  await gh?.close();
});

test('ready: the branch contains the local commit (identical or behind) and the token is admin', async () => {
  for (const sha of [SHA(3), SHA(1)]) {
    const r = await checkGithubReady(ctxWith().ctx, { env: env(), localSha: sha });
    assert.is(r.changed, false);
    assert.match(r.summary, new RegExp(`example-user/home-ops@main contains ${sha.slice(0, 12)}; the token may add deploy keys`));
  }
  assert.ok(gh.requests.some((r) => r.path === `/repos/example-user/home-ops/compare/main...${SHA(1)}`));
});

test('the local HEAD (git rev-parse HEAD) is used by default, and GITHUB_API_URL comes from the environment', async () => {
  const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  gh.state.branches.main = [head, SHA(3)];
  try {
    const r = await withEnv({ GITHUB_API_URL: gh.url }, () => checkGithubReady(ctxWith().ctx));
    assert.match(r.summary, new RegExp(`contains ${head.slice(0, 12)}`));
  } finally {
    gh.state.branches.main = [SHA(3), SHA(2), SHA(1)];
  }
});

test('not ready: unpushed, diverged, missing branch, not admin, deploy keys forbidden, bad token — each explained', async () => {
  const fails = async (over: Partial<FakeGithubState>, opts: { localSha: string; branch?: string; token?: string }, pattern: RegExp) => {
    Object.assign(gh.state, state(over));
    const c = opts.branch ? makeContext(config({ ...parts }), { secrets: { GITHUB_TOKEN: opts.token ?? TOKEN } }) : ctxWith({ GITHUB_TOKEN: opts.token ?? TOKEN });
    if (opts.branch) c.ctx.config.github.branch = opts.branch;
    try {
      await checkGithubReady(c.ctx, { env: env(), localSha: opts.localSha });
      assert.unreachable(`should fail: ${pattern}`);
    } catch (err) {
      assert.match((err as Error).message, pattern);
      assert.not.match((err as Error).message, new RegExp(TOKEN));
    }
  };
  await fails({}, { localSha: 'f'.repeat(40) }, /the local commit ffffffffffff is not on GitHub: git push origin HEAD:main/);
  await fails({}, { localSha: SHA(9) }, /the local commit 999999999999 is not on example-user\/home-ops@main \(diverged, 1 commit\(s\) ahead\)/);
  await fails({}, { localSha: SHA(3), branch: 'release' }, /branch release \(github\.branch\) does not exist on example-user\/home-ops/);
  await fails({ admin: false }, { localSha: SHA(3) }, /the token is not admin on example-user\/home-ops \(permissions\.admin is false\)/);
  await fails({ keysForbidden: true }, { localSha: SHA(3) }, /GET \/repos\/example-user\/home-ops\/keys \(deploy keys\) failed \(HTTP 403\).*Administration/);
  await fails({}, { localSha: SHA(3), token: 'ghp_wrong0000000000000000000000000000' }, /GET \/repos\/example-user\/home-ops failed \(HTTP 401\).*invalid or expired/);
  Object.assign(gh.state, state());
});

test('a missing GITHUB_TOKEN is a clear error', async () => {
  try {
    await checkGithubReady(ctxWith({}).ctx, { env: env(), localSha: SHA(3) });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /GITHUB_TOKEN is missing: add it to \.env/);
  }
});

test('a GitHub API that does not answer: bounded retries, a progress line while waiting, an error in our words', async () => {
  // Accepts connections and never answers (the API "not answering" of a broken proxy or network).
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const t = ctxWith();
  try {
    await checkGithubReady(t.ctx, { env: { GITHUB_API_URL: url }, localSha: SHA(3), http: { timeoutMs: 400, attempts: 2, backoffMs: 10, progressEveryMs: 150 } });
    assert.unreachable('a silent API must fail');
  } catch (err) {
    const m = (err as Error).message;
    assert.match(m, `GET /repos/example-user/home-ops failed: GitHub API did not answer GET ${url}/repos/example-user/home-ops (2 attempts): no answer within 0.4s; is the GitHub API reachable`);
    assert.not.match(m, /500|UNKNOWN/);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => silent.close(() => res()));
  }
  const lines = t.log.lines.join('\n');
  assert.match(lines, /waiting for GitHub API \(GET http:\/\/127\.0\.0\.1:\d+\/repos\/example-user\/home-ops\): no answer yet after \d+s; gives up at 0\.4s/);
  assert.match(lines, /no answer within 0\.4s; retrying in 10ms \(attempt 2\/2\)/);
});

test('a 503 is retried; the library logs nothing above debug', async () => {
  const proxy = await startHttpProxy({ host: '127.0.0.1', port: Number(new URL(gh.url).port) }, { failFirst: 1, status: 503 });
  try {
    const t = ctxWith();
    const r = await checkGithubReady(t.ctx, { env: { GITHUB_API_URL: `http://127.0.0.1:${proxy.port}` }, localSha: SHA(3), http: { backoffMs: 10 } });
    assert.match(r.summary, 'contains');
    assert.is(proxy.requests.filter((q) => q === 'GET /repos/example-user/home-ops').length, 2, proxy.requests.join('\n'));
    assert.not.ok(t.log.lines.some((l) => /octokit/i.test(l) && !l.startsWith('debug')), t.log.lines.join('\n'));
  } finally {
    await proxy.close();
  }
});

test('removeFluxDeployKeys removes only this cluster\'s Flux keys (all pages); a second run changes nothing', async () => {
  Object.assign(gh.state, state());
  gh.requests.length = 0;
  const r = await removeFluxDeployKeys(ctxWith().ctx, { env: env() });
  assert.is(r.changed, true);
  assert.match(r.summary, /removed 2 Flux deploy key\(s\)/);
  assert.equal(gh.state.keys.filter((k) => !k.title.startsWith('ci-')).map((k) => k.id), [13, 14]);
  assert.is(gh.state.keys.length, 122);
  assert.ok(gh.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/keys')).length >= 2, 'paginated');
  assert.equal(gh.requests.filter((q) => q.method === 'DELETE').map((q) => q.path), ['/repos/example-user/home-ops/keys/11', '/repos/example-user/home-ops/keys/12']);
  const again = await removeFluxDeployKeys(ctxWith().ctx, { env: env() });
  assert.is(again.changed, false);
  assert.match(again.summary, /^no changes/);
});

test('deploy key titles follow flux bootstrap github (namespace-branch-secret-path, and the old flux-<path>)', () => {
  assert.equal(fluxDeployKeyTitles('./kubernetes/clusters/infra/', 'main'), [
    'flux-system-main-flux-system-kubernetes/clusters/infra',
    'flux-system-main-flux-system-./kubernetes/clusters/infra',
    'flux-kubernetes/clusters/infra',
    'flux-./kubernetes/clusters/infra',
  ]);
});

test('under --dry-run nothing is requested; the planned calls are printed', async () => {
  gh.requests.length = 0;
  const t = ctxWith({}, true);
  await checkGithubReady(t.ctx, { env: env() });
  await removeFluxDeployKeys(t.ctx, { env: env() });
  assert.equal(gh.requests, []);
  assert.ok(t.plan.includes(`    ? GET ${gh.url}/repos/example-user/home-ops/compare/main...<HEAD>   # the branch contains the local commit`));
  assert.ok(t.plan.some((l) => l.includes(`DELETE ${gh.url}/repos/example-user/home-ops/keys/{key_id}`)));
});

test.run();
