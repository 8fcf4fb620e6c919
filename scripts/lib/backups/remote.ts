import { targetKey } from './target.ts';

// Reading the in-cluster backups back: the same rclone remotes kubernetes/backups/upload.sh writes with ("target" =
// the S3 bucket, "sealed" = rclone crypt over <bucket>/<prefix> with file name encryption off, so an object
// <prefix>/etcd/etcd-<UTC>.db.bin is "sealed:etcd/etcd-<UTC>.db"). rclone is the maintained reader of its own crypt
// format; it is configured only through RCLONE_CONFIG_* variables of the child process, never argv. Pure argv/env
// builders and output parsers here; running them is the caller's edge.

/** Where the backups section points (config `backups.s3`, prefix already defaulted to the cluster name). */
export interface BackupTarget {
  endpoint: string;
  bucket: string;
  region: string;
  prefix: string;
}

export interface TargetKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The .env names the in-cluster jobs and this reader share. */
export const BACKUP_ENV = {
  accessKeyId: 'BACKUP_S3_ACCESS_KEY_ID',
  secretAccessKey: 'BACKUP_S3_SECRET_ACCESS_KEY',
  passphrase: 'BACKUP_PASSPHRASE',
} as const;

/** What `--from` names: the local state directory, the newest etcd snapshot on the target, or one object on it. */
export type SnapshotSource = { kind: 'local' } | { kind: 's3'; key?: string };

/** Keys the etcd CronJob writes, relative to the prefix: etcd/etcd-20261201T030000Z.db.bin. */
export const ETCD_KEY = /^etcd\/etcd-(\d{8}T\d{6}Z)\.db\.bin$/;
export const ETCD_DIR = 'etcd';

export class SourceError extends Error {
  override name = 'SourceError';
}

/** `--from local|s3|s3:etcd/etcd-<UTC>.db.bin` → the source; a bad value throws SourceError naming the accepted forms. */
export function parseSnapshotSource(value: string | undefined): SnapshotSource {
  if (value === undefined || value === 'local') return { kind: 'local' };
  if (value === 's3') return { kind: 's3' };
  const m = /^s3:(.+)$/.exec(value);
  if (m) {
    const key = m[1]!.replace(/^\/+/, '');
    if (!ETCD_KEY.test(key)) throw new SourceError(`--from ${value}: the key must look like s3:etcd/etcd-20261201T030000Z.db.bin (as \`task backup:status\` lists it, without the prefix)`);
    return { kind: 's3', key };
  }
  throw new SourceError(`--from ${value}: use local (the state directory, default), s3 (the newest etcd snapshot on the backup target) or s3:etcd/etcd-<UTC>.db.bin`);
}

/** The UTC time in a CronJob key: etcd/etcd-20261201T030000Z.db.bin → 2026-12-01T03:00:00Z. */
export function keyTime(key: string): string | undefined {
  const s = ETCD_KEY.exec(key)?.[1];
  return s && `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
}

/**
 * The child environment: both remotes as upload.sh defines them, the obscured passphrase (when decrypting), and an
 * in-memory config (RCLONE_CONFIG=/dev/null) so a user's rclone.conf cannot add settings. Inherited RCLONE_* variables
 * are removed (RCLONE_VERBOSE=2 would print the keys), and AWS_CA_BUNDLE too: rclone 1.60's S3 client (aws-sdk-go v1)
 * fails with LoadCustomCABundleError when it is set; rclone reads the system's CAs (SSL_CERT_FILE) itself.
 */
export function rcloneEnv(t: BackupTarget, keys: TargetKeys, obscuredPassphrase?: string, inherited: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const k of Object.keys(inherited)) if (k.startsWith('RCLONE_') || k === 'AWS_CA_BUNDLE') env[k] = undefined;
  Object.assign(env, {
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_TARGET_TYPE: 's3',
    RCLONE_CONFIG_TARGET_PROVIDER: 'Other',
    RCLONE_CONFIG_TARGET_ENV_AUTH: 'false',
    RCLONE_CONFIG_TARGET_ENDPOINT: t.endpoint,
    RCLONE_CONFIG_TARGET_REGION: t.region,
    RCLONE_CONFIG_TARGET_ACCESS_KEY_ID: keys.accessKeyId,
    RCLONE_CONFIG_TARGET_SECRET_ACCESS_KEY: keys.secretAccessKey,
  });
  if (obscuredPassphrase !== undefined) {
    Object.assign(env, {
      RCLONE_CONFIG_SEALED_TYPE: 'crypt',
      RCLONE_CONFIG_SEALED_FILENAME_ENCRYPTION: 'off',
      RCLONE_CONFIG_SEALED_DIRECTORY_NAME_ENCRYPTION: 'false',
      RCLONE_CONFIG_SEALED_REMOTE: `target:${t.bucket}/${targetKey(t.prefix)}`,
      RCLONE_CONFIG_SEALED_PASSWORD: obscuredPassphrase,
    });
  }
  return env;
}

/** rclone's config stores passwords obscured; the passphrase goes in on stdin (`rclone obscure -`), as upload.sh does. */
export function obscureArgv(): string[] {
  return ['rclone', 'obscure', '-'];
}

export function versionArgv(): string[] {
  return ['rclone', 'version'];
}

/** The raw objects under <prefix>/etcd/ (names and sizes only: no passphrase, no HEAD per object). */
export function listEtcdArgv(t: BackupTarget): string[] {
  return ['rclone', 'lsjson', '--files-only', '--no-modtime', '--no-mimetype', `target:${t.bucket}/${targetKey(t.prefix, ETCD_DIR)}`];
}

/** Download and decrypt one object to a local file; one attempt (a wrong passphrase does not get better with three). */
export function fetchArgv(key: string, dest: string): string[] {
  return ['rclone', 'copyto', '--retries', '1', `sealed:${key.replace(/\.bin$/, '')}`, dest];
}

export interface RemoteObject {
  /** Relative to the prefix: etcd/etcd-<UTC>.db.bin. */
  key: string;
  /** Encrypted size on the target. */
  size: number;
}

/** `rclone lsjson` output → the objects (keys relative to the prefix). */
export function parseLsjson(stdout: string, dir = ETCD_DIR): RemoteObject[] {
  const rows = JSON.parse(stdout || '[]') as { Path: string; Size: number; IsDir: boolean }[];
  return rows.filter((r) => !r.IsDir).map((r) => ({ key: `${dir}/${r.Path}`, size: r.Size }));
}

/** The newest CronJob snapshot by the UTC time in its name (the time it was taken); other objects are ignored. */
export function newestEtcdSnapshot(objects: RemoteObject[]): RemoteObject | undefined {
  return objects.filter((o) => ETCD_KEY.test(o.key)).sort((a, b) => (a.key < b.key ? 1 : -1))[0];
}

/** What a failed rclone call means for the user: the thing to fix, from its stderr and exit code. */
export function rcloneProblem(stderr: string, exitCode: number, t: BackupTarget, key?: string): string | undefined {
  if (/bad password|failed to authenticate decrypted block|unexpected EOF|not an encrypted file|file header is bad/i.test(stderr) && key) {
    return `rclone could not decrypt ${key}: ${BACKUP_ENV.passphrase} in .env is not the passphrase it was encrypted with (the one sealed into Secret backups/backup-target), or the object is damaged`;
  }
  if (/InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|status code: 403/.test(stderr)) {
    return `${t.endpoint} refused the keys (${/(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied)/.exec(stderr)?.[1] ?? 'HTTP 403'}): check ${BACKUP_ENV.accessKeyId} and ${BACKUP_ENV.secretAccessKey} in .env`;
  }
  if (/NoSuchBucket/.test(stderr) || (exitCode === 3 && /directory not found/.test(stderr))) {
    return `bucket ${t.bucket} not found at ${t.endpoint}: check backups.s3.bucket and backups.s3.endpoint in the config`;
  }
  return undefined;
}
