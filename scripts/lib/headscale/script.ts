import type { ScriptSpec } from '../core/cli.ts';
import { autoApproverPolicy } from './cli.ts';
import { approveHeadscaleRoutes } from './routes.ts';

// The spec of scripts/headscale-approve-routes.ts (task net:approve-routes), here so tests can run it in-process.

const options = {
  policy: { type: 'boolean', help: 'print the same approvals as a Headscale autoApprovers policy snippet and exit (no SSH)' },
} as const;

export const approveRoutesScript: ScriptSpec<typeof options> = {
  name: 'headscale-approve-routes',
  task: 'net:approve-routes',
  summary: 'approve on Headscale exactly the advertised subnet routes the config allows (over SSH)',
  options,
  dryRunHelp: 'read the routes over SSH (read-only; needs SSH access) and list what would change; change nothing',
  details: [
    'Selects the cluster\'s nodes by headscale.nodes, else headscale.tag, else the cluster node names (and headscale.user',
    'when set); approves the routes they advertise that are listed in headscale.routes (default: nodeCidr and',
    'loadBalancerCidr). Approved routes stay approved; other routes are never approved. Works with headscale ≤0.25',
    '(routes enable) and ≥0.26 (nodes approve-routes), detected from `headscale version`.',
    '--dry-run reads the server over SSH (read-only, so it needs SSH access) and lists what would change.',
    'exit codes: 0 done, 1 a command failed, 2 usage, 3 config.',
    'examples:',
    '  task net:approve-routes -- --dry-run',
    '  task net:approve-routes',
    '  task net:approve-routes -- --policy'
  ].join('\n'),
  async run(ctx) {
    if (!ctx.config.headscale) {
      ctx.log.info('no headscale section in the config: nothing to do');
      return 0;
    }
    if (ctx.opts.policy) {
      ctx.log.print(autoApproverPolicy(ctx.config));
      return 0;
    }
    const r = await approveHeadscaleRoutes(ctx, { inspect: true });
    ctx.log.info(r.summary);
    ctx.log.info('prefer automatic approval by Headscale? --policy prints the equivalent autoApprovers policy');
    return 0;
  },
};
