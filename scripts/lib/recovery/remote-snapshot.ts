import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as remote from '../backups/remote.ts';
import { targetKey } from '../backups/target.ts';
import { RefusalError } from '../core/cli.ts';
import { CommandError } from '../core/runner.ts';
import { registerSecret } from '../core/redact.ts';
import { snapshotFileProblem, type SnapshotEntry, type SnapshotMeta } from '../day2/snapshot.ts';
import { act, lastLine, planNote, poll, probe, type Day2Context } from '../day2/steps.ts';

// etcd:restore --from s3: fetch one etcd snapshot the in-cluster CronJob (kubernetes/backups/etcd-snapshot.yaml)
// wrote to the backup target, decrypt it with rclone, check it as a local snapshot is checked, and keep it in the
// state directory with a sidecar saying where it came from. The restore then runs on it unchanged. Nothing on the
// cluster is touched here; a failure leaves no file behind.

const FETCH_TIMEOUT_MS = 30 * 60_000;

export async function fetchRemoteSnapshot(ctx: Day2Context, source: { kind: 's3'; key?: string }, raw: boolean): Promise<SnapshotEntry> {
  const c = ctx.config;
  if (!c.backups) {
    throw new RefusalError('--from s3 reads the backup target of the config\'s backups section, and this config has none: add backups.s3 (see cluster.example.yaml), or restore a local snapshot with --snapshot FILE');
  }
  const target: remote.BackupTarget = c.backups.s3;
  const where = `${target.endpoint} ${target.bucket}/${targetKey(target.prefix, remote.ETCD_DIR)}/`;
  const dry = ctx.runner.dryRun;
  const missing = Object.values(remote.BACKUP_ENV).filter((k) => !ctx.secrets[k]);
  if (missing.length) {
    const msg = `${missing.join(', ')} missing: add ${missing.length === 1 ? 'it' : 'them'} to .env (see .env.example; the passphrase is the one sealed into Secret backups/backup-target)`;
    if (!dry) throw new RefusalError(msg);
    ctx.log.warn(`a real run needs them: ${msg}`);
  }
  const keys = { accessKeyId: ctx.secrets[remote.BACKUP_ENV.accessKeyId] ?? '', secretAccessKey: ctx.secrets[remote.BACKUP_ENV.secretAccessKey] ?? '' };

  let obscured: string | undefined;
  if (!dry) {
    const version = await poll(ctx, remote.versionArgv());
    if (!version.ok) throw new RefusalError(`rclone does not run (${lastLine(version)}): --from s3 decrypts with it. Install it: apt-get install rclone, or \`mise install\` (.mise.toml)`);
    const res = await poll(ctx, remote.obscureArgv(), { input: ctx.secrets[remote.BACKUP_ENV.passphrase]! });
    if (!res.ok) throw new CommandError(res, 'rclone could not obscure the passphrase (`rclone obscure -`)');
    obscured = res.stdout.trim();
    registerSecret(obscured);
  }
  const env = remote.rcloneEnv(target, keys, obscured ?? '');

  // Which object: listed by name (CronJob keys carry the UTC time they were taken), read-only.
  const listed = await probe(ctx, remote.listEtcdArgv(target), { env });
  let key = source.key;
  if (!dry) {
    if (!listed.ok) {
      const problem = remote.rcloneProblem(listed.stderr, listed.exitCode, target);
      if (problem) throw new RefusalError(problem);
      throw new CommandError(listed, `rclone could not list ${where}; check backups.s3 in the config and the keys in .env`);
    }
    const objects = remote.parseLsjson(listed.stdout);
    const newest = remote.newestEtcdSnapshot(objects);
    if (!newest) {
      throw new RefusalError(
        `no etcd snapshot on the backup target (${where} holds ${objects.length ? objects.map((o) => o.key).join(', ') : 'nothing'}): ` +
          'has the CronJob backups/etcd-snapshot run? `kubectl -n backups get jobs`, `task backup:status`. Or restore a local snapshot with --snapshot FILE',
      );
    }
    if (key && !objects.some((o) => o.key === key)) throw new RefusalError(`s3:${key} is not on the backup target (${where}); the newest there is s3:${newest.key}`);
    key ??= newest.key;
    ctx.log.info(`etcd snapshot on the backup target: ${key} (${objects.find((o) => o.key === key)!.size} bytes encrypted)${source.key ? '' : ', the newest'}`);
  }
  const shownKey = key ?? `${remote.ETCD_DIR}/etcd-<the newest UTC time>.db.bin`;
  const stamp = key ? remote.ETCD_KEY.exec(key)![1] : '<UTC>';
  const dir = ctx.paths.snapshots;
  const file = join(dir, `${c.cluster.name}-${stamp}-from-s3.db`);
  const partial = `${file}.partial`;

  if (!planNote(ctx, `mkdir -m 0700 ${dir}`)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!dry) rmSync(partial, { force: true });
  const res = await act(ctx, remote.fetchArgv(shownKey, partial), { env, check: false, timeoutMs: FETCH_TIMEOUT_MS });
  if (dry) {
    planNote(ctx, `check the decrypted file as a local snapshot (size, SHA-256 trailer), keep it as ${file} with ${basename(file)}.json (where from, key, size, SHA-256)`);
    return { file, bytes: 0 };
  }
  // Whatever goes wrong from here, no half-written file stays behind to be taken for a snapshot.
  const problem = res.ok ? fetchedFileProblem(partial, key!, raw) : remote.rcloneProblem(res.stderr, res.exitCode, target, key);
  if (problem || !res.ok) {
    rmSync(partial, { force: true });
    if (problem) throw new RefusalError(problem);
    throw new CommandError(res, `the download of s3:${key} failed; nothing was changed. \`task backup:status\` lists the target`);
  }
  const data = readFileSync(partial);
  const sha256 = createHash('sha256').update(data).digest('hex');
  chmodSync(partial, 0o600); // the whole cluster state, Secrets included (the directory is 0700 during the download)
  renameSync(partial, file);
  const meta: SnapshotMeta = {
    cluster: c.cluster.name,
    node: 'CronJob backups/etcd-snapshot',
    ip: c.network.vip,
    takenAt: remote.keyTime(key!)!,
    bytes: data.length,
    reason: 'fetched from the backup target',
    fetched: { from: `s3 ${where}`, key: key!, sha256, fetchedAt: new Date().toISOString() },
  };
  writeFileSync(`${file}.json`, JSON.stringify(meta, null, 2) + '\n', { mode: 0o600 });
  ctx.log.info('etcd snapshot fetched and checked', { key, file: basename(file), bytes: data.length, sha256 });
  return { file, bytes: data.length, meta };
}

/** The checks a local snapshot gets, on the decrypted download. */
function fetchedFileProblem(file: string, key: string, raw: boolean): string | undefined {
  if (!existsSync(file)) return `rclone reported success but wrote no file for s3:${key}`;
  const problem = snapshotFileProblem(file, raw);
  return problem && `s3:${key}, decrypted: ${problem}`;
}
