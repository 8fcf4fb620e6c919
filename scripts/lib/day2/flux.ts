import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { controlPlanes } from '../config/nodes.ts';
import { RefusalError } from '../core/cli.ts';
import { readIfExists, writeAtomic } from '../core/files.ts';
import type { OpResult } from '../core/context.ts';
import { formatArgv } from '../core/runner.ts';
import * as kustomizations from '../flux/kustomizations.ts';
import * as fluxSuspend from '../flux/suspend.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import * as kubeconfig from '../kubernetes/kubeconfig.ts';
import { act, lastLine, probe, type Day2Context } from './steps.ts';

// Pausing Flux around resets and repairs, and un-pausing exactly what we paused. `suspend-all` records the objects it
// suspended in the state directory; `resume-all` resumes those (a Kustomization someone suspended on purpose before
// stays suspended), or every suspended one when there is no record (e.g. after the cluster was rebuilt).
// The API is reached as the recovery diagnosis reaches it: through the kubeconfig (the VIP), else through the first
// control plane whose own API answers — a dead VIP must not let Flux run on while nodes are reset.

export function suspendRecordFile(ctx: { paths: { dir: string } }): string {
  return join(ctx.paths.dir, 'flux-suspended.json');
}

export interface SuspendRecord {
  suspendedAt: string;
  by: string;
  objects: fluxSuspend.FluxObject[];
}

/** The record suspend-all left; undefined when there is none. A damaged one stops with the file's name and the way out. */
export function readSuspendRecord(file: string): SuspendRecord | undefined {
  if (!existsSync(file)) return undefined;
  let record: Partial<SuspendRecord> | undefined;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as Partial<SuspendRecord>;
  } catch {
    record = undefined;
  }
  if (!record || typeof record !== 'object' || !Array.isArray(record.objects)) {
    throw new RefusalError(
      `${file} is damaged (not the JSON record suspend-all writes). It lists the Flux objects suspend-all suspended, so that ` +
        `resume-all resumes only those. Move it aside (mv '${file}' '${file}.damaged'): resume-all then resumes every suspended object`,
    );
  }
  return record as SuspendRecord;
}

/** Flux objects in the cluster; undefined when the API does not answer. HelmReleases are optional (no CRD: none). */
export async function listFluxObjects(ctx: Day2Context, env?: Record<string, string>): Promise<fluxSuspend.FluxObject[] | undefined> {
  const ks = await probe(ctx, kustomizations.kustomizationsArgv(), { timeoutMs: 60_000, ...(env ? { env } : {}) });
  if (!ks.ok) return undefined;
  const hr = await probe(ctx, fluxSuspend.helmReleasesArgv(), { timeoutMs: 60_000, ...(env ? { env } : {}) });
  return [...fluxSuspend.parseSuspendable('kustomization', ks.stdout), ...(hr.ok ? fluxSuspend.parseSuspendable('helmrelease', hr.stdout) : [])];
}

/** How kubectl and flux reach the API: `env` (a KUBECONFIG) when not through the kubeconfig itself. */
interface FluxRoute {
  objects: fluxSuspend.FluxObject[];
  via: string;
  env?: Record<string, string>;
  /** Removes the temporary kubeconfig of a control-plane route. */
  close(): void;
}

interface FluxReach {
  route?: FluxRoute;
  /** Control planes whose API answered /readyz (when the kubeconfig's server did not). */
  answering: string[];
}

/**
 * Flux's objects through the kubeconfig (the VIP); when that does not answer, through the first control plane whose
 * API answers /readyz, with a temporary copy of the kubeconfig pointed at it (0600, removed by `close`).
 */
async function reachFlux(ctx: Day2Context): Promise<FluxReach> {
  const direct = await listFluxObjects(ctx);
  if (direct) return { route: { objects: direct, via: 'the kubeconfig', close: () => {} }, answering: [] };
  const current = readIfExists(ctx.paths.kubeconfig);
  const answering: string[] = [];
  for (const n of controlPlanes(ctx.config)) {
    const url = kubectl.apiServerUrl(n.ip);
    const ready = await probe(ctx, kubectl.readyzArgv(url), { timeoutMs: 20_000 });
    if (!ready.ok) continue;
    answering.push(`${n.name} (${url})`);
    if (!current) continue;
    const file = join(ctx.paths.dir, `kubeconfig.${n.name}.tmp`);
    writeAtomic(file, kubeconfig.withKubeconfigServer(current, url), 0o600);
    const close = () => rmSync(file, { force: true });
    const env = { KUBECONFIG: file };
    const objects = await listFluxObjects(ctx, env);
    if (objects) {
      ctx.log.info(`the kubeconfig's server does not answer; reaching Flux through ${n.name}'s API (${url})`);
      return { route: { objects, via: `${n.name}'s API (${url}; the kubeconfig's server does not answer)`, env, close }, answering };
    }
    close();
  }
  return { answering };
}

export interface SuspendOptions {
  /** Why (recorded): "safe-reset", "emergency-recovery". */
  by: string;
  /** Continue when the API does not answer (a reset does not need Flux paused on a dead API). */
  tolerateUnreachable: boolean;
}

export async function suspendAll(ctx: Day2Context, o: SuspendOptions): Promise<OpResult> {
  if (ctx.runner.dryRun) {
    ctx.runner.planOnly(`? ${formatArgv(kustomizations.kustomizationsArgv())}`);
    ctx.runner.planOnly(`? ${formatArgv(fluxSuspend.helmReleasesArgv())}`);
    ctx.runner.planOnly('# if the kubeconfig\'s server (the VIP) does not answer: the same through the first control plane whose API answers');
    ctx.runner.planOnly('$ flux suspend kustomization NAME… --namespace NS   (per namespace: every Kustomization not suspended yet)');
    ctx.runner.planOnly('$ flux suspend helmrelease NAME… --namespace NS     (per namespace: every HelmRelease not suspended yet)');
    ctx.runner.planOnly(`# record them in ${suspendRecordFile(ctx)} for resume-all`);
    return { changed: false, summary: 'flux suspend planned; nothing was changed (--dry-run)' };
  }
  const file = suspendRecordFile(ctx);
  const previous = readSuspendRecord(file)?.objects ?? [];
  const { route, answering } = await reachFlux(ctx);
  if (!route) {
    if (answering.length) {
      // An API that answers runs Flux's controllers too: going on would reset nodes under a reconciling Flux.
      throw new RefusalError(
        `the API answers on ${answering.join(', ')}, but Flux's objects could not be listed there${readIfExists(ctx.paths.kubeconfig) ? '' : ` (no kubeconfig at ${ctx.paths.kubeconfig})`}: ` +
          'Flux keeps running and was not suspended, so nothing more is done. `task cluster:emergency-recovery -- kubeconfig` gives a kubeconfig for a control plane; then run the same command again',
        { beforeAnyChange: false },
      );
    }
    const msg = 'no API answers (neither the kubeconfig\'s server nor any control plane): Flux cannot be listed or suspended';
    if (!o.tolerateUnreachable) throw new Error(`${msg}; \`task cluster:emergency-recovery\` diagnoses why`);
    ctx.log.warn(`${msg} (a dead API reconciles nothing; continuing)`);
    return { changed: false, summary: 'flux not reachable on any control plane, not suspended' };
  }
  try {
    const objects = route.objects;
    const todo = objects.filter((x) => !x.suspended);
    for (const g of fluxSuspend.groupByNamespace(todo)) {
      await act(ctx, fluxSuspend.suspendArgv(g.kind, g.names, g.namespace), { ...(route.env ? { env: route.env } : {}), hint: 'is the Flux CLI able to reach the API? `flux check`' });
    }
    const merged = [...previous, ...todo.filter((x) => !previous.some((p) => p.kind === x.kind && p.namespace === x.namespace && p.name === x.name))];
    const record: SuspendRecord = { suspendedAt: new Date().toISOString(), by: o.by, objects: merged.map((x) => ({ ...x, suspended: true })) };
    writeAtomic(file, JSON.stringify(record, null, 2) + '\n', 0o600);
    const already = objects.length - todo.length;
    return {
      changed: todo.length > 0,
      summary: `flux: suspended ${todo.length} object(s) through ${route.via}${already ? `, ${already} were suspended already (left as they are)` : ''}`,
    };
  } finally {
    route.close();
  }
}

export async function resumeAll(ctx: Day2Context): Promise<OpResult> {
  const file = suspendRecordFile(ctx);
  const record = readSuspendRecord(file);
  if (ctx.runner.dryRun) {
    const which = record ? `recorded in ${file}` : 'suspended now (no suspend-all record)';
    ctx.runner.planOnly(`? ${formatArgv(kustomizations.kustomizationsArgv())}`);
    ctx.runner.planOnly(`? ${formatArgv(fluxSuspend.helmReleasesArgv())}`);
    ctx.runner.planOnly(`$ flux resume kustomization NAME… --namespace NS --wait=false   (per namespace: those ${which})`);
    ctx.runner.planOnly(`$ flux resume helmrelease NAME… --namespace NS --wait=false`);
    return { changed: false, summary: 'flux resume planned; nothing was changed (--dry-run)' };
  }
  const { route } = await reachFlux(ctx);
  if (!route) throw new Error('no API answers (neither the kubeconfig\'s server nor any control plane): cannot resume Flux; `task cluster:emergency-recovery` diagnoses why');
  try {
    const suspended = route.objects.filter((x) => x.suspended);
    const todo = record
      ? suspended.filter((x) => record.objects.some((r) => r.kind === x.kind && r.namespace === x.namespace && r.name === x.name))
      : suspended;
    // Every batch is tried; failures are collected so one bad namespace does not leave the rest paused.
    const failed: string[] = [];
    for (const g of fluxSuspend.groupByNamespace(todo)) {
      const res = await act(ctx, fluxSuspend.resumeArgv(g.kind, g.names, g.namespace), { check: false, ...(route.env ? { env: route.env } : {}) });
      if (!res.ok) failed.push(`${g.kind} ${g.names.join(',')} in ${g.namespace}: ${lastLine(res)}`);
    }
    if (failed.length) {
      throw new Error(`flux resume failed for ${failed.length} batch(es), the record ${file} is kept for a re-run:\n  ${failed.join('\n  ')}`);
    }
    if (record) rmSync(file, { force: true });
    const kept = suspended.length - todo.length;
    return {
      changed: todo.length > 0,
      summary: `flux: resumed ${todo.length} object(s)${kept ? `; ${kept} suspended before suspend-all stay suspended` : ''}`,
    };
  } finally {
    route.close();
  }
}
