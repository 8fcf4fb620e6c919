import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../core/files.ts';
import type { OpResult } from '../core/context.ts';
import { formatArgv } from '../core/runner.ts';
import * as kustomizations from '../flux/kustomizations.ts';
import * as fluxSuspend from '../flux/suspend.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import { act, lastLine, probe, type Day2Context } from './steps.ts';

// Pausing Flux around resets and repairs, and un-pausing exactly what we paused. `suspend-all` records the objects it
// suspended in the state directory; `resume-all` resumes those (a Kustomization someone suspended on purpose before
// stays suspended), or every suspended one when there is no record (e.g. after the cluster was rebuilt).

export function suspendRecordFile(ctx: { paths: { dir: string } }): string {
  return join(ctx.paths.dir, 'flux-suspended.json');
}

interface SuspendRecord {
  suspendedAt: string;
  by: string;
  objects: fluxSuspend.FluxObject[];
}

function readRecord(file: string): SuspendRecord | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SuspendRecord;
  } catch {
    return undefined;
  }
}

/** Flux objects in the cluster; undefined when the API does not answer. HelmReleases are optional (no CRD: none). */
export async function listFluxObjects(ctx: Day2Context, server?: string): Promise<fluxSuspend.FluxObject[] | undefined> {
  const ks = await probe(ctx, kubectl.withServer(kustomizations.kustomizationsArgv(), server), { timeoutMs: 60_000 });
  if (!ks.ok) return undefined;
  const hr = await probe(ctx, kubectl.withServer(fluxSuspend.helmReleasesArgv(), server), { timeoutMs: 60_000 });
  return [...fluxSuspend.parseSuspendable('kustomization', ks.stdout), ...(hr.ok ? fluxSuspend.parseSuspendable('helmrelease', hr.stdout) : [])];
}

export interface SuspendOptions {
  /** Why (recorded): "safe-reset", "emergency-recovery". */
  by: string;
  /** Continue when the API does not answer (a reset does not need Flux paused on a dead API). */
  tolerateUnreachable: boolean;
}

export async function suspendAll(ctx: Day2Context, o: SuspendOptions): Promise<OpResult> {
  const objects = await listFluxObjects(ctx);
  if (ctx.runner.dryRun) {
    ctx.runner.planOnly(`? ${formatArgv(fluxSuspend.helmReleasesArgv())}`);
    ctx.runner.planOnly('$ flux suspend kustomization NAME… --namespace NS   (per namespace: every Kustomization not suspended yet)');
    ctx.runner.planOnly('$ flux suspend helmrelease NAME… --namespace NS     (per namespace: every HelmRelease not suspended yet)');
    ctx.runner.planOnly(`# record them in ${suspendRecordFile(ctx)} for resume-all`);
    return { changed: true, summary: 'flux suspend planned' };
  }
  if (!objects) {
    const msg = 'the Kubernetes API does not answer: Flux cannot be listed or suspended';
    if (!o.tolerateUnreachable) throw new Error(`${msg}; if the VIP is down, run \`task cluster:emergency-recovery -- kubeconfig\` first`);
    ctx.log.warn(`${msg} (a dead API reconciles nothing; continuing)`);
    return { changed: false, summary: 'flux not reachable, not suspended' };
  }
  const todo = objects.filter((x) => !x.suspended);
  for (const g of fluxSuspend.groupByNamespace(todo)) {
    await act(ctx, fluxSuspend.suspendArgv(g.kind, g.names, g.namespace), { hint: 'is the Flux CLI able to reach the API? `flux check`' });
  }
  const file = suspendRecordFile(ctx);
  const previous = readRecord(file)?.objects ?? [];
  const merged = [...previous, ...todo.filter((x) => !previous.some((p) => p.kind === x.kind && p.namespace === x.namespace && p.name === x.name))];
  writeAtomic(file, JSON.stringify({ suspendedAt: new Date().toISOString(), by: o.by, objects: merged.map((x) => ({ ...x, suspended: true })) }, null, 2) + '\n', 0o600);
  const already = objects.length - todo.length;
  return {
    changed: todo.length > 0,
    summary: `flux: suspended ${todo.length} object(s)${already ? `, ${already} were suspended already (left as they are)` : ''}`,
  };
}

export async function resumeAll(ctx: Day2Context): Promise<OpResult> {
  const file = suspendRecordFile(ctx);
  const record = readRecord(file);
  const objects = await listFluxObjects(ctx);
  if (ctx.runner.dryRun) {
    const which = record ? `recorded in ${file}` : 'suspended now (no suspend-all record)';
    ctx.runner.planOnly(`? ${formatArgv(fluxSuspend.helmReleasesArgv())}`);
    ctx.runner.planOnly(`$ flux resume kustomization NAME… --namespace NS --wait=false   (per namespace: those ${which})`);
    ctx.runner.planOnly(`$ flux resume helmrelease NAME… --namespace NS --wait=false`);
    return { changed: true, summary: 'flux resume planned' };
  }
  if (!objects) throw new Error('the Kubernetes API does not answer: cannot resume Flux (VIP down? `task cluster:emergency-recovery -- kubeconfig`)');
  const suspended = objects.filter((x) => x.suspended);
  const todo = record
    ? suspended.filter((x) => record.objects.some((r) => r.kind === x.kind && r.namespace === x.namespace && r.name === x.name))
    : suspended;
  // Every batch is tried; failures are collected so one bad namespace does not leave the rest paused.
  const failed: string[] = [];
  for (const g of fluxSuspend.groupByNamespace(todo)) {
    const res = await act(ctx, fluxSuspend.resumeArgv(g.kind, g.names, g.namespace), { check: false });
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
}
