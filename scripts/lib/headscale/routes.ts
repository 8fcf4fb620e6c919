import type { OpResult, OpsContext } from '../core/context.ts';
import type { SshTarget } from '../ssh/client.ts';
import { withRemote, type RemoteHost, type RemoteOptions } from '../ssh/remote.ts';
import {
  approvalCommands,
  deleteNodeArgv,
  describeSelector,
  nodesListArgv,
  parseHeadscaleVersion,
  parseNodes,
  parseRoutes,
  planFromNodes,
  planFromRoutes,
  routesHelpArgv,
  routesListArgv,
  selectNodes,
  selectorFromConfig,
  versionArgv,
  type ApprovalPlan,
  type Generation,
  type HeadscaleNode,
} from './cli.ts';

// Headscale operations over SSH to config.headscale.host (used by the bootstrap's integrations phase, by destroy,
// and by scripts/headscale-approve-routes.ts):
//
//   approveHeadscaleRoutes(ctx, { inspect? })  approve exactly the advertised routes the config allows on the
//                                              cluster's nodes; approved routes are left alone, others never approved.
//       ssh: headscale version
//            headscale nodes list -o json
//            ≥0.26: headscale nodes approve-routes --identifier ID --routes <approved ∪ new>   (per node with changes)
//            ≤0.25: headscale routes list -o json; headscale routes enable --route ROUTE_ID    (per route)
//   removeHeadscaleNodes(ctx, { inspect? })    destroy: delete the cluster's nodes (same selection)
//       ssh: headscale nodes list -o json; headscale nodes delete --identifier ID --force   (per node)
//   autoApproverPolicy(config) (cli.ts)        the same approvals as an autoApprovers policy (no SSH)

export function headscaleTarget(ctx: Pick<OpsContext, 'config'>): SshTarget {
  const h = ctx.config.headscale;
  if (!h) throw new Error('the config has no headscale section');
  return { host: h.host, port: h.sshPort, user: h.sshUser };
}

async function detectGeneration(host: RemoteHost): Promise<{ generation: Generation; version: string } | undefined> {
  const res = await host.read(versionArgv(), { hint: 'is headscale installed and on the SSH user\'s PATH?' });
  if (!res) return undefined;
  const v = parseHeadscaleVersion(res.stdout);
  if (v) return { generation: v.generation, version: v.text };
  // A development build ("dev"): the `routes` command exists only up to 0.25.
  const probe = await host.read(routesHelpArgv(), { check: false });
  return { generation: probe?.ok ? 'routes' : 'nodes', version: res.stdout.trim().split('\n')[0] ?? 'unknown' };
}

async function listNodes(host: RemoteHost): Promise<HeadscaleNode[] | undefined> {
  const res = await host.read(nodesListArgv());
  return res ? parseNodes(res.stdout) : undefined;
}

function formatPlan(plan: ApprovalPlan, dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const p of plan.nodes) {
    const who = `${p.node.givenName} (id ${p.node.id})`;
    const parts: string[] = [];
    if (p.approve.length) parts.push(`${dryRun ? 'would approve' : 'approved'} ${p.approve.join(', ')}`);
    if (p.alreadyApproved.length) parts.push(`already approved ${p.alreadyApproved.join(', ')}`);
    if (p.notAllowed.length) parts.push(`not allowed by the config, left unapproved: ${p.notAllowed.join(', ')}`);
    if (p.otherApproved.length) parts.push(`other approved routes left as they are: ${p.otherApproved.join(', ')}`);
    if (!parts.length) parts.push('advertises none of the allowed routes');
    lines.push(`  ${who}: ${parts.join('; ')}`);
  }
  return lines;
}

export async function approveHeadscaleRoutes(ctx: OpsContext, opts: RemoteOptions = {}): Promise<OpResult> {
  const h = ctx.config.headscale;
  if (!h) return { changed: false, summary: 'no headscale section: nothing to approve' };
  const selector = selectorFromConfig(ctx.config);
  const allowed = h.routes;
  ctx.runner.heading(`Headscale routes on ${h.host} (nodes ${describeSelector(selector)}; allowed ${allowed.join(', ')}):`);
  return withRemote(ctx, headscaleTarget(ctx), opts, async (host) => {
    const detected = await detectGeneration(host);
    const nodes = await listNodes(host);
    if (!detected || !nodes) {
      // Plan mode: the state is unknown, so describe the steps.
      host.note(
        `approve, on each node ${describeSelector(selector)}, the advertised routes among ${allowed.join(', ')}: ` +
          `≥0.26 headscale nodes approve-routes --identifier ID --routes <approved+allowed>; ≤0.25 routes list -o json + routes enable --route ID`,
      );
      return { changed: false, summary: `would approve advertised routes among ${allowed.join(', ')}` };
    }
    const selected = selectNodes(nodes, selector);
    if (!selected.length) {
      const seen = nodes.map((n) => `${n.givenName}${n.user ? `/${n.user}` : ''}${n.tags.length ? `[${n.tags.join(',')}]` : ''}`).join(', ') || 'none';
      throw new Error(
        `no Headscale node matches (${describeSelector(selector)}) on ${h.host}; registered nodes: ${seen}. ` +
          `Check that the cluster's nodes joined the tailnet (Tailscale extension, TAILSCALE_AUTHKEY) or fix headscale.nodes/tag/user`,
      );
    }
    let plan: ApprovalPlan;
    if (detected.generation === 'nodes') {
      plan = planFromNodes(selected, allowed);
    } else {
      const res = await host.read(routesListArgv());
      plan = planFromRoutes(selected, res ? parseRoutes(res.stdout) : [], allowed);
    }
    const commands = approvalCommands(plan, detected.generation);
    for (const argv of commands) await host.change(argv);
    const count = plan.nodes.reduce((n, p) => n + p.approve.length, 0);
    const lines = [`Headscale ${detected.version} on ${h.host}: ${selected.length} node(s) ${describeSelector(selector)}`, ...formatPlan(plan, ctx.runner.dryRun)];
    if (plan.unadvertised.length) {
      lines.push(`  not advertised by any of these nodes: ${plan.unadvertised.join(', ')} (TS_ROUTES of the nodes' Tailscale extension)`);
    }
    lines.push(count ? `${ctx.runner.dryRun ? 'would approve' : 'approved'} ${count} route(s)` : 'no changes');
    ctx.log.print(lines.join('\n'));
    for (const p of plan.nodes) if (p.notAllowed.length) ctx.log.warn(`${p.node.givenName} advertises routes the config does not allow; left unapproved`, { routes: p.notAllowed.join(',') });
    const summary = count
      ? `${ctx.runner.dryRun ? 'would approve' : 'approved'} ${count} route(s) on ${plan.nodes.filter((p) => p.approve.length).length} node(s)`
      : `no changes (${plan.nodes.reduce((n, p) => n + p.alreadyApproved.length, 0)} allowed route(s) already approved)`;
    return { changed: count > 0 && !ctx.runner.dryRun, summary };
  });
}

/** Destroy: deletes the cluster's nodes (same selection as the approval) from Headscale. */
export async function removeHeadscaleNodes(ctx: OpsContext, opts: RemoteOptions = {}): Promise<OpResult> {
  const h = ctx.config.headscale;
  if (!h) return { changed: false, summary: 'no headscale section: nothing to remove' };
  const selector = selectorFromConfig(ctx.config);
  ctx.runner.heading(`Headscale nodes on ${h.host} (${describeSelector(selector)}):`);
  return withRemote(ctx, headscaleTarget(ctx), opts, async (host) => {
    const nodes = await listNodes(host);
    if (!nodes) {
      host.note(`delete each node ${describeSelector(selector)}: headscale nodes delete --identifier ID --force`);
      return { changed: false, summary: `would delete the nodes ${describeSelector(selector)}` };
    }
    const selected = selectNodes(nodes, selector);
    for (const n of selected) await host.change(deleteNodeArgv(n.id));
    const names = selected.map((n) => n.givenName).join(', ');
    if (!selected.length) return { changed: false, summary: 'no changes (no matching Headscale node)' };
    return { changed: !ctx.runner.dryRun, summary: `${ctx.runner.dryRun ? 'would delete' : 'deleted'} ${selected.length} Headscale node(s): ${names}` };
  });
}
