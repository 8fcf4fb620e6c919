import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import type { ScriptSpec } from '../core/cli.ts';

// `task backup:status`: the newest backup of each kind and its age. The in-cluster jobs (kubernetes/backups) write
// <prefix>/etcd/etcd-<UTC>.db.bin and <prefix>/vault/vault-<UTC>.snap.bin to the S3 target; `etcd:snapshot`,
// safe-reset and destroy keep local etcd snapshots in the state directory. Pure parts first, the listing at the edge.

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
  /** Older than the schedule allows (daily + slack), or none at all. */
  stale: boolean;
}

/** Daily jobs: 26 hours without a new one is a missed run (the SnapshotBackupTooOld alert uses the same bound). */
export const MAX_AGE_SECONDS = 26 * 3600;
export const S3_KINDS = ['etcd', 'vault'] as const;

export function newestOf(objects: StoredObject[]): StoredObject | undefined {
  return objects.reduce<StoredObject | undefined>((best, o) => (!best || o.lastModified > best.lastModified ? o : best), undefined);
}

export function rowFor(kind: string, where: string, objects: StoredObject[], now: Date, maxAge: number | undefined): BackupRow {
  const newest = newestOf(objects);
  if (!newest) return { kind, where, stale: maxAge !== undefined };
  const ageSeconds = Math.max(0, Math.round((now.getTime() - newest.lastModified.getTime()) / 1000));
  return { kind, where, newest, ageSeconds, stale: maxAge !== undefined && ageSeconds > maxAge };
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
    r.where,
  ]);
  const header = ['kind', 'newest', 'age', 'size', 'state', 'where'];
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

export const backupStatusScript: ScriptSpec<Record<string, never>> = {
  name: 'backup-status',
  task: 'backup:status',
  summary: 'the newest etcd and Vault snapshot on the backup target and the newest local etcd snapshot, with their ages',
  options: {},
  dryRunHelp: 'the same read-only listing (needs the S3 keys from .env); changes nothing',
  details: [
    'Reads the S3 target of the config\'s backups section with BACKUP_S3_ACCESS_KEY_ID/BACKUP_S3_SECRET_ACCESS_KEY from',
    '.env (listing only: names and dates need no passphrase), and the local snapshots of etcd:snapshot, safe-reset and',
    'destroy. Read-only: a --dry-run reads the same (it needs the same S3 keys).',
    `Every scheduled kind must have a backup younger than ${MAX_AGE_SECONDS / 3600} hours; local snapshots are taken by hand and`,
    'never make it fail.',
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
        for (const kind of S3_KINDS) {
          const where = `s3 ${b.s3.bucket}/${b.s3.prefix}/${kind}/`;
          rows.push(rowFor(kind, where, await listS3(client, b.s3.bucket, `${b.s3.prefix}/${kind}/`), now, MAX_AGE_SECONDS));
        }
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
    for (const r of stale) log.error(`${r.kind}: ${r.newest ? `newest is ${formatAge(r.ageSeconds!)} old` : 'no backup at all'} (${r.where}); see README "When things break" (SnapshotBackupTooOld)`);
    return stale.length ? 1 : 0;
  },
};
