import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import { parseDocument } from 'yaml';
import * as assert from 'uvu/assert';
import { S3Client } from '@aws-sdk/client-s3';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { backupStatusScript, formatAge, listS3, rowFor, type StoredObject } from '../../scripts/lib/backups/status.ts';
import { startFakeS3 } from '../servers/s3.ts';

// `task backup:status` against an S3-compatible endpoint on loopback (the real AWS SDK client, a fake that answers
// ListObjectsV2 as S3 does, with pagination and access-key checks).

const HOUR = 3600_000;
const now = Date.now();
const obj = (key: string, hoursAgo: number, size = 100): StoredObject => ({ key, lastModified: new Date(now - hoursAgo * HOUR), size });

test('rows: the newest object wins, its age, stale past the daily bound or when there is none', () => {
  const r = rowFor('etcd', 'x', [obj('a', 30), obj('b', 2), obj('c', 50)], new Date(now), 26 * 3600);
  assert.is(r.newest!.key, 'b');
  assert.is(r.ageSeconds, 7200);
  assert.is(r.stale, false);
  assert.is(rowFor('etcd', 'x', [obj('a', 27)], new Date(now), 26 * 3600).stale, true);
  assert.is(rowFor('etcd', 'x', [], new Date(now), 26 * 3600).stale, true);
  // Local snapshots have no schedule: never stale.
  assert.is(rowFor('local', 'x', [], new Date(now), undefined).stale, false);
  assert.equal([formatAge(59 * 60), formatAge(25 * 3600 + 5 * 60), formatAge(3 * 86400 + 7200)], ['59m', '25h05m', '3d2h']);
});

test('listing follows S3 pagination and keeps only the prefix', async () => {
  const objects = [obj('infra/etcd/etcd-1.db.bin', 40), obj('infra/etcd/etcd-2.db.bin', 20), obj('infra/etcd/etcd-3.db.bin', 1), obj('infra/vault/vault-1.snap.bin', 3), obj('other/etcd/x', 0)];
  const s3 = await startFakeS3({ bucket: 'lab', accessKeyId: 'AKIDLAB', objects, pageSize: 2 });
  const client = new S3Client({ endpoint: s3.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'AKIDLAB', secretAccessKey: 'k' } });
  try {
    const got = await listS3(client, 'lab', 'infra/etcd/');
    assert.equal(got.map((x) => x.key).sort(), ['infra/etcd/etcd-1.db.bin', 'infra/etcd/etcd-2.db.bin', 'infra/etcd/etcd-3.db.bin']);
    assert.is(s3.requests.length, 2, s3.requests.join('\n'));
  } finally {
    client.destroy();
    await s3.close();
  }
});

async function runStatus(endpoint: string, secrets: Record<string, string>, stateDir: string) {
  // The full example with its backups section pointed at the test's S3 server.
  const doc = parseDocument(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8'));
  doc.set('backups', doc.createNode({ s3: { endpoint, bucket: 'lab' } }));
  const text = doc.toString();
  const config = parseConfigText(text, 'x.yaml');
  const lines: string[] = [];
  const log = new Logger({ level: 'info', write: (l) => lines.push(l) });
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    const code = await backupStatusScript.run({ config, secrets, log, paths: { snapshots: join(stateDir, 'etcd-snapshots') }, opts: {}, positionals: [] } as never);
    return { code, printed: out.join(''), logged: lines.join('\n') };
  } finally {
    process.stdout.write = write;
  }
}

test('backup:status lists the newest of each kind with its age; a stale kind fails with its runbook', async () => {
  const s3 = await startFakeS3({ bucket: 'lab', accessKeyId: 'AKIDLAB', objects: [obj('infra/etcd/etcd-a.db.bin', 30), obj('infra/etcd/etcd-b.db.bin', 5, 4096), obj('infra/vault/vault-a.snap.bin', 40)] });
  const state = mkdtempSync(join(tmpdir(), 'backup-status-'));
  mkdirSync(join(state, 'etcd-snapshots'));
  writeFileSync(join(state, 'etcd-snapshots', 'infra-manual.db'), 'x'.repeat(10));
  utimesSync(join(state, 'etcd-snapshots', 'infra-manual.db'), new Date(now - 72 * HOUR), new Date(now - 72 * HOUR));
  try {
    const r = await runStatus(s3.url, { BACKUP_S3_ACCESS_KEY_ID: 'AKIDLAB', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state);
    assert.match(r.printed, /^etcd\s+infra\/etcd\/etcd-b\.db\.bin\s+5h[0-5]\dm\s+4096 B\s+ok/m, r.printed);
    assert.match(r.printed, /^vault\s+infra\/vault\/vault-a\.snap\.bin\s+40h[0-5]\dm\s+\d+ B\s+STALE/m, r.printed);
    assert.match(r.printed, /^etcd \(local\)\s+infra-manual\.db\s+3d0h\s+10 B\s+ok/m, r.printed);
    assert.is(r.code, 1);
    // Ages are counted from when the script runs, which may be minutes after the objects were made on a loaded machine.
    assert.match(r.logged, /vault: newest is 40h[0-5]\dm old/);
  } finally {
    await s3.close();
    rmSync(state, { recursive: true });
  }
});

test('backup:status: wrong credentials name the endpoint and the S3 error; missing ones are a usage error', async () => {
  const s3 = await startFakeS3({ bucket: 'lab', accessKeyId: 'AKIDLAB', objects: [] });
  const state = mkdtempSync(join(tmpdir(), 'backup-status-'));
  try {
    const wrong = await runStatus(s3.url, { BACKUP_S3_ACCESS_KEY_ID: 'AKIDWRONG', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state);
    assert.is(wrong.code, 1);
    assert.match(wrong.logged, `cannot list ${s3.url} bucket lab: InvalidAccessKeyId (HTTP 403)`);
    const none = await runStatus(s3.url, {}, state);
    assert.is(none.code, 2);
    assert.match(none.logged, 'BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY missing: add them to .env');
  } finally {
    await s3.close();
    rmSync(state, { recursive: true });
  }
});

test.run();
