import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterPaths } from '../../scripts/lib/core/paths.ts';
import { StateStore } from '../../scripts/lib/core/state.ts';
import { EXIT_REFUSED } from '../../scripts/lib/core/confirm.ts';
import { safeResetScript } from '../../scripts/lib/day2/scripts.ts';
import { CLUSTER, ip, mutatingCalls, nextSteps, nodeOf, run, runningLab } from './harness.ts';

// cluster:safe-reset against the simulated lab (a bootstrapped 3 control planes + 2 workers).

const modes = (lab: ReturnType<typeof runningLab>) => Object.fromEntries(lab.state().nodes.map((n) => [n.name, n.mode]));
const allConfigured = { 'infra-cp-1': 'configured', 'infra-cp-2': 'configured', 'infra-cp-3': 'configured', 'infra-worker-1': 'configured', 'infra-worker-2': 'configured' };

test('no confirmation, a wrong name, an unknown node or a quorum-breaking set: exit 4 and nothing changed', async () => {
  const lab = runningLab();
  try {
    const none = await run(lab, safeResetScript, []);
    assert.is(none.code, EXIT_REFUSED, none.text);
    assert.match(none.stderr, /--confirm infra/);

    const wrong = await run(lab, safeResetScript, ['--confirm', 'apps']);
    assert.is(wrong.code, EXIT_REFUSED);
    assert.match(wrong.stderr, /aborted: "apps" is not the cluster name "infra"\n  nothing was changed/);

    const unknown = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-cp-9']);
    assert.is(unknown.code, EXIT_REFUSED);
    assert.match(unknown.stderr, /unknown node infra-cp-9/);

    const quorum = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-cp-2,infra-cp-3']);
    assert.is(quorum.code, EXIT_REFUSED);
    assert.match(quorum.stderr, /breaks etcd quorum: 3 etcd members need 2 up; 3 healthy now, 1 after this/);

    assert.equal(mutatingCalls(lab), [], 'no state-changing command ran');
    assert.is(lab.calls({ cmd: 'talosctl etcd snapshot' }).length, 0, 'not even a snapshot');
    assert.equal(modes(lab), allConfigured);
    assert.is(lab.state().etcd.members.length, 3);
  } finally {
    lab.cleanup();
  }
});

test('--dry-run needs no confirmation, prints the plan with the exact reset commands and runs nothing', async () => {
  const lab = runningLab();
  try {
    const r = await run(lab, safeResetScript, ['--dry-run']);
    assert.is(r.code, 0, r.text);
    assert.match(r.stdout, /safe-reset of cluster infra: the WHOLE cluster/);
    assert.match(r.stdout, /\$ talosctl --endpoints 10\.0\.10\.21 --nodes 10\.0\.10\.21 reset --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL --graceful=false --reboot --wait=false/);
    assert.match(r.stdout, /\$ talosctl --endpoints 10\.0\.10\.11 --nodes 10\.0\.10\.11 etcd snapshot /);
    assert.is(lab.calls().length, 0, 'a plan runs no tool at all');
  } finally {
    lab.cleanup();
  }
});

test('a failed snapshot aborts the reset: no reset, Flux untouched, no snapshot file left', async () => {
  const lab = runningLab({ faults: [{ kind: 'command', cmd: 'talosctl etcd snapshot', exitCode: 1, stderr: 'error reading file: rpc error: code = Unavailable desc = etcdserver: request timed out' }] });
  try {
    const r = await run(lab, safeResetScript, ['--confirm', CLUSTER]);
    assert.is(r.code, 1, r.text);
    assert.match(r.stderr, /the etcd snapshot from infra-cp-1 failed, so nothing was changed/);
    assert.is(lab.calls({ cmd: 'talosctl etcd snapshot' }).length, 1);
    assert.equal(mutatingCalls(lab), []);
    assert.equal(modes(lab), allConfigured);
    const dir = clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir }).snapshots;
    assert.equal(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.db')) : [], []);
  } finally {
    lab.cleanup();
  }
});

test('whole reset: snapshot first (outside git, timestamped), Flux suspended, workers then control planes one at a time, first CP last; a re-run skips them all', async () => {
  const lab = runningLab();
  try {
    // The bootstrap's state file says everything is done; after a reset it must not.
    const paths = clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir });
    mkdirSync(dirname(paths.bootstrapState), { recursive: true });
    const store = new StateStore(paths.bootstrapState, CLUSTER);
    for (const p of ['preflight', 'infra', 'talos', 'cni', 'secrets', 'gitops', 'integrations', 'verify']) store.update(p, { status: 'done' });

    const r = await run(lab, safeResetScript, ['--confirm', CLUSTER]);
    assert.is(r.code, 0, r.text);

    const calls = lab.calls();
    const resets = calls.filter((c) => c.cmd === 'talosctl reset');
    const snap = calls.find((c) => c.cmd === 'talosctl etcd snapshot')!;
    const suspend = calls.find((c) => c.cmd.startsWith('flux suspend'))!;
    assert.ok(snap && suspend);
    assert.ok(snap.end <= suspend.start && suspend.end <= resets[0]!.start, 'snapshot, then Flux suspended, then the first reset');
    assert.equal(resets.map((c) => nodeOf(c.argv)), ['infra-worker-1', 'infra-worker-2', 'infra-cp-3', 'infra-cp-2', 'infra-cp-1'].map(ip));
    assert.is(lab.maxConcurrency('talosctl reset'), 1, 'one node at a time');
    for (const c of resets) {
      assert.ok(c.argv.join(' ').includes('--system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL'), 'only STATE and EPHEMERAL');
      assert.ok(c.argv.includes('--reboot') && c.argv.includes('--graceful=false'));
      assert.not.ok(c.argv.includes('--wipe-mode'));
    }
    // Each node was back in maintenance mode before the next reset started.
    for (let i = 1; i < resets.length; i++) {
      const prev = nodeOf(resets[i - 1]!.argv);
      const seen = calls.find((c) => c.cmd === 'talosctl get disks' && nodeOf(c.argv) === prev && c.exitCode === 0 && c.start > resets[i - 1]!.end);
      assert.ok(seen && seen.end <= resets[i]!.start, `${prev} answered in maintenance mode before the next reset`);
    }

    const snapFile = snap.argv[snap.argv.length - 1]!;
    assert.ok(snapFile.startsWith(paths.snapshots + '/'), 'kept in the private state dir, not the repo');
    assert.match(snapFile, /\/infra-\d{8}T\d{6}Z-before-safe-reset\.db$/);
    assert.ok(statSync(snapFile).size > 0);
    assert.is(statSync(snapFile).mode & 0o777, 0o600);
    assert.ok(existsSync(`${snapFile}.json`));

    assert.equal(Object.values(modes(lab)), ['maintenance', 'maintenance', 'maintenance', 'maintenance', 'maintenance']);
    const after = new StateStore(paths.bootstrapState, CLUSTER);
    assert.is(after.phase('infra').status, 'done', 'the VMs still exist');
    for (const p of ['talos', 'cni', 'secrets', 'gitops', 'integrations', 'verify']) assert.is(after.phase(p).status, 'pending', `${p} must run again`);
    assert.match(r.stdout, /next:\n {2}task bootstrap/);

    // Nodes already in maintenance mode are skipped: nothing to do, no confirmation needed, no new reset.
    const again = await run(lab, safeResetScript, []);
    assert.is(again.code, 0, again.text);
    assert.match(again.stdout, /skip: already in maintenance mode/);
    assert.equal(nextSteps(again.stdout), ['task bootstrap'], 'a re-run still says what comes next');
    assert.is(lab.calls({ cmd: 'talosctl reset' }).length, 5);
    writeFileSync(join(lab.dir, 'touched'), ''); // (the lab dir stays writable after the run)
  } finally {
    lab.cleanup();
  }
});

test('partial reset: graceful (drain, leave etcd), skips a node already in maintenance, quorum and the API survive', async () => {
  const lab = runningLab();
  try {
    const first = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-worker-1']);
    assert.is(first.code, 0, first.text);
    assert.is(lab.calls({ cmd: 'talosctl reset' }).length, 1);

    const r = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-worker-1,infra-cp-3']);
    assert.is(r.code, 0, r.text);
    const resets = lab.calls({ cmd: 'talosctl reset' });
    assert.equal(resets.map((c) => nodeOf(c.argv)), [ip('infra-worker-1'), ip('infra-cp-3')], 'worker-1 is not reset twice');
    assert.ok(resets[1]!.argv.includes('--graceful=true'), 'a partial reset leaves etcd cleanly');
    const s = lab.state();
    assert.equal(s.etcd.members.sort(), [ip('infra-cp-1'), ip('infra-cp-2')].sort(), 'cp-3 left etcd');
    assert.ok(s.etcd.quorum);
    assert.ok(s.vipUp, 'the API stays up');
    assert.is(modes(lab)['infra-cp-2'], 'configured');
    assert.equal(nextSteps(r.stdout), ['task bootstrap'], 'the bootstrap resumes Flux itself');
  } finally {
    lab.cleanup();
  }
});

test.run();
