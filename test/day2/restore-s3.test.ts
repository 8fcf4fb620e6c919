import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDocument } from 'yaml';
import * as remote from '../../scripts/lib/backups/remote.ts';
import { EXIT_REFUSED } from '../../scripts/lib/core/confirm.ts';
import { clusterPaths, REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { emergencyRecoveryScript } from '../../scripts/lib/recovery/script.ts';
import type { Lab } from '../lab/lab.ts';
import { startFakeS3, type FakeS3 } from '../servers/s3.ts';
import { CLUSTER, CONFIG_FILE, mutatingCalls, run, runningLab } from './harness.ts';

// etcd:restore --from s3 end to end: the repository's own kubernetes/backups/upload.sh (real rclone, crypt) uploads an
// etcd snapshot of the lab to a loopback S3 server, then the restore fetches and decrypts it with the real rclone and
// hands it to the lab's talosctl bootstrap --recover-from. What talosctl read must be the snapshot, byte for byte.

// backups.s3.endpoint is named by host name (the database namespaces' policies allow it by name: a config rule).
const byName = (url: string) => url.replace('127.0.0.1', 'localhost');
const exec = promisify(execFile);
const BUCKET = 'lab';
const KEY_ID = 'AKIDLABRESTORE';
const SECRET_KEY = 'lab-secret-access-key-0123';
const PASSPHRASE = 'correct horse battery staple';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** rclone from PATH; missing is a failure naming the package (CI installs it: .ci/run), never a skip. */
function requireRclone(): void {
  const found = (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, 'rclone')));
  if (!found) throw new Error(`rclone not found on PATH: these tests run the real rclone (apt-get install rclone)${process.env.CI === 'true' ? ' — CI must install it (.ci/run)' : ''}`);
}

interface World {
  lab: Lab;
  s3: FakeS3;
  dir: string;
  config: string;
  /** Secrets of a run, and no .env of the working copy (HOME_OPS_CONFIG_DIR points at an empty directory). */
  env: (over?: Record<string, string | undefined>) => Record<string, string>;
  snapshots: string;
}

async function world(): Promise<World> {
  requireRclone();
  const s3 = await startFakeS3({ bucket: BUCKET, accessKeyId: KEY_ID });
  const lab = runningLab();
  const dir = mkdtempSync(join(tmpdir(), 'restore-s3-'));
  const doc = parseDocument(readFileSync(CONFIG_FILE, 'utf8'));
  doc.set('backups', doc.createNode({ s3: { endpoint: byName(s3.url), bucket: BUCKET } }));
  // The copy lives outside the repository, where the example's mesh peer (clusters/apps.example.yaml) is not.
  doc.delete('clusterMesh');
  const config = join(dir, 'cluster.yaml');
  writeFileSync(config, doc.toString());
  const env = (over: Record<string, string | undefined> = {}) => {
    const all: Record<string, string | undefined> = {
      HOME_OPS_CONFIG_DIR: dir,
      BACKUP_S3_ACCESS_KEY_ID: KEY_ID,
      BACKUP_S3_SECRET_ACCESS_KEY: SECRET_KEY,
      BACKUP_PASSPHRASE: PASSPHRASE,
      ...over,
    };
    return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined)) as Record<string, string>;
  };
  return { lab, s3, dir, config, env, snapshots: clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir }).snapshots };
}

async function done(w: World): Promise<void> {
  w.lab.cleanup();
  await w.s3.close();
  rmSync(w.dir, { recursive: true, force: true });
}

/** kubernetes/backups/upload.sh as the CronJob's upload container runs it (env from etcd-snapshot.yaml). */
async function upload(w: World, file: string): Promise<string> {
  const r = await exec('sh', [join(REPO_ROOT, 'kubernetes/backups/upload.sh'), file, 'etcd', 'db'], {
    env: {
      PATH: process.env.PATH,
      HOME: w.dir,
      BACKUP_S3_BUCKET: BUCKET,
      BACKUP_PREFIX: CLUSTER,
      BACKUP_PASSPHRASE: PASSPHRASE,
      RCLONE_CONFIG_TARGET_ENDPOINT: w.s3.url,
      RCLONE_CONFIG_TARGET_REGION: 'us-east-1',
      RCLONE_CONFIG_TARGET_ACCESS_KEY_ID: KEY_ID,
      RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY: SECRET_KEY,
    },
  });
  const key = /^backup: uploaded (etcd\/etcd-\d{8}T\d{6}Z\.db) /m.exec(r.stdout)?.[1];
  assert.ok(key, r.stdout + r.stderr);
  return `${CLUSTER}/${key}.bin`;
}

/** A lab etcd snapshot through etcd:snapshot; its bytes. */
async function labSnapshot(w: World): Promise<{ file: string; bytes: Buffer }> {
  const r = await run(w.lab, emergencyRecoveryScript, ['etcd:snapshot'], w.env(), w.config);
  assert.is(r.code, 0, r.text);
  const file = /etcd snapshot: (\S+)/.exec(r.stdout)![1]!;
  return { file, bytes: readFileSync(file) };
}

const fromS3 = (w: World) => readdirSync(w.snapshots).filter((f) => f.endsWith('-from-s3.db'));

test('pure parts: --from forms, the newest key by its time, the child env drops inherited rclone settings', () => {
  assert.equal(remote.parseSnapshotSource(undefined), { kind: 'local' });
  assert.equal(remote.parseSnapshotSource('s3'), { kind: 's3' });
  assert.equal(remote.parseSnapshotSource('s3:etcd/etcd-20261201T030000Z.db.bin'), { kind: 's3', key: 'etcd/etcd-20261201T030000Z.db.bin' });
  assert.throws(() => remote.parseSnapshotSource('s3:vault/vault-20261201T030000Z.snap.bin'), /must look like s3:etcd\/etcd-/);
  assert.throws(() => remote.parseSnapshotSource('minio'), /use local .* s3 .* s3:etcd/);
  const objs = ['etcd/etcd-20261130T030000Z.db.bin', 'etcd/etcd-20261201T030000Z.db.bin', 'etcd/zz-notes.txt'].map((key) => ({ key, size: 1 }));
  assert.is(remote.newestEtcdSnapshot(objs)?.key, 'etcd/etcd-20261201T030000Z.db.bin');
  assert.is(remote.keyTime('etcd/etcd-20261201T030000Z.db.bin'), '2026-12-01T03:00:00Z');
  const t = { endpoint: 'https://s3.example.org', bucket: 'b', region: 'r', prefix: 'infra' };
  const env = remote.rcloneEnv(t, { accessKeyId: 'AKID-x', secretAccessKey: 'SECRET-x' }, 'OBSCURED-x', { RCLONE_VERBOSE: '2', AWS_CA_BUNDLE: '/x', PATH: '/bin' });
  assert.ok('RCLONE_VERBOSE' in env && env.RCLONE_VERBOSE === undefined, 'an inherited RCLONE_VERBOSE=2 would print the keys');
  assert.ok('AWS_CA_BUNDLE' in env && env.AWS_CA_BUNDLE === undefined);
  assert.equal([env.RCLONE_CONFIG_SEALED_REMOTE, env.RCLONE_CONFIG_SEALED_PASSWORD, env.RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY], ['target:b/infra', 'OBSCURED-x', 'SECRET-x']);
  for (const argv of [remote.listEtcdArgv(t), remote.fetchArgv('etcd/etcd-20261201T030000Z.db.bin', '/tmp/x'), remote.obscureArgv()]) {
    assert.not.ok(argv.some((a) => /AKID-x|SECRET-x|OBSCURED-x/.test(a)), 'no secret in argv');
  }
  assert.equal(remote.fetchArgv('etcd/etcd-20261201T030000Z.db.bin', '/tmp/x').slice(-2), ['sealed:etcd/etcd-20261201T030000Z.db', '/tmp/x']);
});

test('upload.sh → fake S3 → etcd:restore --from s3: talosctl recovers from exactly the uploaded bytes; later writes are gone', async () => {
  const w = await world();
  try {
    const snap = await labSnapshot(w);
    // An older upload first (other content): the restore must take the newest.
    const junk = join(w.dir, 'old.db');
    writeFileSync(junk, Buffer.alloc(1056, 7));
    const oldKey = await upload(w, junk);
    const older = `${CLUSTER}/etcd/etcd-20200101T000000Z.db.bin`;
    w.s3.objects.set(older, w.s3.objects.get(oldKey)!);
    w.s3.objects.delete(oldKey);
    const key = await upload(w, snap.file);
    assert.ok(w.s3.requests.some((r) => r === `PUT /${BUCKET}/${key}`), w.s3.requests.join('\n'));
    assert.not.equal(w.s3.objects.get(key)!.body.subarray(0, 6).toString(), snap.bytes.subarray(0, 6).toString());
    assert.is(w.s3.objects.get(key)!.body.subarray(0, 6).toString(), 'RCLONE', 'stored encrypted (rclone crypt header)');
    // Only the target has it now.
    rmSync(snap.file);
    rmSync(`${snap.file}.json`);
    const kube = { ...process.env, ...w.lab.env, KUBECONFIG: clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: w.lab.stateDir }).kubeconfig };
    const objectsAtSnapshot = w.lab.state().objects.sort();
    writeFileSync(join(w.dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: written-after-snapshot\n  namespace: default\ndata: {a: b}\n');
    await exec('kubectl', ['apply', '-f', join(w.dir, 'cm.yaml')], { env: kube });
    assert.ok(w.lab.state().objects.some((o) => o.includes('written-after-snapshot')));

    const r = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--confirm', CLUSTER, '--wait-scale', '0.05'], w.env(), w.config);
    assert.is(r.code, 0, r.text);
    const s = w.lab.state();
    assert.is(s.etcd.recoveredSha256, sha256(snap.bytes), 'talosctl bootstrap --recover-from read the original snapshot, byte for byte');
    assert.not.ok(s.objects.some((o) => o.includes('written-after-snapshot')));
    assert.equal(s.objects.sort(), objectsAtSnapshot);
    assert.is(s.etcd.members.length, 3);
    // Kept in the state directory as a local snapshot, with where it came from.
    const [name] = fromS3(w);
    const stamp = /etcd-(\d{8}T\d{6}Z)\.db\.bin$/.exec(key)![1]!;
    assert.is(name, `${CLUSTER}-${stamp}-from-s3.db`);
    assert.is(s.etcd.recoveredFrom, join(w.snapshots, name!));
    const meta = JSON.parse(readFileSync(join(w.snapshots, `${name}.json`), 'utf8'));
    assert.equal([meta.cluster, meta.bytes, meta.fetched.key, meta.fetched.sha256], [CLUSTER, snap.bytes.length, key.slice(CLUSTER.length + 1), sha256(snap.bytes)]);
    assert.match(meta.fetched.from, `s3 ${byName(w.s3.url)} ${BUCKET}/${CLUSTER}/etcd/`);
    assert.not.ok(w.s3.requests.some((q) => q.includes('20200101T000000Z') && q.startsWith('GET')), 'the older object is never downloaded');
    // The same safety habits as a local restore: the current state saved first, then one EPHEMERAL wipe.
    const wipes = w.lab.calls({ cmd: 'talosctl reset' });
    const safety = w.lab.calls({ cmd: 'talosctl etcd snapshot' }).at(-1)!;
    assert.ok(safety.end <= wipes[0]!.start);
    assert.ok(wipes.length === 1 && wipes[0]!.argv.includes('EPHEMERAL'));
    // No secret in what was printed or logged.
    for (const secret of [PASSPHRASE, SECRET_KEY]) assert.not.ok(r.text.includes(secret), 'secret printed');
    for (const f of readdirSync(clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: w.lab.stateDir }).logs)) {
      const log = readFileSync(join(clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: w.lab.stateDir }).logs, f), 'utf8');
      for (const secret of [PASSPHRASE, SECRET_KEY]) assert.not.ok(log.includes(secret), `secret in ${f}`);
    }

    // An explicit key: the older object decrypts, but to no etcd snapshot, so nothing happens to the cluster.
    const before = mutatingCalls(w.lab).length;
    const bad = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3:etcd/etcd-20200101T000000Z.db.bin', '--confirm', CLUSTER], w.env(), w.config);
    assert.is(bad.code, EXIT_REFUSED, bad.text);
    assert.match(bad.stderr, /s3:etcd\/etcd-20200101T000000Z\.db\.bin, decrypted: its SHA-256 trailer does not match its content/, bad.text);
    assert.is(mutatingCalls(w.lab).length, before);
    assert.is(fromS3(w).length, 1, 'no file left from the refused fetch');
  } finally {
    await done(w);
  }
});

test('wrong passphrase: refused naming BACKUP_PASSPHRASE before the cluster is touched, no file left', async () => {
  const w = await world();
  try {
    await upload(w, (await labSnapshot(w)).file);
    const r = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--confirm', CLUSTER], w.env({ BACKUP_PASSPHRASE: 'wrong-passphrase-123' }), w.config);
    assert.is(r.code, EXIT_REFUSED, r.text);
    assert.match(r.stderr, /rclone could not decrypt etcd\/etcd-\d{8}T\d{6}Z\.db\.bin: BACKUP_PASSPHRASE in \.env is not the passphrase it was encrypted with/, r.text);
    assert.match(r.stderr, /nothing was changed/);
    assert.equal(mutatingCalls(w.lab), []);
    assert.equal(fromS3(w), []);
    assert.not.ok(readdirSync(w.snapshots).some((f) => f.endsWith('.partial')));
  } finally {
    await done(w);
  }
});

test('empty target, missing keys, wrong keys: each refused with what to fix, nothing changed', async () => {
  const w = await world();
  try {
    const empty = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--confirm', CLUSTER], w.env(), w.config);
    assert.is(empty.code, EXIT_REFUSED, empty.text);
    assert.match(empty.stderr, `no etcd snapshot on the backup target (${byName(w.s3.url)} ${BUCKET}/${CLUSTER}/etcd/ holds nothing)`);
    assert.match(empty.stderr, /task backup:status/);
    assert.ok(w.s3.requests.some((q) => q.startsWith(`GET /${BUCKET}?`) && q.includes(`prefix=${CLUSTER}%2Fetcd%2F`)), 'listed through ListObjects');

    const keys = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--confirm', CLUSTER], w.env({ BACKUP_S3_SECRET_ACCESS_KEY: undefined }), w.config);
    assert.is(keys.code, EXIT_REFUSED);
    assert.match(keys.stderr, 'BACKUP_S3_SECRET_ACCESS_KEY missing: add it to .env');

    const wrong = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--confirm', CLUSTER], w.env({ BACKUP_S3_ACCESS_KEY_ID: 'AKIDNOTKNOWN' }), w.config);
    assert.is(wrong.code, EXIT_REFUSED, wrong.text);
    assert.match(wrong.stderr, `${byName(w.s3.url)} refused the keys (InvalidAccessKeyId): check BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY in .env`);

    const both = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--snapshot', '/tmp/x.db'], w.env(), w.config);
    assert.is(both.code, 2);
    const typo = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 'S3'], w.env(), w.config);
    assert.is(typo.code, 2);
    assert.match(typo.stderr, '--from S3: use local');
    assert.equal(mutatingCalls(w.lab), []);
  } finally {
    await done(w);
  }
});

test('--dry-run: shows the listing and download it would run, fetches nothing, changes nothing', async () => {
  const w = await world();
  try {
    await upload(w, (await labSnapshot(w)).file);
    const requests = w.s3.requests.length;
    const r = await run(w.lab, emergencyRecoveryScript, ['etcd:restore', '--from', 's3', '--dry-run'], w.env(), w.config);
    assert.is(r.code, 0, r.text);
    assert.match(r.stdout, `? rclone lsjson --files-only --no-modtime --no-mimetype target:${BUCKET}/${CLUSTER}/etcd`);
    assert.match(r.stdout, /\$ rclone copyto --retries 1 \$?'sealed:etcd\/etcd-<the newest UTC time>\.db'/, r.text);
    assert.match(r.stdout, /talosctl .*bootstrap \$?'?--recover-from=.*-from-s3\.db/);
    assert.is(w.s3.requests.length, requests, 'not one request to the target');
    assert.equal(fromS3(w), []);
    assert.equal(mutatingCalls(w.lab), []);
    for (const secret of [PASSPHRASE, SECRET_KEY]) assert.not.ok(r.text.includes(secret));
  } finally {
    await done(w);
  }
});

test.run();
