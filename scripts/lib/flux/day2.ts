import { FLUX_NAMESPACE, type KustomizationState } from './flux.ts';

// flux argv builders and parsers for day-2 work (suspend/resume around resets and recovery, stuck Kustomizations):
// small pure functions, no I/O. The bootstrap's builders live in flux.ts and are reused as they are.
//
//   suspendArgv(kind, names, ns)       flux suspend kustomization|helmrelease NAME… --namespace NS
//   resumeArgv(kind, names, ns)        flux resume kustomization|helmrelease NAME… --namespace NS --wait=false
//   helmReleasesArgv()                 kubectl get helmreleases.helm.toolkit.fluxcd.io -A -o json
//   parseSuspendable(kind, stdout)     `kubectl get … -A -o json` → [{ kind, namespace, name, suspended }]
//   groupByNamespace(items)            one flux call per kind and namespace
//   rootCauses(ks)                     the Kustomizations that fail on their own (not merely waiting for a dependency)

export const HELM_RELEASE = 'helmreleases.helm.toolkit.fluxcd.io';

/** The Flux objects whose reconciliation we pause: Kustomizations apply git, HelmReleases install charts. */
export type FluxKind = 'kustomization' | 'helmrelease';

export interface FluxObject {
  kind: FluxKind;
  namespace: string;
  name: string;
  suspended: boolean;
}

export function suspendArgv(kind: FluxKind, names: string[], namespace: string): string[] {
  return ['flux', 'suspend', kind, ...names, '--namespace', namespace];
}

/** --wait=false: resuming must not block on a Kustomization that is broken for other reasons; we poll afterwards. */
export function resumeArgv(kind: FluxKind, names: string[], namespace: string): string[] {
  return ['flux', 'resume', kind, ...names, '--namespace', namespace, '--wait=false'];
}

export function helmReleasesArgv(): string[] {
  return ['kubectl', 'get', HELM_RELEASE, '--all-namespaces', '-o', 'json'];
}

export function parseSuspendable(kind: FluxKind, stdout: string): FluxObject[] {
  const list = JSON.parse(stdout || '{}') as { items?: { metadata?: { name?: string; namespace?: string }; spec?: { suspend?: boolean } }[] };
  return (list.items ?? []).map((o) => ({
    kind,
    namespace: o.metadata?.namespace ?? FLUX_NAMESPACE,
    name: o.metadata?.name ?? '?',
    suspended: o.spec?.suspend === true,
  }));
}

/** Groups objects into one (kind, namespace) batch each, in a stable order: Kustomizations first. */
export function groupByNamespace(items: FluxObject[]): { kind: FluxKind; namespace: string; names: string[] }[] {
  const groups = new Map<string, { kind: FluxKind; namespace: string; names: string[] }>();
  const sorted = [...items].sort(
    (a, b) => (a.kind === b.kind ? 0 : a.kind === 'kustomization' ? -1 : 1) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
  for (const o of sorted) {
    const key = `${o.kind}/${o.namespace}`;
    const g = groups.get(key) ?? { kind: o.kind, namespace: o.namespace, names: [] };
    g.names.push(o.name);
    groups.set(key, g);
  }
  return [...groups.values()];
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
