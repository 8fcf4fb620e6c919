import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { Cron } from 'croner';
import type { ClusterConfig } from '../config/load.ts';
import type { ScriptSpec } from '../core/cli.ts';
import { DATABASES, POSTGRES_DIR, databaseBackupsOf, targetKey } from './target.ts';

// `task backup:status`: the newest backup of each kind and its age. The in-cluster jobs (kubernetes/backups) write
// <prefix>/etcd/etcd-<UTC>.db.bin and <prefix>/vault/vault-<UTC>.snap.bin to the S3 target; each database's Barman
// Cloud plugin writes <prefix>/postgres/<cluster>/base/<backup id>/ (data.tar.gz, …, and backup.info last, with the
// backup's status: barman/cloud.py CloudBackup.backup, _upload_backup_info); `etcd:snapshot`, safe-reset and destroy
// keep local etcd snapshots in the state directory. Pure parts first, the listing at the edge.

export interface StoredObject {
  key: string;
  lastModified: Date;
  size: number;
}

export interface BackupRow {
  kind: string;
  where: string;
  newest?: StoredObject;
  /** Seconds since the newest one was written. */
  ageSeconds?: number;
  /** The schedule's bound (undefined: taken by hand, never stale). */
  maxAgeSeconds?: number;
  /** Older than the schedule allows, or none at all. */
  stale: boolean;
}

/** Slack after a scheduled run is due before it counts as missed (a daily job: 26 hours, as the alerts use). */
export const SLACK_SECONDS = 2 * 3600;
export const S3_KINDS = ['etcd', 'vault'] as const;

/**
 * How old the newest backup of a cron schedule (five fields, or six with seconds first; UTC, as Kubernetes CronJobs
 * and the CloudNativePG operator run on Talos) may be: the longest gap between two runs in the next 400, plus slack.
 */
export function maxAgeFor(schedule: string, from = new Date()): number {
  const runs = new Cron(schedule, { timezone: 'UTC', paused: true }).nextRuns(400, from);
  let gap = 0;
  for (let i = 1; i < runs.length; i++) gap = Math.max(gap, runs[i]!.getTime() - runs[i - 1]!.getTime());
  return Math.round(gap / 1000) + SLACK_SECONDS;
}

export function newestOf(objects: StoredObject[]): StoredObject | undefined {
  return objects.reduce<StoredObject | undefined>((best, o) => (!best || o.lastModified > best.lastModified ? o : best), undefined);
}

export function rowFor(kind: string, where: string, objects: StoredObject[], now: Date, maxAge: number | undefined): BackupRow {
  const newest = newestOf(objects);
  if (!newest) return { kind, where, maxAgeSeconds: maxAge, stale: maxAge !== undefined };
  const ageSeconds = Math.max(0, Math.round((now.getTime() - newest.lastModified.getTime()) / 1000));
  return { kind, where, newest, ageSeconds, maxAgeSeconds: maxAge, stale: maxAge !== undefined && ageSeconds > maxAge };
}

/** One Barman base backup on the target: the objects under base/<id>/, and its backup.info when written. */
export interface BarmanBackup {
  id: string;
  /** <…>/base/<id>/ */
  dir: string;
  info?: StoredObject;
  size: number;
}

/** Groups the objects under a server's base/ prefix by backup id, newest backup.info first (none written: last). */
export function barmanBackups(objects: StoredObject[], basePrefix: string): BarmanBackup[] {
  const byId = new Map<string, BarmanBackup>();
  for (const o of objects) {
    if (!o.key.startsWith(basePrefix)) continue;
    const [id, ...rest] = o.key.slice(basePrefix.length).split('/');
    if (!id || !rest.length) continue;
    const b = byId.get(id) ?? { id, dir: `${basePrefix}${id}/`, size: 0 };
    b.size += o.size;
    if (rest.join('/') === 'backup.info') b.info = o;
    byId.set(id, b);
  }
  const time = (b: BarmanBackup) => b.info?.lastModified.getTime() ?? -1;
  return [...byId.values()].sort((a, b) => time(b) - time(a) || (a.id < b.id ? 1 : -1));
}

/** backup.info is Barman's FieldListFile: one key=value per line (barman/infofile.py FieldListFile.save). */
export function parseBackupInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

/**
 * The newest base backup Barman finished (status DONE) as a row; reads backup.info newest first, at most `maxReads`.
 * A newer attempt that did not finish is returned as `failed` (status and error from its backup.info).
 */
export async function databaseRow(
  kind: string,
  where: string,
  backups: BarmanBackup[],
  readInfo: (key: string) => Promise<string>,
  now: Date,
  maxAge: number,
  maxReads = 5,
): Promise<{ row: BackupRow; failed?: { id: string; status: string; error?: string } }> {
  let failed: { id: string; status: string; error?: string } | undefined;
  for (const b of backups.filter((x) => x.info).slice(0, maxReads)) {
    const info = parseBackupInfo(await readInfo(b.info!.key));
    if (info.status === 'DONE') {
      return { row: rowFor(kind, where, [{ key: b.dir, lastModified: b.info!.lastModified, size: b.size }], now, maxAge), failed };
    }
    failed ??= { id: b.id, status: info.status ?? 'unknown', error: info.error && info.error !== 'None' ? info.error : undefined };
  }
  return { row: rowFor(kind, where, [], now, maxAge), failed };
}

export function formatAge(seconds: number): string {
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86400)}d${Math.floor((seconds % 86400) / 3600)}h`;
}

export function formatRows(rows: BackupRow[]): string {
  const lines = rows.map((r) => [
    r.kind,
    r.newest ? r.newest.key : '(none)',
    r.ageSeconds !== undefined ? formatAge(r.ageSeconds) : '-',
    r.newest ? `${r.newest.size} B` : '-',
    r.stale ? 'STALE' : 'ok',
    r.maxAgeSeconds !== undefined ? formatAge(r.maxAgeSeconds) : '-',
    r.where,
  ]);
  const header = ['kind', 'newest', 'age', 'size', 'state', 'max age', 'where'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

/** Every object under <prefix>/<kind>/ on the target. */
export async function listS3(client: S3Client, bucket: string, prefix: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
    for (const o of page.Contents ?? []) {
      if (o.Key && o.LastModified) out.push({ key: o.Key, lastModified: o.LastModified, size: o.Size ?? 0 });
    }
  }
  return out;
}

export function localSnapshots(dir: string): StoredObject[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.db'))
    .map((f) => {
      const st = statSync(join(dir, f));
      return { key: f, lastModified: st.mtime, size: st.size };
    });
}

/** The S3 rows of the config's backups section: etcd, Vault, and each database with database backups on. */
async function targetRows(c: ClusterConfig, client: S3Client, now: Date, log: { warn(msg: string): void }): Promise<BackupRow[]> {
  const b = c.backups!;
  const rows: BackupRow[] = [];
  const schedules = { etcd: b.etcdSchedule, vault: b.vaultSchedule };
  for (const kind of S3_KINDS) {
    const prefix = `${targetKey(b.s3.prefix, kind)}/`;
    rows.push(rowFor(kind, `s3 ${b.s3.bucket}/${prefix}`, await listS3(client, b.s3.bucket, prefix), now, maxAgeFor(schedules[kind], now)));
  }
  const db = databaseBackupsOf(c);
  if (!db) return rows;
  const readInfo = async (key: string) => {
    const res = await client.send(new GetObjectCommand({ Bucket: b.s3.bucket, Key: key }));
    return (await res.Body?.transformToString('utf8')) ?? '';
  };
  for (const d of DATABASES) {
    const base = `${targetKey(b.s3.prefix, POSTGRES_DIR, d.cluster, 'base')}/`;
    const backups = barmanBackups(await listS3(client, b.s3.bucket, base), base);
    const { row, failed } = await databaseRow(`postgres ${d.cluster}`, `s3 ${b.s3.bucket}/${base}`, backups, readInfo, now, maxAgeFor(db.schedule, now));
    if (failed) log.warn(`postgres ${d.cluster}: a newer base backup ${failed.id} is ${failed.status}${failed.error ? `: ${failed.error}` : ''} (kubectl -n ${d.namespace} get backups.postgresql.cnpg.io)`);
    rows.push(row);
  }
  return rows;
}

export const backupStatusScript: ScriptSpec<Record<string, never>> = {
  name: 'backup-status',
  task: 'backup:status',
  summary: 'the newest etcd and Vault snapshot and database base backup on the backup target and the newest local etcd snapshot, with their ages',
  options: {},
  dryRunHelp: 'the same read-only listing (needs the S3 keys from .env); changes nothing',
  details: [
    'Reads the S3 target of the config\'s backups section with BACKUP_S3_ACCESS_KEY_ID/BACKUP_S3_SECRET_ACCESS_KEY from',
    '.env (names, dates and each base backup\'s backup.info; no passphrase), and the local snapshots of etcd:snapshot,',
    'safe-reset and destroy. Read-only: a --dry-run reads the same (it needs the same S3 keys).',
    'Every scheduled kind must have a backup younger than its schedule allows (the longest gap between two runs of',
    `backups.etcdSchedule, .vaultSchedule, .databases.schedule, plus ${SLACK_SECONDS / 3600} hours); a database counts only base backups`,
    'Barman finished (status DONE); local snapshots are taken by hand and never make it fail.',
    'exit codes: 0 every scheduled backup is recent, 1 one is missing or too old, 2 usage or the S3 keys missing from .env, 3 config.',
    'examples:',
    '  task backup:status',
    '  task backup:status -- --config clusters/apps.yaml',
  ].join('\n'),
  async run({ config, secrets, paths, log }) {
    const now = new Date();
    const rows: BackupRow[] = [];
    const b = config.backups;
    if (!b) {
      log.info('no backups section in the config: no scheduled backups to list');
    } else {
      const missing = ['BACKUP_S3_ACCESS_KEY_ID', 'BACKUP_S3_SECRET_ACCESS_KEY'].filter((k) => !secrets[k]);
      if (missing.length) {
        log.error(`${missing.join(' and ')} missing: add them to .env (see .env.example) to read the backup target`);
        return 2;
      }
      const client = new S3Client({
        endpoint: b.s3.endpoint,
        region: b.s3.region,
        // MinIO, Garage and most self-hosted targets serve buckets as paths, not host names.
        forcePathStyle: true,
        credentials: { accessKeyId: secrets.BACKUP_S3_ACCESS_KEY_ID!, secretAccessKey: secrets.BACKUP_S3_SECRET_ACCESS_KEY! },
        maxAttempts: 3,
      });
      try {
        rows.push(...(await targetRows(config, client, now, log)));
      } catch (err) {
        const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
        log.error(`cannot list ${b.s3.endpoint} bucket ${b.s3.bucket}: ${e.name ?? 'error'}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}: ${e.message ?? String(err)}`);
        return 1;
      } finally {
        client.destroy();
      }
    }
    rows.push(rowFor('etcd (local)', paths.snapshots, localSnapshots(paths.snapshots), now, undefined));
    log.print(formatRows(rows));
    const stale = rows.filter((r) => r.stale);
    for (const r of stale) {
      const runbook = r.kind.startsWith('postgres ') ? 'DatabaseBackupTooOld' : 'SnapshotBackupTooOld';
      log.error(`${r.kind}: ${r.newest ? `newest is ${formatAge(r.ageSeconds!)} old, more than ${formatAge(r.maxAgeSeconds!)}` : 'no backup at all'} (${r.where}); see README "When things break" (${runbook})`);
    }
    return stale.length ? 1 : 0;
  },
};
