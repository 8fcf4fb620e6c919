import { createHash } from 'node:crypto';
import type { ClusterConfig } from '../config/load.ts';
import { UsageError } from '../core/cli.ts';
import type { PhaseRecord } from '../core/state.ts';

// Phase names, their order and which of them a run executes: pure, unit-tested.

export const PHASES = ['preflight', 'infra', 'talos', 'cni', 'secrets', 'gitops', 'integrations', 'verify'] as const;
export type PhaseName = (typeof PHASES)[number];

export const PHASE_TITLES: Record<PhaseName, string> = {
  preflight: 'tools, config, generated files, git pushed, GitHub token, SSH host keys',
  infra: 'Terraform layers in dependency order (plan, then apply exactly that plan)',
  talos: 'Talos secrets, machine configs, apply to nodes in maintenance mode, etcd bootstrap, kubeconfig via the VIP',
  cni: 'Cilium (helm), every node Ready, talosctl health',
  secrets: 'stable sealed-secrets keypair, active key in the cluster, bootstrap secrets sealed and pushed',
  gitops: 'flux bootstrap github, Kustomizations Ready in dependency order',
  integrations: 'Headscale routes, Proxmox CSI token, PowerDNS, VPS public entry (each when configured)',
  verify: 'nodes Ready, Flux healthy, summary',
};

export function isPhase(name: string): name is PhaseName {
  return (PHASES as readonly string[]).includes(name);
}

export class PhaseSelectionError extends UsageError {
  override name = 'PhaseSelectionError';
}

export interface Selection {
  from?: string;
  only?: string;
}

export type PlanReason = 'always' | 'selected' | 'pending' | 'failed' | 'interrupted' | 'config-changed' | 'done';

export interface PlannedPhase {
  name: PhaseName;
  run: boolean;
  reason: PlanReason;
}

function checkName(flag: string, value: string): PhaseName {
  if (!isPhase(value)) throw new PhaseSelectionError(`${flag} ${value}: unknown phase; phases are ${PHASES.join(', ')}`);
  return value;
}

/**
 * Which phases a run executes.
 * - `--only P`: just P. `--from P`: P and everything after it, whatever the state file says.
 * - Neither: resume. preflight and verify always run (they only read); any other phase runs unless the state file
 *   records it done for the same config (a changed config re-runs it; its probes keep it from redoing what exists).
 * A dry run ignores the state file: the plan always shows the cold-start path.
 */
export function selectPhases(sel: Selection, state: (name: PhaseName) => PhaseRecord, configHash: string, dryRun = false): PlannedPhase[] {
  if (sel.from && sel.only) throw new PhaseSelectionError('--from and --only cannot be combined');
  if (sel.only) {
    const only = checkName('--only', sel.only);
    return PHASES.map((name) => ({ name, run: name === only, reason: name === only ? 'selected' : 'done' }));
  }
  if (sel.from) {
    const from = PHASES.indexOf(checkName('--from', sel.from));
    return PHASES.map((name, i) => ({ name, run: i >= from, reason: i >= from ? 'selected' : 'done' }));
  }
  return PHASES.map((name) => {
    if (name === 'preflight' || name === 'verify' || dryRun) return { name, run: true, reason: dryRun ? 'selected' : 'always' };
    const rec = state(name);
    if (rec.status === 'done' && rec.facts?.configHash === configHash) return { name, run: false, reason: 'done' };
    if (rec.status === 'done' || rec.status === 'skipped') return { name, run: true, reason: rec.facts?.configHash === configHash ? 'pending' : 'config-changed' };
    if (rec.status === 'failed') return { name, run: true, reason: 'failed' };
    if (rec.status === 'interrupted' || rec.status === 'running') return { name, run: true, reason: 'interrupted' };
    return { name, run: true, reason: 'pending' };
  });
}

/** A stable hash of the validated config: a phase done for another config runs again. */
export function configHash(c: ClusterConfig): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]))
        : v;
  return createHash('sha256').update(JSON.stringify(canonical(c))).digest('hex').slice(0, 16);
}
