import { CommandError } from '../core/runner.ts';
import * as fluxInstall from '../flux/install.ts';
import { waitNodesReady } from '../kubernetes/nodes.ts';
import { waitKustomizations } from './gitops.ts';
import { deadline, probe, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 8: read-only. Nodes Ready, Flux controllers healthy, every Kustomization Ready (including the ones that
// waited for the integrations phase). The summary table is printed by the runner after it.

export async function verify(p: PhaseContext): Promise<PhaseOutcome> {
  const summary = await waitNodesReady(p, { what: 'every node to be Ready', timeoutMs: deadline(p, 'nodesReady'), names: p.config.nodes.map((n) => n.name) });
  const check = await probe(p, fluxInstall.checkArgv(), { timeoutMs: 2 * 60_000 });
  if (!check.dryRun && !check.ok) throw new CommandError(check, '`flux check` names the unhealthy controller; `kubectl -n flux-system get pods` shows it');
  const ks = await waitKustomizations(p, { includeDeferred: true, what: 'every Flux Kustomization to be Ready' });
  return { changed: false, summary: p.runner.dryRun ? 'checks planned' : `${summary}; flux healthy; ${ks.length} Kustomizations Ready` };
}
