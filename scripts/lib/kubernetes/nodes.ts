import { formatArgv } from '../core/runner.ts';
import { lastLine, poll, waitUntil, type StepContext } from '../core/steps.ts';

// Kubernetes nodes: readiness (parsed, summarised, and the bounded "every node Ready" wait of the bootstrap's cni and
// verify phases and the recovery's cilium action), NotReady reasons, kubelet versions.

export function nodesArgv(): string[] {
  return ['kubectl', 'get', 'nodes', '-o', 'json'];
}

export interface NodeReadiness {
  name: string;
  ready: boolean;
  /** Reason/message of the Ready condition when not Ready. */
  reason?: string;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export function parseNodes(stdout: string): NodeReadiness[] {
  const list = JSON.parse(stdout || '{}') as { items?: { metadata?: { name?: string }; status?: { conditions?: Condition[] } }[] };
  return (list.items ?? []).map((n) => {
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
    return {
      name: n.metadata?.name ?? '?',
      ready: ready?.status === 'True',
      ...(ready?.status === 'True' ? {} : { reason: ready?.reason ?? ready?.message ?? 'no Ready condition yet' }),
    };
  });
}

/** e.g. "3/5 nodes Ready (not yet: w1, w2)"; `expected` counts nodes that have not registered at all. */
export function readinessSummary(nodes: NodeReadiness[], expected: string[] = []): string {
  const ready = nodes.filter((n) => n.ready).map((n) => n.name);
  const missing = expected.filter((e) => !nodes.some((n) => n.name === e));
  const notReady = [...nodes.filter((n) => !n.ready).map((n) => n.name), ...missing];
  const total = Math.max(nodes.length + missing.length, expected.length);
  return `${ready.length}/${total} nodes Ready${notReady.length ? ` (not yet: ${notReady.join(', ')})` : ''}`;
}

/** Ready condition reason and message of every node that is not Ready. */
export function nodeNotReadyReasons(stdout: string): Record<string, string> {
  const list = JSON.parse(stdout || '{}') as {
    items?: { metadata?: { name?: string }; status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] } }[];
  };
  const out: Record<string, string> = {};
  for (const n of list.items ?? []) {
    const c = n.status?.conditions?.find((x) => x.type === 'Ready');
    if (c?.status === 'True') continue;
    out[n.metadata?.name ?? '?'] = [c?.reason, c?.message].filter(Boolean).join(': ') || 'no Ready condition';
  }
  return out;
}

/** Node name → kubelet version (`status.nodeInfo.kubeletVersion`, e.g. "v1.34.1"). */
export function kubeletVersions(stdout: string): Record<string, string> {
  const list = JSON.parse(stdout || '{}') as { items?: { metadata?: { name?: string }; status?: { nodeInfo?: { kubeletVersion?: string } } }[] };
  return Object.fromEntries((list.items ?? []).map((n) => [n.metadata?.name ?? '?', n.status?.nodeInfo?.kubeletVersion ?? 'unknown']));
}

export interface NodesReadyWait {
  what: string;
  timeoutMs: number;
  /** The nodes that must be Ready (the config's). */
  names: string[];
  diagnose?: () => Promise<string>;
  hint?: string;
  /** Print the probe in a --dry-run plan (default true). */
  planProbe?: boolean;
}

/** Waits until every named node is Ready; returns the last readiness summary ('' under --dry-run). */
export async function waitNodesReady(ctx: StepContext, w: NodesReadyWait): Promise<string> {
  if (ctx.runner.dryRun && w.planProbe !== false) ctx.runner.planOnly(`? ${formatArgv(nodesArgv())}`);
  let summary = '';
  await waitUntil(ctx, {
    what: w.what,
    timeoutMs: w.timeoutMs,
    check: async () => {
      const res = await poll(ctx, nodesArgv(), { timeoutMs: 30_000 });
      if (!res.ok) return { done: false, detail: lastLine(res) };
      const nodes = parseNodes(res.stdout).filter((n) => w.names.includes(n.name));
      summary = readinessSummary(nodes, w.names);
      return { done: nodes.length === w.names.length && nodes.every((n) => n.ready), detail: summary };
    },
    ...(w.diagnose ? { diagnose: w.diagnose } : {}),
    ...(w.hint ? { hint: w.hint } : {}),
  });
  return summary;
}

// ---- labels ---------------------------------------------------------------------------------------------------------

/** The role label `kubectl get nodes` shows in ROLES; a kubelet may not set it (NodeRestriction), the admin may. */
export const WORKER_ROLE_LABEL = 'node-role.kubernetes.io/worker';

// Labels a kubelet may set on its own Node: kubernetes v1.34 staging/src/k8s.io/kubelet/pkg/apis/well_known_labels.go
// (IsKubeletLabel) and plugin/pkg/admission/noderestriction/admission.go (getForbiddenLabels).
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'node.kubernetes.io/instance-type',
  'beta.kubernetes.io/instance-type',
]);

const inNamespace = (ns: string, domain: string) => ns === domain || ns.endsWith(`.${domain}`);

/**
 * True when the NodeRestriction admission plugin forbids a kubelet to set this label: `node-restriction.kubernetes.io/*`,
 * and any other `kubernetes.io` / `k8s.io` (sub)domain label except the well-known kubelet labels and the
 * `kubelet.kubernetes.io/*`, `node.kubernetes.io/*` namespaces.
 */
export function kubeletMayNotSet(label: string): boolean {
  const ns = label.includes('/') ? label.slice(0, label.indexOf('/')) : '';
  if (inNamespace(ns, 'node-restriction.kubernetes.io')) return true;
  if (!inNamespace(ns, 'kubernetes.io') && !inNamespace(ns, 'k8s.io')) return false;
  return !(KUBELET_LABELS.has(label) || inNamespace(ns, 'kubelet.kubernetes.io') || inNamespace(ns, 'node.kubernetes.io'));
}

/** Node name → its labels, from `kubectl get nodes -o json`. */
export function nodeLabels(stdout: string): Record<string, Record<string, string>> {
  const list = JSON.parse(stdout || '{}') as { items?: { metadata?: { name?: string; labels?: Record<string, string> } }[] };
  return Object.fromEntries((list.items ?? []).map((n) => [n.metadata?.name ?? '?', n.metadata?.labels ?? {}]));
}

export function labelNodeArgv(name: string, label: string, value = ''): string[] {
  return ['kubectl', 'label', 'node', name, `${label}=${value}`];
}

/** The nodes among `names` that lack `label` (nodes not registered are left out: nothing to label yet). */
export function missingLabel(labels: Record<string, Record<string, string>>, names: string[], label: string): string[] {
  return names.filter((n) => labels[n] && !(label in labels[n]!));
}
