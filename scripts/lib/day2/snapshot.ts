import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { NodeConfig } from '../config/schema.ts';
import { CommandError } from '../core/runner.ts';
import * as talosEtcd from '../talos/etcd.ts';
import { act, fileStamp, planNote, type Day2Context } from './steps.ts';

// etcd snapshots: taken through talosctl from a control plane whose etcd runs, kept with a timestamp in the cluster's
// private state directory (outside git), each with a small JSON sidecar saying where and when it was taken.

export class SnapshotError extends Error {
  override name = 'SnapshotError';
}

export interface SnapshotMeta {
  cluster: string;
  /** Control plane it was streamed from. */
  node: string;
  ip: string;
  takenAt: string;
  bytes: number;
  /** Why it was taken ("before safe-reset", "manual", …). */
  reason: string;
  /** The `snapshot info: hash …, revision …` line talosctl printed. */
  info?: string;
  /** Fetched from the backup target (etcd:restore --from s3) rather than streamed from a node here. */
  fetched?: { from: string; key: string; sha256: string; fetchedAt: string };
}

export function snapshotFileName(cluster: string, reason: string, at = new Date()): string {
  const label = reason.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return `${cluster}-${fileStamp(at)}${label ? `-${label}` : ''}.db`;
}

export interface SnapshotEntry {
  file: string;
  bytes: number;
  meta?: SnapshotMeta;
}

/** Snapshots of the directory, newest first (file names sort by their timestamp). */
export function listSnapshots(dir: string): SnapshotEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.db'))
    .sort()
    .reverse()
    .map((f) => {
      const file = join(dir, f);
      const metaFile = `${file}.json`;
      let meta: SnapshotMeta | undefined;
      try {
        meta = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as SnapshotMeta) : undefined;
      } catch {
        meta = undefined;
      }
      return { file, bytes: statSync(file).size, ...(meta ? { meta } : {}) };
    });
}

/**
 * Streams an etcd snapshot from `source` into the snapshots directory and checks the file: it exists and is not empty
 * (and has the size talosctl reported). Throws SnapshotError / CommandError otherwise — callers abort on it.
 */
export async function takeSnapshot(ctx: Day2Context, source: NodeConfig, reason: string): Promise<SnapshotEntry> {
  const dir = ctx.paths.snapshots;
  const file = join(dir, snapshotFileName(ctx.config.cluster.name, reason));
  if (!planNote(ctx, `mkdir -m 0700 ${dir}`)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const res = await act(ctx, talosEtcd.etcdSnapshotArgv(source.ip, file), {
    check: false,
    timeoutMs: 10 * 60_000,
  });
  if (res.dryRun) return { file, bytes: 0 };
  if (!res.ok) {
    throw new CommandError(
      res,
      `the etcd snapshot from ${source.name} failed, so nothing was changed. Is etcd healthy? \`talosctl -e ${source.ip} -n ${source.ip} service etcd\`. ` +
        `Without quorum, copy the raw database instead: \`talosctl -e ${source.ip} -n ${source.ip} cp /var/lib/etcd/member/snap/db ${dir}/\``,
    );
  }
  const saved = talosEtcd.parseSnapshotSaved(res.stdout);
  const bytes = existsSync(file) ? statSync(file).size : 0;
  if (bytes === 0) throw new SnapshotError(`talosctl reported success but ${file} is ${existsSync(file) ? 'empty' : 'missing'}: no snapshot, nothing was changed`);
  if (saved && saved.bytes !== bytes) {
    throw new SnapshotError(`snapshot ${file} has ${bytes} bytes, talosctl reported ${saved.bytes}: incomplete, nothing was changed`);
  }
  chmodSync(file, 0o600); // the whole cluster state, Secrets included
  const meta: SnapshotMeta = {
    cluster: ctx.config.cluster.name,
    node: source.name,
    ip: source.ip,
    takenAt: new Date().toISOString(),
    bytes,
    reason,
    ...(/snapshot info: .*/.exec(res.stdout)?.[0] ? { info: /snapshot info: .*/.exec(res.stdout)![0] } : {}),
  };
  writeFileSync(`${file}.json`, JSON.stringify(meta, null, 2) + '\n', { mode: 0o600 });
  ctx.log.info(`etcd snapshot saved`, { file: basename(file), bytes, from: source.name });
  return { file, bytes, meta };
}

/** The SHA-256 digest etcd's Snapshot RPC appends to the database it streams (etcd server/etcdserver/api/v3rpc/maintenance.go). */
const SNAPSHOT_HASH_BYTES = 32;
/** bbolt pages are whole multiples of 512 bytes; etcdutl's restore tells a hashed snapshot by `size % 512 == 32`. */
const DB_ALIGN = 512;

/**
 * What a restore will check of the file, done first and read-only (etcdutl snapshot restore, etcd 3.5/3.6
 * etcdutl/snapshot/v3_snapshot.go: `hasHash := size % 512 == sha256.Size`, then the digest unless
 * --skip-hash-check): a snapshot `talosctl etcd snapshot` wrote is whole pages plus a SHA-256 of them; a raw copy of
 * member/snap/db (`raw`) is whole pages. Returns what is wrong, or undefined for a file a restore accepts.
 */
export function snapshotFileProblem(file: string, raw: boolean): string | undefined {
  if (!existsSync(file)) return 'no such file';
  const st = statSync(file);
  if (!st.isFile()) return 'not a regular file';
  if (st.size === 0) return 'empty';
  const rest = st.size % DB_ALIGN;
  if (raw) {
    return rest === 0 || rest === SNAPSHOT_HASH_BYTES
      ? undefined
      : `${st.size} bytes is not whole ${DB_ALIGN}-byte pages: not an etcd database (a raw copy of member/snap/db is)`;
  }
  if (rest !== SNAPSHOT_HASH_BYTES) {
    return rest === 0
      ? `it has no SHA-256 trailer: a raw copy of member/snap/db, not a \`talosctl etcd snapshot\` file — restore it with --raw-snapshot`
      : `${st.size} bytes is neither whole ${DB_ALIGN}-byte pages nor pages plus the 32-byte SHA-256 \`etcd snapshot\` appends: not an etcd snapshot, or truncated`;
  }
  const data = readFileSync(file);
  const body = data.subarray(0, data.length - SNAPSHOT_HASH_BYTES);
  if (!createHash('sha256').update(body).digest().equals(data.subarray(data.length - SNAPSHOT_HASH_BYTES))) {
    return 'its SHA-256 trailer does not match its content: the file is damaged';
  }
  return undefined;
}
