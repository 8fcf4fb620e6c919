// Flux Kustomizations as the cluster reports them: listing and parsing, dependency order, one-line descriptions, and
// the root causes among the ones not Ready. Pure.
//
// A Kustomization labelled `bootstrap.home-ops/wait: verify` needs something the integrations phase provides (e.g. the
// Proxmox CSI token's SealedSecret): the gitops phase does not wait for it, the verify phase does.

export const FLUX_NAMESPACE = 'flux-system';

export const KUSTOMIZATION = 'kustomizations.kustomize.toolkit.fluxcd.io';

export const GIT_REPOSITORY = 'gitrepositories.source.toolkit.fluxcd.io';

export const DEFER_LABEL = 'bootstrap.home-ops/wait';

export function kustomizationsArgv(): string[] {
  return ['kubectl', 'get', KUSTOMIZATION, '--all-namespaces', '-o', 'json'];
}

export interface KustomizationState {
  /** namespace/name */
  id: string;
  name: string;
  dependsOn: string[];
  ready: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  suspended: boolean;
  /** Waited for by the verify phase, not gitops (label bootstrap.home-ops/wait=verify). */
  deferred: boolean;
}

interface KsObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { dependsOn?: { name: string; namespace?: string }[]; suspend?: boolean };
  status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

export function parseKustomizations(stdout: string): KustomizationState[] {
  const list = JSON.parse(stdout || '{}') as { items?: KsObject[] };
  return (list.items ?? []).map((k) => {
    const ns = k.metadata?.namespace ?? FLUX_NAMESPACE;
    const name = k.metadata?.name ?? '?';
    const cond = k.status?.conditions?.find((c) => c.type === 'Ready');
    const ready = cond?.status === 'True' ? 'True' : cond?.status === 'False' ? 'False' : 'Unknown';
    return {
      id: `${ns}/${name}`,
      name,
      dependsOn: (k.spec?.dependsOn ?? []).map((d) => `${d.namespace ?? ns}/${d.name}`),
      ready,
      ...(cond?.reason ? { reason: cond.reason } : {}),
      ...(cond?.message ? { message: cond.message } : cond ? {} : { message: 'waiting to be reconciled' }),
      suspended: k.spec?.suspend === true,
      deferred: k.metadata?.labels?.[DEFER_LABEL] === 'verify',
    };
  });
}

/** Dependencies before dependants (Kahn's algorithm, ties broken by id); members of a cycle come last, by id. */
export function dependencyOrder<T extends { id: string; dependsOn: string[] }>(items: T[]): T[] {
  const byId = new Map(items.map((k) => [k.id, k]));
  const pending = new Map(items.map((k) => [k.id, new Set(k.dependsOn.filter((d) => byId.has(d)))]));
  const out: T[] = [];
  for (;;) {
    const ready = [...pending].filter(([, deps]) => deps.size === 0).map(([id]) => id).sort();
    if (ready.length === 0) break;
    const id = ready[0]!;
    out.push(byId.get(id)!);
    pending.delete(id);
    for (const deps of pending.values()) deps.delete(id);
  }
  return [...out, ...[...pending.keys()].sort().map((id) => byId.get(id)!)];
}

export function describe(k: KustomizationState): string {
  const state = k.suspended ? 'Suspended' : k.ready === 'True' ? 'Ready' : k.ready === 'False' ? 'NotReady' : 'Unknown';
  const why = k.message ?? k.reason;
  return `${k.name}: ${state}${why ? ` (${why.split('\n')[0]})` : ''}`;
}

/**
 * Kustomizations that are not Ready for a reason of their own. Their dependants report DependencyNotReady and are
 * symptoms, not causes; suspended ones are paused on purpose.
 */
export function rootCauses(ks: KustomizationState[]): KustomizationState[] {
  const notReady = ks.filter((k) => !k.suspended && k.ready !== 'True');
  return notReady.filter((k) => {
    if (k.reason === 'DependencyNotReady' || /dependency .* is not ready/i.test(k.message ?? '')) return false;
    // A Kustomization still waiting for a dependency that is itself not Ready is a symptom too.
    return !k.dependsOn.some((d) => notReady.some((n) => n.id === d));
  });
}
