import { formatArgv } from '../core/runner.ts';
import { lastLine, poll, waitUntil, type StepContext } from '../core/steps.ts';
import { nodesArgv, parseNodes, readinessSummary } from './kubectl.ts';

// The "every node Ready" wait of the bootstrap (cni, verify) and the recovery (cilium).

export interface NodesReadyWait {
  what: string;
  timeoutMs: number;
  /** The nodes that must be Ready (the config's). */
  names: string[];
  diagnose?: () => Promise<string>;
  hint?: string;
  /** Print the probe in a --dry-run plan (default true). */
  planProbe?: boolean;
}

/** Waits until every named node is Ready; returns the last readiness summary ('' under --dry-run). */
export async function waitNodesReady(ctx: StepContext, w: NodesReadyWait): Promise<string> {
  if (ctx.runner.dryRun && w.planProbe !== false) ctx.runner.planOnly(`? ${formatArgv(nodesArgv())}`);
  let summary = '';
  await waitUntil(ctx, {
    what: w.what,
    timeoutMs: w.timeoutMs,
    check: async () => {
      const res = await poll(ctx, nodesArgv(), { timeoutMs: 30_000 });
      if (!res.ok) return { done: false, detail: lastLine(res) };
      const nodes = parseNodes(res.stdout).filter((n) => w.names.includes(n.name));
      summary = readinessSummary(nodes, w.names);
      return { done: nodes.length === w.names.length && nodes.every((n) => n.ready), detail: summary };
    },
    ...(w.diagnose ? { diagnose: w.diagnose } : {}),
    ...(w.hint ? { hint: w.hint } : {}),
  });
  return summary;
}
