import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resumeAll, suspendAll } from '../day2/flux.ts';
import { fileStamp, type Day2Context } from '../day2/steps.ts';
import { ciliumAction, kubeconfigAction, rejoinAction, restoreAction, snapshotAction } from './actions.ts';
import { diagnose, type Finding } from './diagnose.ts';
import { gatherFacts } from './probes.ts';
import { renderReport, renderSummary } from './report.ts';
import type { SnapshotSource } from '../backups/remote.ts';

// emergency-recovery: the diagnosis (default) and the sub-actions, selected by positional words.

export const ACTIONS = {
  diagnose: 'probe Talos, etcd, services, the API/VIP, nodes, pods, Cilium and Flux; write a report; name the likely fault and the next command',
  kubeconfig: 'kubeconfig pointed at a control plane IP when the VIP is down (--node NAME); `kubeconfig --vip` switches back',
  'flux:suspend-all': 'suspend every Flux Kustomization and HelmRelease (recorded for resume-all)',
  'flux:resume-all': 'resume what suspend-all suspended (or every suspended object when there is no record)',
  cilium: 'reinstall Cilium only (the bootstrap\'s release and values), then wait for every node Ready',
  'etcd:snapshot': 'take an etcd snapshot into the state directory (--node NAME to choose the member)',
  'etcd:restore': 'restore etcd from a snapshot on the first control plane (--snapshot FILE, or --from s3 for the newest the in-cluster CronJob uploaded; default the newest local one; checked first: size and SHA-256); asks for the cluster name',
  'etcd:rejoin': 'a control plane lost its etcd member: remove the stale entry, wipe its etcd data, rejoin (--node NAME); asks for the cluster name',
} as const;

export type ActionName = keyof typeof ACTIONS;

const ALIASES: Record<string, ActionName> = {
  '': 'diagnose',
  diagnose: 'diagnose',
  kubeconfig: 'kubeconfig',
  'flux:suspend-all': 'flux:suspend-all',
  'suspend-all': 'flux:suspend-all',
  'flux:suspend': 'flux:suspend-all',
  'flux:resume-all': 'flux:resume-all',
  'resume-all': 'flux:resume-all',
  'flux:resume': 'flux:resume-all',
  cilium: 'cilium',
  'cilium:reinstall': 'cilium',
  'etcd:snapshot': 'etcd:snapshot',
  'etcd:restore': 'etcd:restore',
  'etcd:rejoin': 'etcd:rejoin',
};

/** `flux suspend-all`, `flux:suspend-all`, `suspend-all`, `etcd snapshot`, `etcd:snapshot` … → the action. */
export function parseAction(positionals: string[]): ActionName | undefined {
  const key = positionals.join(':').toLowerCase();
  return ALIASES[key];
}

/** Exit code of a diagnosis that found a fault (the report names it). */
export const EXIT_FAULT_FOUND = 5;

export interface RecoveryOptions {
  node?: string;
  vip: boolean;
  snapshot?: string;
  from?: SnapshotSource;
  raw: boolean;
  confirm?: string;
}

export async function runDiagnosis(ctx: Day2Context): Promise<{ findings: Finding[]; report: string }> {
  if (ctx.runner.dryRun) {
    ctx.log.print('the diagnosis only reads (talosctl, kubectl, helm probes) and writes a report; --dry-run has nothing to plan. Run it without --dry-run.');
    return { findings: [], report: '' };
  }
  ctx.log.info('probing the cluster (read-only)…');
  const { facts, records } = await gatherFacts(ctx);
  const findings = diagnose(facts);
  mkdirSync(ctx.paths.reports, { recursive: true, mode: 0o700 });
  const report = join(ctx.paths.reports, `recovery-${fileStamp()}.md`);
  writeFileSync(report, renderReport(facts, findings, records), { mode: 0o600 });
  ctx.log.print(renderSummary(findings, report));
  return { findings, report };
}

export async function runRecovery(ctx: Day2Context, action: ActionName, o: RecoveryOptions): Promise<number> {
  switch (action) {
    case 'diagnose': {
      const { findings } = await runDiagnosis(ctx);
      return findings.length === 0 || findings[0]?.id === 'healthy' ? 0 : EXIT_FAULT_FOUND;
    }
    case 'kubeconfig':
      ctx.log.info((await kubeconfigAction(ctx, { ...(o.node ? { node: o.node } : {}), vip: o.vip })).summary);
      return 0;
    case 'flux:suspend-all':
      ctx.log.info((await suspendAll(ctx, { by: 'emergency-recovery', tolerateUnreachable: false })).summary);
      return 0;
    case 'flux:resume-all':
      ctx.log.info((await resumeAll(ctx)).summary);
      return 0;
    case 'cilium':
      ctx.log.info((await ciliumAction(ctx)).summary);
      return 0;
    case 'etcd:snapshot': {
      const s = await snapshotAction(ctx, o.node);
      ctx.log.print(ctx.runner.dryRun ? '' : `etcd snapshot: ${s.file} (${s.bytes} bytes)`);
      return 0;
    }
    case 'etcd:restore':
      ctx.log.info(
        (await restoreAction(ctx, { ...(o.snapshot ? { snapshot: o.snapshot } : {}), ...(o.from ? { from: o.from } : {}), raw: o.raw, ...(o.confirm !== undefined ? { confirm: o.confirm } : {}) })).summary,
      );
      return 0;
    case 'etcd:rejoin':
      ctx.log.info((await rejoinAction(ctx, { node: o.node, ...(o.confirm !== undefined ? { confirm: o.confirm } : {}) })).summary);
      return 0;
  }
}
