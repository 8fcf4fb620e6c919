// Pods, DaemonSets and Deployments for the recovery diagnosis and the upgrade gates: argv and parsers. Pure.

export function podsArgv(): string[] {
  return ['kubectl', 'get', 'pods', '--all-namespaces', '-o', 'json', '--request-timeout=20s'];
}

export function daemonSetArgv(name: string, namespace: string): string[] {
  return ['kubectl', 'get', 'daemonset', name, '--namespace', namespace, '-o', 'json', '--ignore-not-found', '--request-timeout=20s'];
}

export interface PodProblem {
  namespace: string;
  name: string;
  phase: string;
  /** Waiting/terminated reason of the first unhappy container (CrashLoopBackOff, ImagePullBackOff, …). */
  reason?: string;
}

interface PodObject {
  metadata?: { name?: string; namespace?: string };
  status?: {
    phase?: string;
    reason?: string;
    containerStatuses?: { ready?: boolean; state?: { waiting?: { reason?: string }; terminated?: { reason?: string } } }[];
  };
}

/** Pods that are neither Succeeded nor Running with every container ready. */
export function parsePods(stdout: string): { total: number; problems: PodProblem[] } {
  const list = JSON.parse(stdout || '{}') as { items?: PodObject[] };
  const items = list.items ?? [];
  const problems: PodProblem[] = [];
  for (const p of items) {
    const phase = p.status?.phase ?? 'Unknown';
    if (phase === 'Succeeded') continue;
    const statuses = p.status?.containerStatuses ?? [];
    const unready = statuses.find((c) => c.ready !== true);
    if (phase === 'Running' && !unready) continue;
    const reason = unready?.state?.waiting?.reason ?? unready?.state?.terminated?.reason ?? p.status?.reason;
    problems.push({ namespace: p.metadata?.namespace ?? '?', name: p.metadata?.name ?? '?', phase, ...(reason ? { reason } : {}) });
  }
  return { total: items.length, problems };
}

export interface DaemonSetStatus {
  desired: number;
  ready: number;
  available: number;
}

export function parseDaemonSet(stdout: string): DaemonSetStatus | undefined {
  if (!stdout.trim()) return undefined;
  const ds = JSON.parse(stdout) as { status?: { desiredNumberScheduled?: number; numberReady?: number; numberAvailable?: number } };
  return {
    desired: ds.status?.desiredNumberScheduled ?? 0,
    ready: ds.status?.numberReady ?? 0,
    available: ds.status?.numberAvailable ?? 0,
  };
}

export function deploymentsArgv(namespace: string): string[] {
  return ['kubectl', 'get', 'deployments', '--namespace', namespace, '-o', 'json', '--request-timeout=20s'];
}

/** Deployments with fewer ready replicas than wanted. */
export function unreadyDeployments(stdout: string): { name: string; wanted: number; ready: number }[] {
  const list = JSON.parse(stdout || '{}') as { items?: { metadata?: { name?: string }; spec?: { replicas?: number }; status?: { readyReplicas?: number } }[] };
  return (list.items ?? [])
    .map((d) => ({ name: d.metadata?.name ?? '?', wanted: d.spec?.replicas ?? 1, ready: d.status?.readyReplicas ?? 0 }))
    .filter((d) => d.ready < d.wanted);
}
