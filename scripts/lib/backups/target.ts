import type { ClusterConfig } from '../config/load.ts';

// The one S3 target of the config's backups section and where each kind lives on it:
//   <prefix>/etcd/etcd-<UTC>.db.bin, <prefix>/vault/vault-<UTC>.snap.bin   (kubernetes/backups, rclone crypt)
//   <prefix>/postgres/<database cluster>/{base,wals}/…                     (Barman Cloud: destinationPath + server name)
// One set of credentials for all of them: .env BACKUP_S3_ACCESS_KEY_ID / BACKUP_S3_SECRET_ACCESS_KEY, sealed by the
// bootstrap into Secret `backup-target` of every namespace that writes there.

/** The Secret holding the target's credentials, in each namespace that writes to it. */
export const BACKUP_SECRET = 'backup-target';

/** Under the prefix: the Barman Cloud destination of every database (each in its own server-name folder). */
export const POSTGRES_DIR = 'postgres';

/** The CloudNativePG Clusters of the Flux tree (kubernetes/{identity,platform}/<app>/database.yaml), role infra. */
export const DATABASES = [
  { namespace: 'authentik', cluster: 'authentik-db' },
  { namespace: 'gitea', cluster: 'gitea-db' },
  { namespace: 'harbor', cluster: 'harbor-db' },
  { namespace: 'matrix', cluster: 'matrix-db' },
] as const;

/**
 * The database backups of this cluster, or undefined: on with the backups section unless `databases.enabled: false`,
 * and only where the databases run (the infra role's tree; the apps role has none).
 */
export function databaseBackupsOf(c: ClusterConfig): NonNullable<ClusterConfig['backups']>['databases'] | undefined {
  if (!c.backups?.databases.enabled || c.cluster.role !== 'infra') return undefined;
  return c.backups.databases;
}

/** A key on the target from the prefix and parts, without empty segments (a prefix may be "" or end in "/"). */
export function targetKey(prefix: string, ...parts: string[]): string {
  return [prefix, ...parts].flatMap((p) => p.split('/')).filter(Boolean).join('/');
}

/** The CloudNativePG schedule (six fields, seconds first) of a five-field cron schedule. */
export function cnpgSchedule(fiveField: string): string {
  return `0 ${fiveField.trim()}`;
}
