import { parseSnapshotSource, SourceError } from '../backups/remote.ts';
import { defineScript, UsageError } from '../core/cli.ts';
import { parseWaitScale, WAIT_SCALE_OPTION } from '../core/steps.ts';
import { ACTIONS, EXIT_FAULT_FOUND, parseAction, runRecovery } from './run.ts';

// The emergency-recovery entry script's spec (scripts/emergency-recovery.ts runs it).

export const emergencyRecoveryScript = defineScript({
  name: 'emergency-recovery',
  task: 'cluster:emergency-recovery',
  summary: 'diagnose a broken cluster, write a report and name the next command; sub-actions repair one thing each',
  positionals: '[diagnose|kubeconfig|flux suspend-all|flux resume-all|cilium|etcd:snapshot|etcd:restore|etcd:rejoin]',
  options: {
    node: { type: 'string', value: 'NAME', help: 'kubeconfig / etcd:snapshot / etcd:rejoin: the control plane to use' },
    vip: { type: 'boolean', help: 'kubeconfig: switch the kubeconfig back to the VIP' },
    snapshot: { type: 'string', value: 'FILE', help: 'etcd:restore: the snapshot (default: the newest in the state directory)' },
    from: {
      type: 'string',
      value: 'SOURCE',
      choices: ['local', 's3'],
      help: 'etcd:restore: local (default), s3 (the newest snapshot the in-cluster CronJob uploaded) or s3:etcd/etcd-<UTC>.db.bin',
    },
    'raw-snapshot': { type: 'boolean', help: 'etcd:restore: FILE is a raw copy of member/snap/db (skips the hash check)' },
    confirm: { type: 'string', value: 'NAME', help: 'etcd:restore / etcd:rejoin: the cluster name, for scripts and CI' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'actions:',
    ...Object.entries(ACTIONS).map(([name, what]) => `  ${name.padEnd(17)} ${what}`),
    '',
    'The diagnosis writes <state dir>/<cluster>/reports/recovery-<time>.md with every probe and its output.',
    'etcd:restore --from s3 reads the backups section\'s S3 target with BACKUP_S3_ACCESS_KEY_ID, BACKUP_S3_SECRET_ACCESS_KEY and',
    '  BACKUP_PASSPHRASE from .env, decrypts with rclone (configured through its environment only) into the state directory',
    '  as <cluster>-<UTC>-from-s3.db (+ .json: key, size, SHA-256), checks it, then restores it as a local snapshot. A wrong',
    '  passphrase or an empty target stops before the cluster is touched; --dry-run shows the listing and download it',
    '  would run, and fetches nothing.',
    'exit codes: 0 healthy / done, 1 a step failed, 2 usage, 3 config, 4 refused or not confirmed (nothing changed),',
    `  ${EXIT_FAULT_FOUND} the diagnosis found a fault (named on screen and in the report).`,
    'examples:',
    '  task cluster:emergency-recovery                                   # diagnose',
    '  task cluster:emergency-recovery -- kubeconfig                     # VIP down: talk to a control plane directly',
    '  task cluster:emergency-recovery -- flux suspend-all',
    '  task cluster:emergency-recovery -- etcd:restore --snapshot ~/.local/state/home-ops/infra/etcd-snapshots/X.db',
    '  task cluster:emergency-recovery -- etcd:restore --from s3                        # the newest in-cluster snapshot',
    '  task cluster:emergency-recovery -- etcd:restore --from s3:etcd/etcd-20261201T030000Z.db.bin',
  ].join('\n'),
  async run(ctx) {
    const action = parseAction(ctx.positionals);
    if (!action) throw new UsageError(`unknown action "${ctx.positionals.join(' ')}"; actions: ${Object.keys(ACTIONS).join(', ')}`);
    const waitScale = parseWaitScale(ctx.opts['wait-scale']);
    let from;
    try {
      from = parseSnapshotSource(ctx.opts.from);
    } catch (err) {
      throw err instanceof SourceError ? new UsageError(err.message) : err;
    }
    if (ctx.opts.from !== undefined && action !== 'etcd:restore') throw new UsageError(`--from is an option of etcd:restore, not of ${action}`);
    return await runRecovery({ ...ctx, waitScale }, action, {
      ...(ctx.opts.node ? { node: ctx.opts.node } : {}),
      vip: ctx.opts.vip,
      ...(ctx.opts.snapshot ? { snapshot: ctx.opts.snapshot } : {}),
      ...(from.kind === 's3' ? { from } : {}),
      raw: ctx.opts['raw-snapshot'],
      ...(ctx.opts.confirm !== undefined ? { confirm: ctx.opts.confirm } : {}),
    });
  },
});
