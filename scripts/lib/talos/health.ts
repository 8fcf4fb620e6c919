import { controlPlanes, workers } from '../bootstrap/nodes.ts';
import type { ClusterConfig } from '../config/load.ts';
import type { NodeConfig } from '../config/schema.ts';
import type { RunResult } from '../core/runner.ts';
import { goDuration, probe, type StepContext } from '../core/steps.ts';
import { healthArgv } from './talosctl.ts';

// `talosctl health` over every node of the config, asked through one control plane: the bootstrap's cni phase and the
// day-2 health gates share it.

/**
 * Runs `talosctl health --wait-timeout <timeoutMs>` through `via` (a probe: printed with "?" under --dry-run); the
 * command gets a minute more than its own wait.
 */
export function talosHealth(ctx: StepContext & { config: ClusterConfig }, via: NodeConfig, timeoutMs: number): Promise<RunResult> {
  const c = ctx.config;
  return probe(
    ctx,
    healthArgv({ node: via.ip, controlPlanes: controlPlanes(c).map((n) => n.ip), workers: workers(c).map((n) => n.ip), waitTimeout: goDuration(timeoutMs) }),
    { timeoutMs: timeoutMs + 60_000 },
  );
}
