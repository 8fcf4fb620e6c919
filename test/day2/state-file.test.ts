import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_REFUSED } from '../../scripts/lib/core/cli.ts';
import { clusterPaths, REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { StateFileError, StateStore } from '../../scripts/lib/core/state.ts';
import { safeResetScript } from '../../scripts/lib/day2/scripts.ts';
import { CLUSTER, CONFIG_FILE, mutatingCalls, run, runningLab } from './harness.ts';

// A damaged state file (truncated by a full disk, edited by hand) stops the command before anything changes, with a
// message that names the file, says what it is and what to do — not the JSON parser's bare text.

const GOOD = JSON.stringify({ version: 1, cluster: CLUSTER, updatedAt: '2026-01-01T00:00:00Z', phases: { preflight: { status: 'done' }, infra: { status: 'done' } } }, null, 2);
const DAMAGED = { truncated: GOOD.slice(0, GOOD.length / 2), 'not JSON': 'phases: done\n', 'JSON, but not a state file': '[1, 2]\n' };

test('StateStore: each kind of damage is a StateFileError naming the file and the way out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'state-file-'));
  try {
    for (const [kind, text] of Object.entries(DAMAGED)) {
      const file = join(dir, `${kind.replace(/\W+/g, '-')}.json`);
      writeFileSync(file, text);
      try {
        new StateStore(file, CLUSTER);
        assert.unreachable(`${kind}: accepted`);
      } catch (err) {
        assert.instance(err, StateFileError, kind);
        const msg = (err as Error).message;
        assert.match(msg, `the state file ${file} is damaged (`);
        assert.match(msg, /record of which phases finished/);
        assert.match(msg, `mv '${file}' '${file}.damaged'`);
        assert.match(msg, /nothing was changed/);
      }
      assert.is(readFileSync(file, 'utf8'), text, `${kind}: the file is left as it was`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bootstrap with a truncated state file: exit 4, the message names the file and what to do, the file untouched', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'state-file-'));
  try {
    const file = clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: stateDir }).bootstrapState;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, DAMAGED.truncated);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/bootstrap.ts'), '--config', CONFIG_FILE], {
      cwd: REPO_ROOT,
      env: { ...process.env, HOME_OPS_STATE_DIR: stateDir, CI: 'true', NO_COLOR: '1' },
      encoding: 'utf8',
    });
    assert.is(r.status, EXIT_REFUSED, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, `the state file ${file} is damaged (not JSON:`);
    assert.match(r.stderr, /it only saves time: every phase probes the cluster/);
    assert.not.match(r.stderr, /^\s*at /m, 'no stack trace');
    assert.is(readFileSync(file, 'utf8'), DAMAGED.truncated, 'the file is not touched');
    const help = execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/bootstrap.ts'), '--help'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.match(help, /4 the state file is damaged/, 'the exit code is documented');
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

test('safe-reset with a damaged bootstrap state file: refused before the snapshot, Flux and the nodes untouched', async () => {
  const lab = runningLab();
  try {
    const file = clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir }).bootstrapState;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, DAMAGED['not JSON']);
    const r = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-worker-1']);
    assert.is(r.code, EXIT_REFUSED, r.text);
    assert.match(r.stderr, `the state file ${file} is damaged`);
    assert.equal(mutatingCalls(lab), []);
    assert.is(lab.calls({ cmd: 'talosctl etcd snapshot' }).length, 0);
    assert.is(readFileSync(file, 'utf8'), DAMAGED['not JSON']);
  } finally {
    lab.cleanup();
  }
});

test.run();
