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
import { backupStatusScript, barmanBackups, formatAge, listS3, maxAgeFor, parseBackupInfo, rowFor, type StoredObject } from '../../scripts/lib/backups/status.ts';
import { startFakeS3 } from '../servers/s3.ts';

// `task backup:status` against an S3-compatible endpoint on loopback (the real AWS SDK client, a fake that answers
// ListObjectsV2 as S3 does, with pagination and access-key checks).

const HOUR = 3600_000;
const now = Date.now();
// A body is padded to `size` bytes: S3 lists an object's real length.
const obj = (key: string, hoursAgo: number, size = 100, body?: string): StoredObject & { body?: string } => ({ key, lastModified: new Date(now - hoursAgo * HOUR), size, body: body?.padEnd(size, '\n') });

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

test('the bound follows the schedule: the longest gap between two runs plus two hours', () => {
  assert.is(maxAgeFor('0 3 * * *'), 26 * 3600);
  assert.is(maxAgeFor('0 0 3 * * *'), 26 * 3600, 'six fields, seconds first (CloudNativePG)');
  assert.is(maxAgeFor('0 * * * *'), 3 * 3600);
  assert.is(maxAgeFor('30 2 * * 0'), (7 * 24 + 2) * 3600);
  // Twice a day, unevenly: the longer gap counts.
  assert.is(maxAgeFor('0 3,9 * * *'), (18 + 2) * 3600);
});

test('Barman layout: base backups grouped by id under <server>/base/, newest backup.info first; backup.info fields', () => {
  const base = 'infra/postgres/gitea-db/base/';
  const got = barmanBackups(
    [
      obj(`${base}20261201T030000/data.tar.gz`, 50, 1000),
      obj(`${base}20261201T030000/backup.info`, 49, 10),
      obj(`${base}20261202T030000/data.tar.gz`, 26, 2000),
      obj(`${base}20261202T030000/16384.tar.gz`, 26, 500),
      obj(`${base}20261202T030000/backup.info`, 25, 10),
      obj(`${base}20261203T030000/data.tar.gz`, 1, 300), // running: no backup.info yet
    ],
    base,
  );
  assert.equal(got.map((b) => [b.id, b.size, b.info?.key ?? null]), [
    ['20261202T030000', 2510, `${base}20261202T030000/backup.info`],
    ['20261201T030000', 1010, `${base}20261201T030000/backup.info`],
    ['20261203T030000', 300, null],
  ]);
  assert.equal(parseBackupInfo('backup_id=20261202T030000\nstatus=FAILED\nerror=failure uploading data (connection reset)\n'), {
    backup_id: '20261202T030000',
    status: 'FAILED',
    error: 'failure uploading data (connection reset)',
  });
});

/** The fake's URL by host name: with database backups on, the config refuses an address (the database namespaces' policies allow the target by name). */
const byName = (s3: { url: string }) => s3.url.replace('//127.0.0.1:', '//localhost:');

async function runStatus(endpoint: string, secrets: Record<string, string>, stateDir: string, backups: Record<string, unknown> = {}) {
  // The full example with its backups section pointed at the test's S3 server.
  const doc = parseDocument(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8'));
  doc.set('backups', doc.createNode({ s3: { endpoint, bucket: 'lab' }, ...backups }));
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
    const r = await runStatus(byName(s3), { BACKUP_S3_ACCESS_KEY_ID: 'AKIDLAB', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state);
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

const info = (id: string, status: string, extra = '') => `backup_label=None\nbackup_id=${id}\nbegin_time=x\nstatus=${status}\n${extra}`;

test('backup:status lists each database\'s newest finished base backup on the same target, stale against its schedule', async () => {
  const pg = (server: string, id: string, hoursAgo: number, status: string, size = 4000, extra = '') => [
    obj(`infra/postgres/${server}/base/${id}/data.tar.gz`, hoursAgo + 0.1, size),
    obj(`infra/postgres/${server}/base/${id}/backup.info`, hoursAgo, 100, info(id, status, extra)),
  ];
  const objects = [
    obj('infra/etcd/etcd-b.db.bin', 5, 4096),
    obj('infra/vault/vault-a.snap.bin', 4),
    ...pg('authentik-db', '20261207T030000', 5, 'DONE'),
    // A newer attempt failed; the finished one before it is 30 h old: too old for a daily schedule.
    ...pg('gitea-db', '20261206T030000', 30, 'DONE'),
    ...pg('gitea-db', '20261207T030000', 6, 'FAILED', 10, 'error=failure uploading data (connection reset)\n'),
    ...pg('harbor-db', '20261206T030000', 26.5, 'DONE'),
    ...pg('harbor-db', '20261207T030000', 2, 'DONE', 9000),
    // matrix-db: WAL only, no base backup yet.
    obj('infra/postgres/matrix-db/wals/0000000100000000/000000010000000000000001.gz', 1),
  ];
  const s3 = await startFakeS3({ bucket: 'lab', accessKeyId: 'AKIDLAB', objects });
  const state = mkdtempSync(join(tmpdir(), 'backup-status-'));
  try {
    const r = await runStatus(byName(s3), { BACKUP_S3_ACCESS_KEY_ID: 'AKIDLAB', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state);
    assert.match(r.printed, /^etcd\s+infra\/etcd\/etcd-b\.db\.bin\s+5h[0-5]\dm\s+4096 B\s+ok\s+26h00m\s+s3 lab\/infra\/etcd\//m, r.printed);
    assert.match(r.printed, /^postgres authentik-db\s+infra\/postgres\/authentik-db\/base\/20261207T030000\/\s+5h[0-5]\dm\s+4100 B\s+ok\s+26h00m\s+s3 lab\/infra\/postgres\/authentik-db\/base\//m, r.printed);
    assert.match(r.printed, /^postgres gitea-db\s+infra\/postgres\/gitea-db\/base\/20261206T030000\/\s+30h[0-5]\dm\s+4100 B\s+STALE/m, r.printed);
    assert.match(r.printed, /^postgres harbor-db\s+infra\/postgres\/harbor-db\/base\/20261207T030000\/\s+2h[0-5]\dm\s+9100 B\s+ok/m, r.printed);
    assert.match(r.printed, /^postgres matrix-db\s+\(none\)\s+-\s+-\s+STALE/m, r.printed);
    assert.is(r.code, 1);
    assert.match(r.logged, 'postgres gitea-db: a newer base backup 20261207T030000 is FAILED: failure uploading data (connection reset) (kubectl -n gitea get backups.postgresql.cnpg.io)');
    assert.match(r.logged, /postgres gitea-db: newest is 30h[0-5]\dm old, more than 26h00m .*\(DatabaseBackupTooOld\)/);
    assert.match(r.logged, /postgres matrix-db: no backup at all \(s3 lab\/infra\/postgres\/matrix-db\/base\/\)/);
    assert.not.match(r.logged, /authentik-db: |harbor-db: /);
    // Only the newest backup.info of each database is read (plus the one behind a failed attempt).
    assert.is(s3.requests.filter((q) => /^GET \S+\/backup\.info(\?|$)/.test(q)).length, 4, s3.requests.join('\n'));

    // A weekly database schedule allows a week: the 30 h old one is fine then; without database backups no rows.
    const weekly = await runStatus(byName(s3), { BACKUP_S3_ACCESS_KEY_ID: 'AKIDLAB', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state, { databases: { schedule: '0 3 * * 0' } });
    assert.match(weekly.printed, /^postgres gitea-db\s+\S+\s+30h[0-5]\dm\s+4100 B\s+ok\s+7d2h/m, weekly.printed);
    const off = await runStatus(byName(s3), { BACKUP_S3_ACCESS_KEY_ID: 'AKIDLAB', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state, { databases: { enabled: false } });
    assert.not.match(off.printed, 'postgres');
    assert.is(off.code, 0, off.printed + off.logged);
  } finally {
    await s3.close();
    rmSync(state, { recursive: true });
  }
});

test('backup:status: wrong credentials name the endpoint and the S3 error; missing ones are a usage error', async () => {
  const s3 = await startFakeS3({ bucket: 'lab', accessKeyId: 'AKIDLAB', objects: [] });
  const state = mkdtempSync(join(tmpdir(), 'backup-status-'));
  try {
    const wrong = await runStatus(byName(s3), { BACKUP_S3_ACCESS_KEY_ID: 'AKIDWRONG', BACKUP_S3_SECRET_ACCESS_KEY: 'k' }, state);
    assert.is(wrong.code, 1);
    assert.match(wrong.logged, `cannot list ${byName(s3)} bucket lab: InvalidAccessKeyId (HTTP 403)`);
    const none = await runStatus(byName(s3), {}, state);
    assert.is(none.code, 2);
    assert.match(none.logged, 'BACKUP_S3_ACCESS_KEY_ID and BACKUP_S3_SECRET_ACCESS_KEY missing: add them to .env');
  } finally {
    await s3.close();
    rmSync(state, { recursive: true });
  }
});

test.run();
