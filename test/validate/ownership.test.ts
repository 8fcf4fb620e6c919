import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derivedIdentities, describeIdentity, identity } from '../../scripts/lib/ownership/ownership.ts';
import { BASE, only, show, validateWith } from './fixture.ts';

// The failure mode of the reference design: something in the Flux tree claims an object another manager (the
// bootstrap, Terraform, another Kustomization) already manages.

const APP_KZ = 'kubernetes/apps/app/kustomization.yaml';
const withFile = (file: string) => BASE[APP_KZ]!.replace('  - helmrelease.yaml', `  - helmrelease.yaml\n  - ${file}`);

test('a Flux HelmRelease for Cilium collides with the bootstrap-installed Helm release', async () => {
  const cilium = `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: cilium
  namespace: kube-system
spec:
  interval: 30m
  chart:
    spec:
      chart: podinfo
      version: 6.9.0
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
`;
  const r = await validateWith({ 'kubernetes/apps/app/cilium.yaml': cilium, [APP_KZ]: withFile('cilium.yaml') });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Helm release kube-system/cilium');
  assert.is(f[0]!.file, 'kubernetes/apps/app/cilium.yaml');
  assert.match(f[0]!.message, 'bootstrap phase cni: helm upgrade --install cilium');
  assert.match(f[0]!.message, 'Kustomization flux-system/app (through HelmRelease kube-system/cilium)');
  assert.match(f[0]!.message, 'the bootstrap owns this one');
});

test('Gateway API CRDs in the Flux tree collide with the bootstrap, which applies them before Cilium', async () => {
  const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: httproutes.gateway.networking.k8s.io
spec:
  group: gateway.networking.k8s.io
  names:
    kind: HTTPRoute
    plural: httproutes
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
`;
  const r = await validateWith({ 'kubernetes/apps/app/crd.yaml': crd, [APP_KZ]: withFile('crd.yaml') });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'CustomResourceDefinition.apiextensions.k8s.io httproutes.gateway.networking.k8s.io');
  assert.match(f[0]!.message, 'bootstrap phase cni: kubectl apply --server-side (Gateway API v1.3.0 CRDs)');
});

test('a HelmRelease with targetNamespace is keyed by its real release name', () => {
  const ids = derivedIdentities({ apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'cilium', namespace: 'flux-system' }, spec: { targetNamespace: 'kube-system', storageNamespace: 'kube-system', releaseName: 'cilium' } });
  assert.equal(ids.map((i) => describeIdentity(i.id)), ['Helm release kube-system/cilium']);
  const dflt = derivedIdentities({ apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'cilium', namespace: 'flux-system' }, spec: { targetNamespace: 'kube-system' } });
  assert.equal(dflt.map((i) => i.id), [identity('helm', 'Release', 'flux-system', 'kube-system-cilium')]);
});

test('a SealedSecret writing the sealed-secrets key Secret collides with the bootstrap', async () => {
  const sealed = `apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: sealed-secrets-key
  namespace: kube-system
spec:
  encryptedData:
    tls.key: AgBy8hCi
  template:
    type: kubernetes.io/tls
`;
  const r = await validateWith({ 'kubernetes/apps/app/key.yaml': sealed, [APP_KZ]: withFile('key.yaml') });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Secret kube-system/sealed-secrets-key');
  assert.match(f[0]!.message, 'bootstrap phase secrets');
});

test('the flux-system namespace in the tree collides with flux bootstrap', async () => {
  const ns = `apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
`;
  const r = await validateWith({ 'kubernetes/apps/app/flux-ns.yaml': ns, [APP_KZ]: withFile('flux-ns.yaml') });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Namespace flux-system');
  assert.match(f[0]!.message, 'flux bootstrap github');
});

test('a Secret Terraform manages and an ExternalSecret writes is double-owned', async () => {
  const tf = `resource "kubernetes_secret_v1" "db" {
  metadata {
    name      = "db"
    namespace = "podinfo"
  }
}
`;
  const es = `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: db
  namespace: podinfo
spec:
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault
  target:
    name: db
  data:
    - secretKey: password
      remoteRef:
        key: db
        property: password
`;
  const r = await validateWith({ 'terraform/00-persistent-auth/secret.tf': tf, 'kubernetes/apps/app/db.yaml': es, [APP_KZ]: withFile('db.yaml') });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Secret podinfo/db');
  assert.match(f[0]!.message, 'terraform/00-persistent-auth/secret.tf: kubernetes_secret_v1.db');
  assert.match(f[0]!.message, 'through ExternalSecret podinfo/db');
});

test('the same object applied by two Kustomizations is double-owned', async () => {
  // sources also applies the app's namespace
  const r = await validateWith({ 'kubernetes/apps/sources/namespace.yaml': BASE['kubernetes/apps/app/namespace.yaml']! });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Namespace podinfo');
  assert.match(f[0]!.message, 'Kustomization flux-system/app');
  assert.match(f[0]!.message, 'Kustomization flux-system/sources');
});

test('the gotk manifests flux bootstrap committed are the bootstrap\'s own, not a second owner', async () => {
  const gotk = `apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: source-controller
  namespace: flux-system
spec:
  selector:
    matchLabels:
      app: source-controller
  template:
    metadata:
      labels:
        app: source-controller
    spec:
      containers:
        - name: manager
          image: ghcr.io/fluxcd/source-controller:v1.7.0
`;
  const r = await validateWith({ 'kubernetes/clusters/test/flux-system/gotk-components.yaml': gotk });
  assert.equal(only(r.findings, 'ownership'), [], show(r.findings));
  assert.is(r.ownership.claims.get(identity('apps', 'Deployment', 'flux-system', 'source-controller'))?.length, 2);
});

test('the flux-system namespace in the tree still collides with flux bootstrap when the gotk manifests are committed', async () => {
  const gotk = `apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
`;
  const r = await validateWith({ 'kubernetes/clusters/test/flux-system/gotk-components.yaml': gotk, 'kubernetes/apps/app/flux-ns.yaml': gotk, [APP_KZ]: withFile('flux-ns.yaml') });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Namespace flux-system');
  assert.match(f[0]!.message, 'flux bootstrap github');
  assert.match(f[0]!.message, 'Kustomization flux-system/app');
});

test('a copy of the flux-system namespace in a plain directory (no kustomization.yaml) is a second owner, with its own file', async () => {
  const ns = `apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
`;
  const r = await validateWith({ 'kubernetes/clusters/test/flux-system/gotk-components.yaml': ns, 'kubernetes/apps/sources/flux-ns.yaml': ns });
  const f = only(r.findings, 'ownership');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, 'kubernetes/apps/sources/flux-ns.yaml');
  assert.match(f[0]!.message, 'flux bootstrap github');
  assert.match(f[0]!.message, 'Kustomization flux-system/sources');
  // The committed gotk copy is the bootstrap's, traced to its own file: not a third owner.
  assert.match(f[0]!.message, 'managed by 2 owners');
  assert.not.match(f[0]!.message, 'Kustomization flux-system/flux-system');
});

test('ExternalSecrets that merge into an existing Secret claim nothing', () => {
  assert.equal(derivedIdentities({ apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name: 'x', namespace: 'a' }, spec: { target: { name: 'y', creationPolicy: 'Merge' } } }), []);
});

test.run();
