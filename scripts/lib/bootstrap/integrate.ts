import { join } from 'node:path';
import { REPO_ROOT } from '../core/paths.ts';
import * as fluxInstall from '../flux/install.ts';
import { integrations } from './integrations.ts';
import { commitAndPush } from './publish.ts';
import { act, parallel, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 7: the SSH/API integrations, each only when its config section is present. They are independent of each
// other and run concurrently. What they seal into the GitOps tree is committed and pushed here, then Flux is told.

async function sequential<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}

export async function integrationsPhase(p: PhaseContext): Promise<PhaseOutcome> {
  const steps = integrations(p);
  if (!steps.length) {
    p.runner.planOnly('# nothing configured (no headscale, proxmoxCsi, powerdns or vps section)');
    return { changed: false, summary: 'none configured' };
  }
  const one = async (s: (typeof steps)[number]) => {
    const r = await s.run(p);
    p.note(`${s.name}: ${r.summary}`);
    return { name: s.name, ...r };
  };
  // Concurrent for real; one after the other in the plan, so each step's lines stay together.
  const results = p.runner.dryRun ? await sequential(steps, one) : await parallel(p, steps, one);
  // Anything the steps sealed into this cluster's tree (e.g. the Proxmox CSI token) reaches Flux through the remote.
  const tree = join(REPO_ROOT, 'kubernetes', 'clusters', p.config.cluster.name);
  const { pushed } = await commitAndPush(p, [tree], `bootstrap(${p.config.cluster.name}): integration secrets`);
  if (pushed) await act(p, fluxInstall.reconcileSourceArgv(), { timeoutMs: 5 * 60_000 });
  return {
    changed: results.some((r) => r.changed) || pushed,
    summary: results.map((r) => `${r.name}: ${r.summary}`).join('; '),
  };
}
