import type { OpsContext } from '../core/context.ts';
import { MINUTE, scaledDeadline } from '../core/steps.ts';
import type { PhaseRecord } from '../core/state.ts';
import type { PhaseName } from './phases.ts';

// What a phase gets and its deadlines. The step primitives (probe, act, waitUntil, …) are the shared ones of
// core/steps.ts, re-exported here for the phases.
export { act, goDuration, lastLine, parallel, planNote, plural, poll, pollPause, probe, waitUntil } from '../core/steps.ts';

export interface BootstrapOptions {
  /** Multiplies every deadline (slow hardware: 2). */
  waitScale: number;
  /** Environment (GITHUB_API_URL, DBUS_SESSION_BUS_ADDRESS, …); process.env unless a test passes its own. */
  env: NodeJS.ProcessEnv;
}

export interface PhaseContext extends OpsContext {
  phase: PhaseName;
  opts: BootstrapOptions;
  /** Remembers one line per thing done or skipped; the summary shows them. */
  note(line: string): void;
  /** Versions the phase acted with, recorded in the state file. */
  versions: Record<string, string>;
  /** Facts for the state file (what was applied, hashes of inputs). */
  facts: Record<string, unknown>;
  /** This phase's record from an earlier run, if any. */
  previous?: PhaseRecord;
}

export interface PhaseOutcome {
  /** One line for the summary table. */
  summary: string;
  changed: boolean;
}

/** Default deadlines; `--wait-scale` multiplies them. */
export const DEADLINES = {
  nodesReachable: 10 * MINUTE,
  nodesConfigured: 15 * MINUTE,
  etcdService: 10 * MINUTE,
  etcdMembers: 10 * MINUTE,
  apiServer: 10 * MINUTE,
  vip: 5 * MINUTE,
  nodesReady: 10 * MINUTE,
  health: 10 * MINUTE,
  kustomizations: 30 * MINUTE,
  terraformApply: 60 * MINUTE,
  terraformOther: 10 * MINUTE,
  helm: 10 * MINUTE,
  fluxBootstrap: 12 * MINUTE,
} as const;

export function deadline(p: PhaseContext, name: keyof typeof DEADLINES): number {
  return scaledDeadline(DEADLINES, name, p.opts.waitScale);
}
