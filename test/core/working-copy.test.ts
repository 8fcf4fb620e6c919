import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

// The suite passes the same in a user's working copy as in a clean clone. The copy is simulated: the tracked files of
// this checkout, plus what a user adds in the first hour — their own cluster.yaml (another cluster name), a .env, and
// the files `task configure` renders for that cluster and for a second one. The tests that once read those files
// (the default plan, the repository validate) run inside the copy and must pass there.

const AFFECTED: [dir: string, file: string][] = [
  ['test/bootstrap', '^plan\\.test\\.ts$'],
  ['test/validate', '^repo\\.test\\.ts$'],
];

test("the tests that read the repository pass in a user's working copy", () => {
  const copy = mkdtempSync(join(tmpdir(), 'working-copy-'));
  const state = mkdtempSync(join(tmpdir(), 'working-copy-state-'));
  try {
    execFileSync('bash', ['-c', 'git ls-files -z | xargs -0 cp -a --parents -t "$1"', '_', copy], { cwd: REPO_ROOT });
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd: copy, stdio: 'pipe' });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'clone');
    symlinkSync(realpathSync(join(REPO_ROOT, 'node_modules')), join(copy, 'node_modules'));

    // The user's own cluster (cp cluster.example.yaml cluster.yaml, then edited) and credentials.
    const example = readFileSync(join(copy, 'cluster.example.yaml'), 'utf8');
    // No second cluster here: the ClusterMesh section goes, as the example's comment says.
    const own = example.replace(/name: infra\b/, 'name: mylab').replace(/\nclusterMesh:\n(  .*\n)+/, '\n');
    assert.not.match(own, /^clusterMesh:/m);
    assert.is.not(own, example, 'the example names its cluster "infra"');
    writeFileSync(join(copy, 'cluster.yaml'), own);
    writeFileSync(join(copy, '.env'), 'PROXMOX_VE_API_TOKEN=me@pve!terraform=11111111-2222-3333-4444-555555555555\nGITHUB_TOKEN=ghp_users_own_token_0123456789\n');
    // The copy's own cluster.yaml is the one found: no override of the config lookup.
    const { CLUSTER_CONFIG: _c, HOME_OPS_CONFIG_DIR: _d, ...inherited } = process.env;
    const env: NodeJS.ProcessEnv = { ...inherited, HOME_OPS_STATE_DIR: state };
    // And the shell a user has there: direnv's .envrc exports CLUSTER_CONFIG for the tests too.
    const userShell: NodeJS.ProcessEnv = { ...env, CLUSTER_CONFIG: join(copy, 'cluster.yaml') };
    const tsx = join(copy, 'node_modules', '.bin', 'tsx');
    for (const args of [[], ['--config', 'test/fixtures/config/valid/one-node.yaml']]) {
      const r = spawnSync(tsx, ['scripts/configure.ts', ...args], { cwd: copy, env, encoding: 'utf8' });
      assert.is(r.status, 0, `configure ${args.join(' ')}:\n${r.stderr}`);
    }
    const untracked = execFileSync('git', ['status', '--porcelain', '--untracked-files=normal'], { cwd: copy, encoding: 'utf8' });
    for (const dir of ['kubernetes/clusters/mylab/', 'kubernetes/clusters/solo/', 'cluster.yaml']) assert.match(untracked, dir);

    for (const [dir, file] of AFFECTED) {
      const r = spawnSync(join(copy, 'node_modules', '.bin', 'uvu'), [dir, file, '-r', 'tsx'], { cwd: copy, env: { ...userShell, FORCE_COLOR: '0' }, encoding: 'utf8' });
      assert.is(r.status, 0, `${dir}/${file} failed in the working copy:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      assert.match(r.stdout, /Passed:\s+\d+/);
      assert.not.match(r.stdout, /FAIL/);
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
});

test.run();
