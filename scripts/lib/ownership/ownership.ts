import { posix } from 'node:path';
import { FLUX_NAMESPACE } from '../flux/kustomizations.ts';
import { CILIUM_NAMESPACE, CILIUM_RELEASE } from '../helm/helm.ts';
import { GATEWAY_API_CRDS, GATEWAY_API_VERSION, gatewayApiCrdName } from '../kubernetes/gateway-api.ts';
import { KEY_SECRET_NAME, KEY_SECRET_NAMESPACE } from '../sealed-secrets/keypair.ts';
import type { SourceIndex } from '../validate/kustomize.ts';
import { apiGroup, namespaceOf, objectKey, type Finding, type K8sObject } from '../validate/model.ts';
import type { ClusterTree } from '../validate/flux.ts';
import type { terraformKubernetesResources } from '../validate/terraform.ts';

// Who manages each Kubernetes object: Terraform (kubernetes_*/helm_release resources), the bootstrap (Cilium's Helm
// release, the sealed-secrets key, Flux itself), or one Flux Kustomization. Two managers for one object is the failure
// the reference design hit when Flux tried to adopt the Cilium release Terraform had installed: each reverts the
// other, and a prune deletes what the other still needs. Derived identities count too: a HelmRelease manages a Helm
// release (storage namespace/release name), a SealedSecret and an ExternalSecret manage the Secret they write.

export type Manager = 'terraform' | 'bootstrap' | 'flux';

export interface Claim {
  manager: Manager;
  /** "terraform/01-infrastructure: helm_release.cilium", "bootstrap: helm upgrade --install cilium", "Kustomization flux-system/core" */
  by: string;
  file?: string;
  /** How the identity follows from what was declared, when it is derived (HelmRelease → Helm release, …). */
  via?: string;
}

/** group/Kind/namespace/name (an object's is its objectKey); Helm releases are "helm/Release/<namespace>/<name>". */
export type Identity = string;

export function identity(group: string, kind: string, namespace: string, name: string): Identity {
  return `${group}/${kind}/${namespace}/${name}`;
}

export function describeIdentity(id: Identity): string {
  const [group, kind, ns, name] = id.split('/');
  const what = group === 'helm' ? 'Helm release' : `${kind}${group ? `.${group}` : ''}`;
  return `${what} ${ns ? `${ns}/` : ''}${name}`;
}

const FLUX_CONTROLLERS = ['source-controller', 'kustomize-controller', 'helm-controller', 'notification-controller'];
const FLUX_CRDS = [
  'kustomizations.kustomize.toolkit.fluxcd.io',
  'helmreleases.helm.toolkit.fluxcd.io',
  'gitrepositories.source.toolkit.fluxcd.io',
  'helmrepositories.source.toolkit.fluxcd.io',
  'ocirepositories.source.toolkit.fluxcd.io',
  'helmcharts.source.toolkit.fluxcd.io',
  'buckets.source.toolkit.fluxcd.io',
  'externalartifacts.source.toolkit.fluxcd.io',
  'alerts.notification.toolkit.fluxcd.io',
  'providers.notification.toolkit.fluxcd.io',
  'receivers.notification.toolkit.fluxcd.io',
];

/** What the bootstrap installs itself (scripts/lib/bootstrap: cni (Gateway API CRDs, Cilium), secrets, gitops phases). */
export function bootstrapClaims(): [Identity, Claim][] {
  const cilium: Claim = { manager: 'bootstrap', by: `bootstrap phase cni: helm upgrade --install ${CILIUM_RELEASE} (${CILIUM_NAMESPACE})` };
  const key: Claim = { manager: 'bootstrap', by: 'bootstrap phase secrets: the stable sealed-secrets key' };
  const flux: Claim = { manager: 'bootstrap', by: 'bootstrap phase gitops: flux bootstrap github' };
  const gatewayApi: Claim = { manager: 'bootstrap', by: `bootstrap phase cni: kubectl apply --server-side (Gateway API ${GATEWAY_API_VERSION} CRDs)` };
  return [
    ...GATEWAY_API_CRDS.map((c): [Identity, Claim] => [identity('apiextensions.k8s.io', 'CustomResourceDefinition', '', gatewayApiCrdName(c.plural)), gatewayApi]),
    [identity('helm', 'Release', CILIUM_NAMESPACE, CILIUM_RELEASE), cilium],
    [identity('apps', 'DaemonSet', CILIUM_NAMESPACE, 'cilium'), cilium],
    [identity('apps', 'Deployment', CILIUM_NAMESPACE, 'cilium-operator'), cilium],
    [identity('', 'ConfigMap', CILIUM_NAMESPACE, 'cilium-config'), cilium],
    [identity('', 'ServiceAccount', CILIUM_NAMESPACE, 'cilium'), cilium],
    [identity('', 'ServiceAccount', CILIUM_NAMESPACE, 'cilium-operator'), cilium],
    [identity('', 'Secret', KEY_SECRET_NAMESPACE, KEY_SECRET_NAME), key],
    [identity('', 'Namespace', '', FLUX_NAMESPACE), flux],
    [identity('', 'Secret', FLUX_NAMESPACE, 'flux-system'), flux],
    [identity('source.toolkit.fluxcd.io', 'GitRepository', FLUX_NAMESPACE, 'flux-system'), flux],
    [identity('kustomize.toolkit.fluxcd.io', 'Kustomization', FLUX_NAMESPACE, 'flux-system'), flux],
    ...FLUX_CONTROLLERS.map((c): [Identity, Claim] => [identity('apps', 'Deployment', FLUX_NAMESPACE, c), flux]),
    ...FLUX_CRDS.map((c): [Identity, Claim] => [identity('apiextensions.k8s.io', 'CustomResourceDefinition', '', c), flux]),
  ];
}

/** Objects `flux bootstrap` committed under kubernetes/clusters/<cluster>/flux-system/ (gotk-components, gotk-sync). */
export function bootstrapCommitted(index: SourceIndex, cluster: string): [Identity, Claim][] {
  const dir = `kubernetes/clusters/${cluster}/flux-system`;
  const out: [Identity, Claim][] = [];
  for (const { file, objects } of index.files) {
    if (posix.dirname(file) !== dir || posix.basename(file).startsWith('kustomization')) continue;
    for (const o of objects) out.push([objectKey(o, FLUX_NAMESPACE), { manager: 'bootstrap', by: 'flux bootstrap github (committed gotk manifests)', file }]);
  }
  return out;
}

/** Identities an object manages besides itself. */
export function derivedIdentities(o: K8sObject): { id: Identity; via: string }[] {
  const ns = namespaceOf(o);
  const name = o.metadata?.name ?? '';
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  const group = apiGroup(String(o.apiVersion ?? ''));
  if (o.kind === 'HelmRelease' && group === 'helm.toolkit.fluxcd.io') {
    const target = spec.targetNamespace as string | undefined;
    const release = (spec.releaseName as string | undefined) ?? (target ? `${target}-${name}` : name);
    const storage = (spec.storageNamespace as string | undefined) ?? ns;
    return [{ id: identity('helm', 'Release', storage, release), via: `HelmRelease ${ns}/${name}` }];
  }
  if (o.kind === 'SealedSecret' && group === 'bitnami.com') {
    const tmpl = (spec.template as { metadata?: { name?: string } } | undefined)?.metadata;
    return [{ id: identity('', 'Secret', ns, tmpl?.name ?? name), via: `SealedSecret ${ns}/${name}` }];
  }
  if (o.kind === 'ExternalSecret' && group === 'external-secrets.io') {
    const target = (spec.target ?? {}) as { name?: string; creationPolicy?: string };
    if (target.creationPolicy === 'Merge' || target.creationPolicy === 'None' || target.creationPolicy === 'Orphan') return [];
    return [{ id: identity('', 'Secret', ns, target.name ?? name), via: `ExternalSecret ${ns}/${name}` }];
  }
  return [];
}

export class OwnershipMap {
  readonly claims = new Map<Identity, Claim[]>();

  add(id: Identity, claim: Claim): void {
    const list = this.claims.get(id) ?? [];
    list.push(claim);
    this.claims.set(id, list);
  }

  /** Identities claimed by two or more owners (managers, or two different Terraform resources or Flux Kustomizations). */
  conflicts(): [Identity, Claim[]][] {
    return [...this.claims].filter(([, cs]) => owners(cs) > 1);
  }
}

/**
 * Who a claim stands for. The bootstrap is one owner however many of its claims name an object (the phase that
 * installs it and the gotk manifests `flux bootstrap` committed); each Terraform resource and each Flux Kustomization
 * is its own.
 */
function ownerOf(c: Claim): string {
  return c.manager === 'bootstrap' ? 'bootstrap' : `${c.manager}:${c.by}`;
}

function owners(claims: Claim[]): number {
  return new Set(claims.map(ownerOf)).size;
}

export type TerraformResource = ReturnType<typeof terraformKubernetesResources>[number];

/** `index` holds the YAML under kubernetes/ (the committed gotk manifests among it). */
export function buildOwnership(index: SourceIndex, trees: ClusterTree[], tf: TerraformResource[]): OwnershipMap {
  const map = new OwnershipMap();
  for (const r of tf) map.add(identity(r.group, r.kind, r.namespace, r.name), { manager: 'terraform', by: `${r.file}: ${r.address}`, file: r.file });
  for (const [id, c] of bootstrapClaims()) map.add(id, c);
  for (const tree of trees) {
    for (const [id, c] of bootstrapCommitted(index, tree.cluster)) map.add(id, c);
    const committed = `kubernetes/clusters/${tree.cluster}/flux-system/`;
    for (const a of tree.objects) {
      // Without a root kustomization.yaml, Flux also applies the gotk manifests `flux bootstrap` committed: the same
      // files the bootstrap applies, not a second owner.
      if (a.file?.startsWith(committed)) continue;
      const by = `Kustomization ${a.by}`;
      map.add(objectKey(a.obj), { manager: 'flux', by, ...(a.file ? { file: a.file } : {}) });
      for (const d of derivedIdentities(a.obj)) map.add(d.id, { manager: 'flux', by, via: d.via, ...(a.file ? { file: a.file } : {}) });
    }
  }
  return map;
}

export function ownershipFindings(map: OwnershipMap): Finding[] {
  return map.conflicts().map(([id, claims]) => {
    const flux = claims.find((c) => c.manager === 'flux');
    return {
      check: 'ownership' as const,
      ...(flux?.file ? { file: flux.file } : {}),
      object: describeIdentity(id),
      message: `managed by ${owners(claims)} owners: ${claims.map((c) => `${c.by}${c.via ? ` (through ${c.via})` : ''}`).join('; ')}. Keep exactly one: ${
        claims.some((c) => c.manager === 'bootstrap') ? 'the bootstrap owns this one, remove it from the other' : 'remove it from all but one'
      }`,
    };
  });
}
