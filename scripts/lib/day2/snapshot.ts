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
