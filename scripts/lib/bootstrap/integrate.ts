import * as fluxInstall from '../flux/install.ts';
import * as kustomizations from '../flux/kustomizations.ts';
import { formatArgv } from '../core/runner.ts';
import { BootstrapError } from './errors.ts';
import { integrations, type Integration } from './integrations.ts';
import { commitAndPush } from './publish.ts';
import { act, deadline, lastLine, plural, poll, waitUntil, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 7: the SSH/API integrations, each only when its config section is present, in their real order (see
// integrations.ts): a step that gives Flux something (the CSI token) publishes it — commit, push, reconcile — as soon
// as it is done; a step that talks to an in-cluster service (PowerDNS) first waits, bounded and with progress, for the
// Kustomization that runs it; independent steps (Headscale) run alongside. Every step runs to its own end: one failing
// never stops or undoes another (what is published stays published); the phase then fails naming each failure, and
// the next run repeats only what is missing (every step is idempotent).

/** Serialises git commit/push between steps that publish (one working tree, one branch). */
function serial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  };
}

/** Waits until the named Kustomizations (flux-system/NAME) are Ready; one missing from the cluster is reported, not awaited. */
export async function waitForKustomizations(p: PhaseContext, names: string[], why: string): Promise<void> {
  const ids = names.map((n) => `${kustomizations.FLUX_NAMESPACE}/${n}`);
  if (p.runner.dryRun) {
    p.runner.planOnly(`? ${formatArgv(kustomizations.kustomizationsArgv())}   # until ${names.join(', ')} Ready (${why})`);
    return;
  }
  let absent: string[] = [];
  await waitUntil(p, {
    what: `Kustomization ${names.join(', ')} to be Ready (${why})`,
    timeoutMs: deadline(p, 'kustomizations'),
    maxIntervalMs: 5000,
    check: async () => {
      const res = await poll(p, kustomizations.kustomizationsArgv(), { timeoutMs: 30_000 });
      if (!res.ok) return { done: false, detail: lastLine(res) };
      const all = kustomizations.parseKustomizations(res.stdout);
      if (!all.length) return { done: false, detail: 'no Kustomizations yet' };
      const wanted = ids.map((id) => all.find((k) => k.id === id));
      absent = ids.filter((_, i) => !wanted[i]);
      const waiting = wanted.filter((k): k is kustomizations.KustomizationState => !!k && k.ready !== 'True');
      return { done: waiting.length === 0, detail: waiting.map((k) => kustomizations.describe(k)).join('; ') || 'Ready' };
    },
    hint: '`flux get kustomizations -A` shows what it waits for; fix that and run `task bootstrap` again (it resumes here)',
  });
  if (absent.length) p.log.warn(`${absent.join(', ')}: no such Kustomization in this cluster; not waited for`);
}

export async function integrationsPhase(p: PhaseContext): Promise<PhaseOutcome> {
  const steps = integrations(p);
  if (!steps.length) {
    p.runner.planOnly('# nothing configured (no headscale, proxmoxCsi, powerdns or vps section)');
    return { changed: false, summary: 'none configured' };
  }
  const publishing = serial();
  let pushed = false;
  const one = async (s: Integration) => {
    if (s.needs?.length) await waitForKustomizations(p, s.needs, `${s.name} talks to it`);
    const r = await s.run(p);
    p.note(`${s.name}: ${r.summary}`);
    if (s.publishes) {
      const { files, message, ready } = s.publishes;
      const out = await publishing(() => commitAndPush(p, files, message));
      if (out.pushed) {
        pushed = true;
        await act(p, fluxInstall.reconcileSourceArgv(), { timeoutMs: 5 * 60_000 });
      }
      await waitForKustomizations(p, ready, `Flux applies what ${s.name} published`);
    }
    return { name: s.name, ...r };
  };
  // Each step on its own; one after the other in the plan, so each step's lines stay together.
  const settled: PromiseSettledResult<Awaited<ReturnType<typeof one>>>[] = [];
  if (p.runner.dryRun) for (const s of steps) settled.push(await one(s).then((value) => ({ status: 'fulfilled' as const, value }), (reason: unknown) => ({ status: 'rejected' as const, reason })));
  else settled.push(...(await Promise.allSettled(steps.map(one))));
  const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [{ name: steps[i]!.name, error: r.reason as Error }] : []));
  const done = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed.length === 1 && done.length === 0) throw failed[0]!.error;
  if (failed.length) {
    for (const f of failed) p.log.error(`${f.name}: ${f.error.message}`);
    throw new BootstrapError(
      `${plural(failed.length, 'integration step')} failed (${failed.map((f) => f.name).join(', ')}); ${done.length ? `kept what the others did: ${done.map((d) => `${d.name}: ${d.summary}`).join('; ')}` : 'none finished'}`,
      'the errors above say why; fix them and run `task bootstrap` again: it resumes here and repeats only what is missing',
    );
  }
  return {
    changed: done.some((r) => r.changed) || pushed,
    summary: done.map((r) => `${r.name}: ${r.summary}`).join('; '),
  };
}
