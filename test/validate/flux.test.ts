import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, only, show, validateWith } from './fixture.ts';

// Each test: the small fixture tree with one thing broken; the check must report exactly that, naming file and object.

const FLUX = 'kubernetes/clusters/test/flux.yaml';
const HR = 'kubernetes/apps/app/helmrelease.yaml';

test('the base fixture is clean', async () => {
  const r = await validateWith({});
  assert.equal(r.findings, [], show(r.findings));
  assert.is(r.counts.objects, 6);
  assert.is(r.counts.kustomizations, 2);
  assert.is(r.counts.helmReleases, 1);
});

test('a cluster whose entry applies no Flux Kustomization is an error naming the fix', async () => {
  const r = await validateWith({
    'kubernetes/clusters/empty/kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - cluster-settings.yaml\n',
    'kubernetes/clusters/empty/cluster-settings.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-settings\n  namespace: flux-system\ndata:\n  CLUSTER_NAME: empty\n',
  });
  const f = only(r.findings, 'kustomize');
  assert.equal(f.map((x) => `${x.file}: ${x.message}`), [
    'kubernetes/clusters/empty/kustomization.yaml: cluster empty has no Flux Kustomization, so Flux would deploy nothing there: render its entry with `task configure -- --config clusters/empty.yaml` (cluster.role picks kubernetes/clusters/<role>/flux)',
  ], show(r.findings));
  assert.is(r.trees.length, 2);
});

test('a dangling dependsOn is reported on the Kustomization', async () => {
  const r = await validateWith({ [FLUX]: BASE[FLUX]!.replace('    - name: sources', '    - name: sourcez') });
  const f = only(r.findings, 'flux-graph');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, FLUX);
  assert.is(f[0]!.object, 'Kustomization flux-system/app');
  assert.match(f[0]!.message, 'dependsOn flux-system/sourcez: no Kustomization');
});

test('a dependsOn cycle is reported with its path', async () => {
  const flux = BASE[FLUX]!.replace('    name: flux-system\n---', '    name: flux-system\n  dependsOn:\n    - name: app\n---');
  const r = await validateWith({ [FLUX]: flux });
  const f = only(r.findings, 'flux-graph');
  assert.is(f.length, 1, show(r.findings));
  assert.match(f[0]!.message, 'dependsOn cycle: flux-system/app → flux-system/sources → flux-system/app');
  assert.is(f[0]!.file, FLUX);
});

test('a HelmRelease dependsOn cycle and a dangling HelmRelease dependsOn are reported', async () => {
  const hr = BASE[HR]!.replace('  install:', '  dependsOn:\n    - name: podinfo\n    - name: missing\n  install:');
  const f = only((await validateWith({ [HR]: hr })).findings, 'flux-graph');
  assert.ok(f.some((x) => x.message.includes('HelmRelease dependsOn cycle: podinfo/podinfo → podinfo/podinfo')), show(f));
  assert.ok(f.some((x) => x.message.includes('dependsOn podinfo/missing: no HelmRelease')), show(f));
});

test('an unpinned chart (range or no version) is reported', async () => {
  for (const [version, expect] of [
    ['6.x', 'version "6.x" is a range'],
    ['">=6.0.0"', 'version ">=6.0.0" is a range'],
  ] as const) {
    const r = await validateWith({ [HR]: BASE[HR]!.replace('version: 6.9.0', `version: ${version}`) });
    const f = only(r.findings, 'pinned-versions');
    assert.is(f.length, 1, show(r.findings));
    assert.match(f[0]!.message, expect);
    assert.is(f[0]!.file, HR);
    assert.is(f[0]!.object, 'HelmRelease podinfo/podinfo');
  }
  const r = await validateWith({ [HR]: BASE[HR]!.replace('      version: 6.9.0\n', '') });
  assert.match(only(r.findings, 'pinned-versions')[0]?.message ?? '', 'has no version');
});

test('an OCIRepository on "latest" or without ref, and a GitRepository on a branch, are unpinned', async () => {
  const src = 'kubernetes/apps/sources/oci.yaml';
  const r = await validateWith({
    [src]: `apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: latest-chart
  namespace: flux-system
spec:
  interval: 12h
  url: oci://ghcr.io/example/charts/x
  ref:
    tag: latest
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: no-ref
  namespace: flux-system
spec:
  interval: 12h
  url: oci://ghcr.io/example/charts/y
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: upstream
  namespace: flux-system
spec:
  interval: 1h
  url: https://github.com/example/repo
  ref:
    branch: main
`,
  });
  const f = only(r.findings, 'pinned-versions').map((x) => `${x.object}: ${x.message}`);
  assert.is(f.length, 3, f.join('\n'));
  assert.ok(f.some((x) => x.startsWith('OCIRepository flux-system/latest-chart') && x.includes('"latest" moves')));
  assert.ok(f.some((x) => x.startsWith('OCIRepository flux-system/no-ref') && x.includes('has no ref')));
  assert.ok(f.some((x) => x.startsWith('GitRepository flux-system/upstream') && x.includes('branch main')));
});

test('container images without a pinned tag are reported, in HelmRelease values too', async () => {
  const r = await validateWith({ [HR]: BASE[HR]!.replace('    ui:', '    image:\n      repository: ghcr.io/stefanprodan/podinfo\n      tag: latest\n    sidecar:\n      image: busybox\n    ui:') });
  const f = only(r.findings, 'pinned-versions').map((x) => `${x.object}: ${x.message}`);
  assert.equal(f, ['HelmRelease podinfo/podinfo: spec.values.image.tag: tag "latest" moves: pin a version', 'HelmRelease podinfo/podinfo: spec.values.sidecar.image: image "busybox" has no pinned tag or digest']);
});

test('a plaintext Secret is reported, applied or merely committed', async () => {
  const secret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: podinfo
stringData:
  password: hunter2
`;
  const applied = await validateWith({
    'kubernetes/apps/app/secret.yaml': secret,
    'kubernetes/apps/app/kustomization.yaml': BASE['kubernetes/apps/app/kustomization.yaml']!.replace('  - helmrelease.yaml', '  - helmrelease.yaml\n  - secret.yaml'),
  });
  const f = only(applied.findings, 'plaintext-secret');
  assert.is(f.length, 1, show(applied.findings));
  assert.is(f[0]!.file, 'kubernetes/apps/app/secret.yaml');
  assert.is(f[0]!.object, 'Secret podinfo/db');
  assert.match(f[0]!.message, 'applied by Kustomization flux-system/app');

  const stray = await validateWith({ 'kubernetes/apps/unused/secret.yaml': secret });
  const g = only(stray.findings, 'plaintext-secret');
  assert.is(g.length, 1, show(stray.findings));
  assert.is(g[0]!.file, 'kubernetes/apps/unused/secret.yaml');
  assert.match(g[0]!.message, 'committed to git');
});

/** The app's kustomization with a plaintext Secret `db` added, and `extra` (kustomization fields) appended. */
const withAppSecret = (extra: string) => ({
  'kubernetes/apps/app/secret.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n',
  'kubernetes/apps/app/kustomization.yaml': `${BASE['kubernetes/apps/app/kustomization.yaml']!.replace('  - helmrelease.yaml', '  - helmrelease.yaml\n  - secret.yaml')}${extra}`,
});

test('a plaintext Secret in a Kustomization that sets the namespace is reported once', async () => {
  const r = await validateWith(withAppSecret('namespace: podinfo\n'));
  const f = only(r.findings, 'plaintext-secret');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, 'kubernetes/apps/app/secret.yaml');
  assert.is(f[0]!.object, 'Secret podinfo/db');
  assert.match(f[0]!.message, 'applied by Kustomization flux-system/app');
});

test('a plaintext Secret renamed by namePrefix/nameSuffix is reported once, as applied', async () => {
  const r = await validateWith(withAppSecret('namePrefix: app-\nnameSuffix: -v1\n'));
  const f = only(r.findings, 'plaintext-secret');
  assert.is(f.length, 1, show(r.findings));
  assert.match(f[0]!.object ?? '', 'app-db-v1');
  assert.match(f[0]!.message, 'applied by Kustomization flux-system/app');
});

test('a kustomize secretGenerator is a plaintext Secret too', async () => {
  const r = await validateWith({
    'kubernetes/apps/app/kustomization.yaml': `${BASE['kubernetes/apps/app/kustomization.yaml']}secretGenerator:\n  - name: generated\n    namespace: podinfo\n    literals: [a=b]\n`,
  });
  assert.ok(only(r.findings, 'plaintext-secret').some((f) => f.object?.startsWith('Secret podinfo/generated')), show(r.findings));
});

test('an undefined ${VAR} is reported; defaults and escapes are not', async () => {
  const hr = BASE[HR]!.replace('hello from ${CLUSTER_NAME}', () => 'hello from ${CLUSTER_NAME} in ${CLUSTER_REGION}, ${ZONE:=a}, $${LITERAL}');
  const r = await validateWith({ [HR]: hr });
  const f = only(r.findings, 'substitution');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, HR);
  assert.is(f[0]!.object, 'HelmRelease podinfo/podinfo');
  assert.match(f[0]!.message, '${CLUSTER_REGION}, which ConfigMap cluster-settings does not define');
});

test('${VAR} in a Kustomization without postBuild is reported; substitution-disabled objects are skipped', async () => {
  const flux = BASE[FLUX]!.replace(/  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n/, '');
  const r = await validateWith({ [FLUX]: flux });
  const f = only(r.findings, 'substitution');
  assert.ok(f.some((x) => x.message.includes('uses ${CLUSTER_NAME} but Kustomization flux-system/app has no postBuild')), show(r.findings));

  const disabled = BASE[HR]!.replace('  namespace: podinfo\nspec:', '  namespace: podinfo\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\nspec:').replace('replicaCount: ${REPLICAS}', 'replicaCount: 2');
  const r2 = await validateWith({ [HR]: disabled.replace('hello from ${CLUSTER_NAME}', 'hello from ${UNDEFINED_BUT_DISABLED}') });
  assert.equal(only(r2.findings, 'substitution'), [], show(r2.findings));
});

test('substituted values are validated with their real types (a number from cluster-settings)', async () => {
  // replicas is a number once substituted: a Deployment with replicas: ${REPLICAS} passes; a non-number fails.
  const dep = (value: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: podinfo
spec:
  replicas: ${value}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.9.0
`;
  const kz = BASE['kubernetes/apps/app/kustomization.yaml']!.replace('  - helmrelease.yaml', '  - helmrelease.yaml\n  - deployment.yaml');
  const ok = await validateWith({ 'kubernetes/apps/app/deployment.yaml': dep('${REPLICAS}'), 'kubernetes/apps/app/kustomization.yaml': kz });
  assert.equal(ok.findings, [], show(ok.findings));
  const bad = await validateWith({ 'kubernetes/apps/app/deployment.yaml': dep('${CLUSTER_NAME}'), 'kubernetes/apps/app/kustomization.yaml': kz });
  const f = only(bad.findings, 'schema');
  assert.is(f.length, 1, show(bad.findings));
  assert.is(f[0]!.object, 'Deployment podinfo/web');
  assert.match(f[0]!.message, 'spec.replicas must be integer');
});

test('an invalid field in a HelmRelease is reported: unknown field and wrong type', async () => {
  const typo = await validateWith({ [HR]: BASE[HR]!.replace('      version: 6.9.0', '      verison: 6.9.0').replace('  interval: 30m', '  intervall: 30m') });
  const f = only(typo.findings, 'schema').map((x) => `${x.file} ${x.object}: ${x.message}`);
  assert.ok(f.includes(`${HR} HelmRelease podinfo/podinfo: spec.chart.spec.verison: unknown field`), f.join('\n'));
  assert.ok(f.includes(`${HR} HelmRelease podinfo/podinfo: spec.intervall: unknown field`), f.join('\n'));

  const type = await validateWith({ [HR]: BASE[HR]!.replace('retries: 3', 'retries: three') });
  const g = only(type.findings, 'schema');
  assert.is(g.length, 1, show(type.findings));
  assert.match(g[0]!.message, 'spec.install.remediation.retries must be integer');

  const kind = await validateWith({ [HR]: BASE[HR]!.replace('kind: HelmRepository', 'kind: HelmRepo') });
  assert.ok(only(kind.findings, 'schema').some((x) => x.message.includes('spec.chart.spec.sourceRef.kind must be equal to one of the allowed values')), show(kind.findings));
});

test('HelmRelease values are free-form: unknown keys there are fine', async () => {
  const r = await validateWith({ [HR]: BASE[HR]!.replace('    ui:', '    anything:\n      goes: [1, 2]\n    ui:') });
  assert.equal(r.findings, [], show(r.findings));
});

test('unknown metadata fields and kinds without a schema are reported', async () => {
  const ns = `apiVersion: v1
kind: Namespace
metadata:
  name: podinfo
  lables:
    a: b
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  namespace: podinfo
spec: {}
`;
  const r = await validateWith({ 'kubernetes/apps/app/namespace.yaml': ns });
  const f = only(r.findings, 'schema').map((x) => `${x.object}: ${x.message}`);
  assert.ok(f.includes('Namespace podinfo: metadata.lables: unknown field'), f.join('\n'));
  assert.ok(f.some((x) => x.startsWith('Widget podinfo/w: no schema for example.com/v1 Widget')), f.join('\n'));
});

test('Kustomization settings: prune, wait or healthChecks, timeout, path', async () => {
  const flux = BASE[FLUX]!.replace('  path: ./kubernetes/apps/app\n  prune: true\n  wait: true\n', '  path: ./kubernetes/apps/app\n  prune: false\n').replace(/(name: app\n[\s\S]*?)  timeout: 5m\n/, '$1');
  const r = await validateWith({ [FLUX]: flux });
  const f = only(r.findings, 'flux-settings').map((x) => `${x.object}: ${x.message}`);
  assert.is(f.length, 3, f.join('\n'));
  assert.ok(f.some((x) => x.includes('must set spec.prune: true')));
  assert.ok(f.some((x) => x.includes('needs spec.wait: true or spec.healthChecks')));
  assert.ok(f.some((x) => x.includes('has no spec.timeout')));
  assert.ok(f.every((x) => x.startsWith('Kustomization flux-system/app')));

  const both = BASE[FLUX]!.replace('  wait: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  dependsOn', '  wait: true\n  healthChecks:\n    - apiVersion: v1\n      kind: Namespace\n      name: podinfo\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  dependsOn');
  const r2 = await validateWith({ [FLUX]: both });
  assert.ok(only(r2.findings, 'flux-settings').some((x) => x.message.includes('Flux ignores healthChecks when wait is true')), show(r2.findings));

  const badPath = await validateWith({ [FLUX]: BASE[FLUX]!.replace('./kubernetes/apps/app', './kubernetes/apps/nope') });
  assert.ok(badPath.findings.some((x) => x.message.includes('kubernetes/apps/nope: path does not exist')), show(badPath.findings));
});

test('a sourceRef to a missing source is reported (Kustomization and HelmRelease)', async () => {
  const r = await validateWith({ [HR]: BASE[HR]!.replace('name: podinfo\n        namespace: flux-system', 'name: podinfo-charts\n        namespace: flux-system') });
  const f = only(r.findings, 'flux-graph');
  assert.is(f.length, 1, show(r.findings));
  assert.match(f[0]!.message, 'chart sourceRef HelmRepository flux-system/podinfo-charts does not exist');
  const r2 = await validateWith({ [FLUX]: BASE[FLUX]!.replace(/(name: app[\s\S]*?sourceRef:\n    kind: GitRepository\n    name: )flux-system/, '$1other') });
  assert.ok(only(r2.findings, 'flux-graph').some((x) => x.object === 'Kustomization flux-system/app' && x.message.includes('sourceRef GitRepository flux-system/other does not exist')), show(r2.findings));
});

test('a Kustomization depending on a deferred one must be deferred too', async () => {
  const flux = BASE[FLUX]!.replace('  name: sources\n  namespace: flux-system\n', '  name: sources\n  namespace: flux-system\n  labels:\n    bootstrap.home-ops/wait: verify\n');
  const r = await validateWith({ [FLUX]: flux });
  const f = only(r.findings, 'flux-settings');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Kustomization flux-system/app');
  assert.match(f[0]!.message, 'depends on flux-system/sources, which is labelled bootstrap.home-ops/wait=verify');
});

test('a kustomize build failure names the directory and the Kustomization', async () => {
  const r = await validateWith({ 'kubernetes/apps/app/kustomization.yaml': BASE['kubernetes/apps/app/kustomization.yaml']!.replace('  - namespace.yaml', '  - namespace.yaml\n  - missing.yaml') });
  const f = only(r.findings, 'kustomize');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'Kustomization flux-system/app');
  assert.match(f[0]!.message, 'kubernetes/apps/app: kustomize build failed');
  assert.match(f[0]!.message, 'missing.yaml');
});

test('a path without kustomization.yaml is built like Flux does: every manifest, none is fine', async () => {
  const flux = `${BASE[FLUX]}---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: sealed
  namespace: flux-system
spec:
  interval: 30m
  timeout: 5m
  path: ./kubernetes/apps/sealed
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`;
  const empty = await validateWith({ [FLUX]: flux, 'kubernetes/apps/sealed/README.md': 'sealed secrets go here\n' });
  assert.equal(empty.findings, [], show(empty.findings));
  const sealed = `apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: db
  namespace: podinfo
spec:
  encryptedData:
    password: AgBy8hCi
  template:
    metadata:
      name: db
      namespace: podinfo
    type: Opaque
`;
  const one = await validateWith({ [FLUX]: flux, 'kubernetes/apps/sealed/db.sealed.yaml': sealed });
  assert.equal(one.findings, [], show(one.findings));
  assert.is(one.counts.objects, 8);
});

test.run();
