import type { OpsContext } from '../core/context.ts';
import { MINUTE, scaledDeadline } from '../core/steps.ts';

// What every day-2 operation gets and its deadlines. The step primitives (probe, act, waitUntil, …) are the shared
// ones of core/steps.ts, re-exported here for the day-2 and recovery modules.
export { act, fileStamp, goDuration, lastLine, planNote, plural, poll, probe, waitUntil } from '../core/steps.ts';

export interface Day2Context extends OpsContext {
  /** Multiplies every deadline (slow hardware: 2). */
  waitScale: number;
}

/** Default deadlines; --wait-scale multiplies them. */
export const DEADLINES = {
  /** A reset node back in maintenance mode (wipe, reboot, boot). */
  reset: 15 * MINUTE,
  /** An upgraded or rebooted node answering again with its new version. */
  reboot: 15 * MINUTE,
  /** `talosctl health` as a gate before/after a node. */
  health: 10 * MINUTE,
  /** etcd back to all members after a restore or rejoin. */
  etcd: 15 * MINUTE,
  /** The API after a restore. */
  api: 10 * MINUTE,
  /** Nodes Ready after a Cilium reinstall. */
  nodesReady: 10 * MINUTE,
  /** talosctl upgrade-k8s runs its own waits. */
  upgradeK8s: 60 * MINUTE,
  terraform: 60 * MINUTE,
  helm: 10 * MINUTE,
  /** Any single command. */
  command: 5 * MINUTE,
} as const;

export function deadline(ctx: Day2Context, name: keyof typeof DEADLINES): number {
  return scaledDeadline(DEADLINES, name, ctx.waitScale);
}
