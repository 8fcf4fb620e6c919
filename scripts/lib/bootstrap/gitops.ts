import * as kustomizations from '../flux/kustomizations.ts';
import * as fluxInstall from '../flux/install.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import { formatArgv } from '../core/runner.ts';
import { readSuspendRecord, resumeAll, suspendRecordFile } from '../day2/flux.ts';
import { act, deadline, lastLine, poll, probe, waitUntil, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 6: `flux bootstrap github` (skipped when Flux already syncs this repo, branch and path), then the
// Kustomizations Ready in dependency order, each one's state printed as it changes. After a partial
// cluster:safe-reset Flux is still installed and suspended: the phase resumes what safe-reset suspended (its record
// in the state directory says which objects) before it waits.

export interface WaitKustomizationsOptions {
  /** Include Kustomizations labelled bootstrap.home-ops/wait=verify (they need the integrations phase). */
  includeDeferred: boolean;
  what: string;
}

/** Waits until every (non-deferred) Kustomization is Ready; logs each transition; returns the final states. */
export async function waitKustomizations(p: PhaseContext, o: WaitKustomizationsOptions): Promise<kustomizations.KustomizationState[]> {
  if (p.runner.dryRun) p.runner.planOnly(`? ${formatArgv(kustomizations.kustomizationsArgv())}`);
  const seen = new Map<string, string>();
  let last: kustomizations.KustomizationState[] = [];
  await waitUntil(p, {
    what: o.what,
    timeoutMs: deadline(p, 'kustomizations'),
    maxIntervalMs: 5000,
    check: async () => {
      const res = await poll(p, kustomizations.kustomizationsArgv(), { timeoutMs: 30_000 });
      if (!res.ok) return { done: false, detail: lastLine(res) };
      const all = kustomizations.dependencyOrder(kustomizations.parseKustomizations(res.stdout));
      last = all;
      for (const ks of all) {
        const line = kustomizations.describe(ks);
        if (seen.get(ks.id) !== line) {
          seen.set(ks.id, line);
          p.log.info(`kustomization ${line}`);
        }
      }
      const relevant = all.filter((ks) => (o.includeDeferred || !ks.deferred) && !ks.suspended);
      const notReady = relevant.filter((ks) => ks.ready !== 'True');
      // In dependency order, the first one not Ready is what everything after it waits for.
      const head = notReady[0];
      return {
        done: relevant.length > 0 && notReady.length === 0,
        detail: relevant.length === 0 ? (all.some((ks) => ks.suspended) ? 'every Kustomization is suspended' : 'no Kustomizations yet') : `${relevant.length - notReady.length}/${relevant.length} Ready${head ? `; next: ${kustomizations.describe(head)}` : ''}`,
      };
    },
    diagnose: async () => last.map((ks) => `${ks.id}: ${ks.ready} ${ks.reason ?? ''} ${ks.message ?? ''}`.trim()).join('\n'),
    hint: '`flux get kustomizations -A` and `flux logs --level=error` show why; fix the manifests in git and push — the next run waits again',
  });
  return last;
}

export async function gitops(p: PhaseContext): Promise<PhaseOutcome> {
  const c = p.config;
  p.versions.flux = c.versions.flux;
  const target = { owner: c.github.owner, repository: c.github.repository, branch: c.github.branch, path: c.github.path };
  const repo = await probe(p, fluxInstall.gitRepositoryArgv());
  const ks = await probe(p, fluxInstall.fluxSystemKustomizationArgv());
  let bootstrapped = false;
  if (repo.ok && ks.ok && fluxInstall.syncMatches(kubectl.parseObject(repo.stdout), kubectl.parseObject(ks.stdout), target)) {
    p.note(`flux already syncs ${c.github.owner}/${c.github.repository}@${c.github.branch}:${c.github.path}`);
  } else {
    const hostname = fluxInstall.githubHostname(p.opts.env.GITHUB_API_URL);
    await act(p, fluxInstall.bootstrapGithubArgv({ ...target, personal: c.github.personal, version: c.versions.flux, ...(hostname ? { hostname } : {}) }), {
      env: { GITHUB_TOKEN: p.secrets.GITHUB_TOKEN },
      timeoutMs: deadline(p, 'fluxBootstrap'),
      hint: 'flux bootstrap is safe to re-run: check GITHUB_TOKEN (repo admin for the deploy key), then `task bootstrap` again',
    });
    bootstrapped = true;
    p.note(`flux bootstrap github ${c.github.owner}/${c.github.repository}@${c.github.branch}:${c.github.path}`);
  }
  await resumeAfterSafeReset(p);
  await refuseEverySuspended(p);
  const states = await waitKustomizations(p, { includeDeferred: false, what: 'the Flux Kustomizations to be Ready (dependency order)' });
  const deferred = states.filter((s) => s.deferred).length;
  return {
    changed: bootstrapped,
    summary: `${bootstrapped ? 'flux bootstrapped' : 'flux current'}; ${states.filter((s) => s.ready === 'True').length}/${states.length} Kustomizations Ready${deferred ? ` (${deferred} wait for integrations)` : ''}`,
  };
}

/**
 * cluster:safe-reset suspends Flux before it resets nodes and records what it suspended; the bootstrap that brings
 * the nodes back resumes exactly those (objects suspended on purpose before stay suspended). A record of
 * `emergency-recovery -- flux suspend-all` is left alone: that pause is someone's repair in progress.
 */
async function resumeAfterSafeReset(p: PhaseContext): Promise<void> {
  const file = suspendRecordFile(p);
  const record = readSuspendRecord(file);
  if (record?.by !== 'safe-reset') return;
  p.note(`Flux was suspended by cluster:safe-reset at ${record.suspendedAt} (${record.objects.length} object(s), recorded in ${file}): resuming those`);
  const res = await resumeAll({ ...p, waitScale: p.opts.waitScale });
  p.note(res.summary);
}

/** Every Kustomization suspended (by hand or by suspend-all): the wait below could only run out its deadline. */
async function refuseEverySuspended(p: PhaseContext): Promise<void> {
  if (p.runner.dryRun) return;
  const res = await poll(p, kustomizations.kustomizationsArgv(), { timeoutMs: 30_000 });
  if (!res.ok) return; // the wait reports an API that does not answer
  const relevant = kustomizations.parseKustomizations(res.stdout).filter((ks) => !ks.deferred);
  if (relevant.length === 0 || !relevant.every((ks) => ks.suspended)) return;
  const record = readSuspendRecord(suspendRecordFile(p));
  throw new Error(
    `every Flux Kustomization is suspended (${relevant.map((ks) => ks.name).join(', ')}${record ? `; by ${record.by} at ${record.suspendedAt}` : ''}): ` +
      'this phase waits for what Flux applies and would wait in vain. When the work that suspended Flux is finished: ' +
      '`task cluster:emergency-recovery -- flux resume-all`, then `task bootstrap` again',
  );
}
