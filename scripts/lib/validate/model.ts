// Shapes shared by the checks: a finding names the check, the file and the object, so every error says where to look.

export type Check =
  | 'sso'
  | 'kustomize'
  | 'schema'
  | 'flux-graph'
  | 'flux-settings'
  | 'pinned-versions'
  | 'plaintext-secret'
  | 'substitution'
  | 'terraform'
  | 'talos'
  | 'taskfile'
  | 'ownership'
  | 'config'
  | 'routes'
  | 'addresses'
  | 'policy'
  | 'alerts'
  | 'scrapes'
  | 'dashboards'
  | 'shipping';

export interface Finding {
  check: Check;
  /** Repo-relative file the problem is in (or best known). */
  file?: string;
  /** "Kind namespace/name" of the object, when it is about one. */
  object?: string;
  message: string;
  /** Warnings are reported but do not fail the run. */
  level?: 'error' | 'warning';
}

export type K8sObject = Record<string, unknown> & {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
};

// Kinds without a namespace. Everything else defaults to "default" when the manifest names none (as kubectl does).
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'StorageClass',
  'CSIDriver',
  'PriorityClass',
  'IngressClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'APIService',
  'ClusterIssuer',
  'ClusterSecretStore',
  'ClusterExternalSecret',
  'ClusterGenerator',
  'ClusterPushSecret',
  'VolumeSnapshotClass',
  'CiliumClusterwideNetworkPolicy',
  'CiliumLoadBalancerIPPool',
  'CiliumL2AnnouncementPolicy',
]);

export function isClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.has(kind);
}

/** "apps/v1" → { group: "apps", version: "v1" }; the core group is "" ("v1" → { group: "", version: "v1" }). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export function apiGroup(apiVersion: string): string {
  return splitApiVersion(apiVersion).group;
}

/** Namespace as the API server would see it. */
export function namespaceOf(o: K8sObject, fallback = 'default'): string {
  if (isClusterScoped(String(o.kind))) return '';
  return o.metadata?.namespace ?? fallback;
}

/** Identity of an object in the cluster: group/Kind/namespace/name (version-independent, as the API server keys it). */
export function objectKey(o: K8sObject, fallbackNamespace?: string): string {
  return `${apiGroup(String(o.apiVersion ?? ''))}/${String(o.kind)}/${namespaceOf(o, fallbackNamespace)}/${o.metadata?.name ?? ''}`;
}

/** "HelmRelease cert-manager/cert-manager" */
export function describe(o: K8sObject, fallbackNamespace?: string): string {
  const ns = namespaceOf(o, fallbackNamespace);
  return `${String(o.kind)} ${ns ? `${ns}/` : ''}${o.metadata?.name ?? '(no name)'}`;
}
