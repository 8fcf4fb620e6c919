import { at, parseResourceStream } from './talosctl.ts';
import { formatArgv, type RunResult } from '../core/runner.ts';
import { poll, type StepContext } from '../core/steps.ts';

// Which mode a node is in, for the bootstrap, day-2 and recovery alike. Read-only.
//
//   maintenance: the insecure maintenance service answers (no machine config)
//   configured:  apid answers with our client certificate
//   down:        neither (off, booting, resetting, or another cluster's certificates)

/** Read-only; succeeds only while the node runs the maintenance service (no machine config yet). */
export function maintenanceProbeArgv(ip: string): string[] {
  return ['talosctl', 'get', 'disks', '--insecure', '--nodes', ip];
}

/** Read-only; succeeds once the node has a machine config and apid accepts our client certificate. */
export function machineStatusArgv(ip: string): string[] {
  return [...at(ip), 'get', 'machinestatus', '-o', 'json'];
}

export function machineStage(stdout: string): string | undefined {
  const [first] = parseResourceStream(stdout);
  const spec = first?.spec as { stage?: unknown } | undefined;
  return typeof spec?.stage === 'string' ? spec.stage : undefined;
}

export type NodeMode = 'maintenance' | 'configured' | 'down';

/** One read of a node: `title` names it for callers that record what they ran (the recovery report). */
export type NodeRead = (argv: string[], title: string) => Promise<RunResult>;

/** Each probe is bounded to one poll's length: these run inside waits. */
export const NODE_MODE_PROBE_MS = 30_000;

/** Quiet reads, one poll long each (not printed in a plan). */
export function pollRead(ctx: StepContext): NodeRead {
  return (argv) => poll(ctx, argv, { timeoutMs: NODE_MODE_PROBE_MS });
}

function probesInOrder(ip: string, first: 'configured' | 'maintenance'): [string[], string[]] {
  return first === 'configured' ? [machineStatusArgv(ip), maintenanceProbeArgv(ip)] : [maintenanceProbeArgv(ip), machineStatusArgv(ip)];
}

/**
 * The node's mode: asks `first` (the likelier mode: configured for a running cluster, maintenance for a cold start),
 * then the other. Never call it under --dry-run: print nodeModePlanLine instead.
 */
export async function probeNodeMode(read: NodeRead, n: { name: string; ip: string }, first: 'configured' | 'maintenance' = 'configured'): Promise<NodeMode> {
  const other: NodeMode = first === 'configured' ? 'maintenance' : 'configured';
  const [a, b] = probesInOrder(n.ip, first);
  if ((await read(a, `${n.name}: ${first === 'configured' ? 'machine status' : 'maintenance mode'}`)).ok) return first;
  if ((await read(b, `${n.name}: ${other === 'configured' ? 'machine status' : 'maintenance mode'}`)).ok) return other;
  return 'down';
}

/** What a plan shows for probeNodeMode. */
export function nodeModePlanLine(ip: string, first: 'configured' | 'maintenance' = 'configured'): string {
  const [a, b] = probesInOrder(ip, first);
  return `? ${formatArgv(a)}   (else ? ${formatArgv(b)})`;
}
