import { EXIT_REFUSED } from '../day2/confirm.ts';
import { defineScript } from '../day2/scripts.ts';
import { SelectionError } from '../day2/selection.ts';
import { parseWaitScale } from '../day2/steps.ts';
import { ACTIONS, EXIT_FAULT_FOUND, parseAction, runRecovery } from './run.ts';

// The emergency-recovery entry script's spec (scripts/emergency-recovery.ts runs it).

export const emergencyRecoveryScript = defineScript({
  name: 'emergency-recovery',
  summary: 'diagnose a broken cluster, write a report and name the next command; sub-actions repair one thing each',
  positionals: '[diagnose|kubeconfig|flux suspend-all|flux resume-all|cilium|etcd:snapshot|etcd:restore|etcd:rejoin]',
  options: {
    node: { type: 'string', value: 'NAME', help: 'kubeconfig / etcd:snapshot / etcd:rejoin: the control plane to use' },
    vip: { type: 'boolean', help: 'kubeconfig: switch the kubeconfig back to the VIP' },
    snapshot: { type: 'string', value: 'FILE', help: 'etcd:restore: the snapshot (default: the newest in the state directory)' },
    'raw-snapshot': { type: 'boolean', help: 'etcd:restore: FILE is a raw copy of member/snap/db (skips the hash check)' },
    confirm: { type: 'string', value: 'NAME', help: 'etcd:restore / etcd:rejoin: the cluster name, for scripts and CI' },
    'wait-scale': { type: 'string', value: 'FACTOR', help: 'multiply every deadline (slow hardware: 2)', default: '1' },
  },
  details: [
    'actions:',
    ...Object.entries(ACTIONS).map(([name, what]) => `  ${name.padEnd(17)} ${what}`),
    '',
    'The diagnosis writes <state dir>/<cluster>/reports/recovery-<time>.md with every probe and its output.',
    'exit codes: 0 healthy / done, 1 a step failed, 2 usage, 3 config, 4 refused or not confirmed (nothing changed),',
    `  ${EXIT_FAULT_FOUND} the diagnosis found a fault (named on screen and in the report).`,
    'examples:',
    '  task cluster:emergency-recovery                                   # diagnose',
    '  task cluster:emergency-recovery -- kubeconfig                     # VIP down: talk to a control plane directly',
    '  task cluster:emergency-recovery -- flux suspend-all',
    '  task cluster:emergency-recovery -- etcd:restore --snapshot ~/.local/state/home-ops/infra/etcd-snapshots/X.db',
  ].join('\n'),
  async run(ctx) {
    const action = parseAction(ctx.positionals);
    if (!action) {
      ctx.log.error(`unknown action "${ctx.positionals.join(' ')}"; actions: ${Object.keys(ACTIONS).join(', ')}`);
      return 2;
    }
    let waitScale: number;
    try {
      waitScale = parseWaitScale(ctx.opts['wait-scale']);
    } catch (err) {
      ctx.log.error((err as Error).message);
      return 2;
    }
    try {
      return await runRecovery({ ...ctx, waitScale }, action, {
        ...(ctx.opts.node ? { node: ctx.opts.node } : {}),
        vip: ctx.opts.vip,
        ...(ctx.opts.snapshot ? { snapshot: ctx.opts.snapshot } : {}),
        raw: ctx.opts['raw-snapshot'],
        ...(ctx.opts.confirm !== undefined ? { confirm: ctx.opts.confirm } : {}),
      });
    } catch (err) {
      if (err instanceof SelectionError) {
        ctx.log.error(`${err.message}\n  nothing was changed`);
        return EXIT_REFUSED;
      }
      throw err;
    }
  },
});
