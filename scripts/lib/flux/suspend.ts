import { FLUX_NAMESPACE } from './kustomizations.ts';

// Suspending and resuming Flux's reconciliation around resets and recovery: which Kustomizations and HelmReleases
// exist and are suspended, and the `flux suspend|resume` calls per kind and namespace. Pure.

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
