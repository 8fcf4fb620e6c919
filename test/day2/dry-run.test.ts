import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_REFUSED } from '../../scripts/lib/core/cli.ts';
import { safeResetScript } from '../../scripts/lib/day2/scripts.ts';
import { emergencyRecoveryScript } from '../../scripts/lib/recovery/script.ts';
import { CLUSTER, mutatingCalls, run, runningLab } from './harness.ts';

// --dry-run on a healthy cluster: it probes nothing, so it never makes up a state from the missing answers (no "0
// healthy", no advice to restore etcd), and it never says something was done.

test('safe-reset --dry-run of one control plane: quorum unknown, not "0 healthy"; no restore advice; exit 0', async () => {
  const lab = runningLab();
  try {
    const r = await run(lab, safeResetScript, ['--dry-run', '--nodes', 'infra-cp-2']);
    assert.is(r.code, 0, r.text);
    assert.not.match(r.text, /0 healthy/);
    assert.not.match(r.text, /etcd:restore/);
    assert.match(r.stdout, /etcd quorum: 3 etcd members need 2 up; etcd health is unknown in a dry-run \(not probed\): with every member healthy, 2 after this/);
    assert.match(r.stdout, /infra-cp-2 .*reset \(graceful; partial: drained and leaves etcd first; if its etcd is healthy \(not probed in a dry-run\)\)/);
    assert.is(lab.calls().length, 0, 'a plan runs no tool');
  } finally {
    lab.cleanup();
  }
});

test('safe-reset --dry-run of two of three control planes: refused, because even a healthy etcd loses quorum', async () => {
  const lab = runningLab();
  try {
    const r = await run(lab, safeResetScript, ['--dry-run', '--nodes', 'infra-cp-2,infra-cp-3']);
    assert.is(r.code, EXIT_REFUSED, r.text);
    assert.match(r.stderr, /with every member healthy, 1 after this: etcd would lose quorum/);
    assert.match(r.stderr, /Take at most 1 healthy control plane at a time/);
    assert.not.match(r.text, /etcd:restore/);
  } finally {
    lab.cleanup();
  }
});

test('etcd:rejoin --dry-run on a healthy cluster: a plan, exit 0, no restore advice, nothing claimed done', async () => {
  const lab = runningLab();
  try {
    const r = await run(lab, emergencyRecoveryScript, ['etcd:rejoin', '--node', 'infra-cp-2', '--dry-run']);
    assert.is(r.code, 0, r.text);
    assert.not.match(r.text, /0 healthy|etcd:restore/);
    assert.match(r.stdout, /etcd:rejoin of infra-cp-2 .*unknown in a dry-run/);
    assert.match(r.stdout, /\$ talosctl .*--nodes 10\.0\.10\.12 reset --system-labels-to-wipe EPHEMERAL/);
    assert.match(r.text, /etcd:rejoin of infra-cp-2 planned; nothing was changed \(--dry-run\)/);
    assert.not.match(r.text, /rejoined etcd/);
    assert.is(lab.calls().length, 0);
  } finally {
    lab.cleanup();
  }
});

test('cilium --dry-run does not say "re-applied; every node Ready"', async () => {
  const lab = runningLab();
  lab.injectFault({ kind: 'cni-gone' });
  try {
    const r = await run(lab, emergencyRecoveryScript, ['cilium', '--dry-run']);
    assert.is(r.code, 0, r.text);
    assert.not.match(r.text, /re-applied|every node Ready$/m);
    assert.match(r.text, /re-apply planned; nothing was changed \(--dry-run\)/);
    assert.match(r.stdout, /\$ helm upgrade --install cilium/);
    assert.is(lab.calls().length, 0);
  } finally {
    lab.cleanup();
  }
});

test('etcd:restore --dry-run checks the snapshot file (read-only) and never says "etcd restored"', async () => {
  const lab = runningLab();
  try {
    const junk = join(lab.dir, 'junk.db');
    writeFileSync(junk, 'this is not an etcd snapshot\n');
    const bad = await run(lab, emergencyRecoveryScript, ['etcd:restore', '--dry-run', '--snapshot', junk]);
    assert.is(bad.code, EXIT_REFUSED, bad.text);
    assert.match(bad.stderr, new RegExp(`snapshot ${junk}: 29 bytes is neither whole 512-byte pages nor pages plus the 32-byte SHA-256`));
    assert.not.match(bad.text, /etcd restored/);

    // A file of whole pages whose trailer is not its SHA-256: damaged.
    const damaged = join(lab.dir, 'damaged.db');
    writeFileSync(damaged, Buffer.alloc(512 + 32, 7));
    const d = await run(lab, emergencyRecoveryScript, ['etcd:restore', '--dry-run', '--snapshot', damaged]);
    assert.is(d.code, EXIT_REFUSED, d.text);
    assert.match(d.stderr, /SHA-256 trailer does not match its content/);

    // The same junk in a real run: refused before anything is wiped.
    const real = await run(lab, emergencyRecoveryScript, ['etcd:restore', '--snapshot', junk, '--confirm', CLUSTER]);
    assert.is(real.code, EXIT_REFUSED, real.text);
    assert.equal(mutatingCalls(lab), []);

    const snap = await run(lab, emergencyRecoveryScript, ['etcd:snapshot']);
    const file = /etcd snapshot: (\S+)/.exec(snap.stdout)![1]!;
    const before = lab.calls().length;
    const ok = await run(lab, emergencyRecoveryScript, ['etcd:restore', '--dry-run', '--snapshot', file]);
    assert.is(ok.code, 0, ok.text);
    assert.not.match(ok.text, /etcd restored|not possible \(no healthy member\)/);
    assert.match(ok.text, new RegExp(`etcd:restore from ${file} planned; nothing was changed`));
    assert.is(lab.calls().length, before, 'the dry-run ran no tool');
  } finally {
    lab.cleanup();
  }
});

test.run();
