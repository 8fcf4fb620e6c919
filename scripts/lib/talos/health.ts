import type { ClusterConfig } from '../config/load.ts';
import type { NodeConfig } from '../config/schema.ts';
import type { RunResult } from '../core/runner.ts';
import { at, table } from './talosctl.ts';
import { controlPlanes, workers } from '../config/nodes.ts';
import { goDuration, probe, type StepContext } from '../core/steps.ts';

// Health of nodes and their services: `talosctl health` over every node of the config (asked through one control
// plane; the bootstrap's cni phase and the day-2 health gates share it), and `service [ID]` with its parsers.

export function serviceArgv(ip: string, service: string): string[] {
  return [...at(ip), 'service', service];
}

export interface HealthInput {
  node: string;
  controlPlanes: string[];
  workers: string[];
  waitTimeout: string;
}

export function healthArgv(h: HealthInput): string[] {
  return [
    ...at(h.node), 'health',
    '--control-plane-nodes', h.controlPlanes.join(','),
    ...(h.workers.length ? ['--worker-nodes', h.workers.join(',')] : []),
    '--wait-timeout', h.waitTimeout,
  ];
}

export interface ServiceInfo {
  state?: string;
  health?: string;
}

/** `talosctl service etcd` prints a key/value block: NODE, ID, STATE, HEALTH, LAST HEALTH MESSAGE, EVENTS. */
export function parseServiceInfo(stdout: string): ServiceInfo {
  const info: ServiceInfo = {};
  for (const line of stdout.split('\n')) {
    const m = /^(STATE|HEALTH)\s+(\S.*?)\s*$/.exec(line);
    if (m) info[m[1] === 'STATE' ? 'state' : 'health'] = m[2];
  }
  return info;
}

export function servicesArgv(ip: string): string[] {
  return [...at(ip), 'service'];
}

export interface ServiceRow {
  node?: string;
  service: string;
  state: string;
  health: string;
}

/** `talosctl service`: `NODE  SERVICE  STATE  HEALTH  LAST CHANGE  LAST EVENT` (NODE only through apid). */
export function parseServiceTable(stdout: string): ServiceRow[] {
  const { header, rows } = table(stdout);
  const col = (name: string) => header.indexOf(name);
  const [node, service, state, health] = [col('NODE'), col('SERVICE'), col('STATE'), col('HEALTH')];
  if (service < 0 || state < 0) return [];
  return rows
    .filter((r) => r[service])
    .map((r) => ({
      ...(node >= 0 && r[node] ? { node: r[node] } : {}),
      service: r[service]!,
      state: r[state] ?? '',
      health: health >= 0 ? (r[health] ?? '') : '',
    }));
}

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
