import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '../../scripts/lib/core/log.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { runnerExec } from '../../scripts/lib/validate/exec.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';
import { loadRepository } from '../../scripts/lib/validate/run.ts';
import { appClients, BLUEPRINT_SCHEMA, BlueprintTag, blueprintSchemaProblems, externalSecretData, parseBlueprint, withoutTags } from '../../scripts/lib/validate/sso.ts';
import { BASE, only, show, validateWith } from './fixture.ts';

// The sign-in wiring check on a small tree: Authentik (HelmRelease, blueprint ConfigMap, its env from an
// ExternalSecret) and Gitea (HelmRelease with an optional valuesFrom Secret that an ExternalSecret writes). The clean
// tree passes; each broken one is caught by the check it is about.

const APP = 'kubernetes/apps/app';
const BP = `${APP}/blueprints/gitea.yaml`;
const GITEA_SSO = 'kubernetes/apps/gitea-sso/oidc.yaml';
const FLUX = 'kubernetes/clusters/test/flux.yaml';
const AUTHENTIK = `${APP}/authentik.yaml`;

const BLUEPRINT = `version: 1
metadata:
  name: test gitea
entries:
  - model: authentik_core.group
    identifiers:
      name: gitea-admins
    attrs:
      name: gitea-admins
  - model: authentik_providers_oauth2.oauth2provider
    id: provider-gitea
    identifiers:
      name: gitea
    attrs:
      name: gitea
      client_type: confidential
      client_id: gitea
      client_secret: !Env GITEA_OIDC_CLIENT_SECRET
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      redirect_uris:
        - matching_mode: strict
          url: https://git.\${DNS_ZONE}/user/oauth2/authentik/callback
  - model: authentik_core.application
    identifiers:
      slug: gitea
    attrs:
      name: Gitea
      slug: gitea
      provider: !KeyOf provider-gitea
`;

/** The PushSecret that seeds an app's client secret into Vault once (secret/<app>, property oidc-client-secret). */
const seedPushSecret = (app: string) => `---
apiVersion: external-secrets.io/v1alpha1
kind: PushSecret
metadata:
  name: sso-seed-${app}-client-secret
  namespace: podinfo
spec:
  updatePolicy: IfNotExists
  secretStoreRefs:
    - kind: ClusterSecretStore
      name: vault
  selector:
    generatorRef:
      apiVersion: generators.external-secrets.io/v1alpha1
      kind: ClusterGenerator
      name: password-48
  data:
    - match:
        secretKey: password
        remoteRef:
          remoteKey: ${app}
          property: oidc-client-secret
`;

const SSO_FILES: Record<string, string> = {
  // Gitea's SSO settings in their own Kustomization, after the one that generates the client secret (as in the repo).
  [FLUX]: `${BASE[FLUX]!}---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: gitea-sso
  namespace: flux-system
spec:
  interval: 30m
  timeout: 5m
  path: ./kubernetes/apps/gitea-sso
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  dependsOn:
    - name: app
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
`,
  'kubernetes/clusters/test/cluster-settings.yaml': BASE['kubernetes/clusters/test/cluster-settings.yaml']! + '  DNS_ZONE: example.test\n',
  'kubernetes/apps/sources/repository.yaml': `${BASE['kubernetes/apps/sources/repository.yaml']!}---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: authentik
  namespace: flux-system
spec:
  interval: 12h
  url: https://charts.goauthentik.io
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: gitea
  namespace: flux-system
spec:
  interval: 12h
  url: https://dl.gitea.com/charts
`,
  [`${APP}/kustomization.yaml`]: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - namespace.yaml
  - helmrelease.yaml
  - authentik.yaml
  - gitea.yaml
configMapGenerator:
  - name: authentik-blueprints
    namespace: podinfo
    files:
      - blueprints/gitea.yaml
generatorOptions:
  disableNameSuffixHash: true
`,
  [BP]: BLUEPRINT,
  [AUTHENTIK]: `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: authentik
  namespace: podinfo
spec:
  interval: 30m
  chart:
    spec:
      chart: authentik
      version: 2025.10.0
      sourceRef:
        kind: HelmRepository
        name: authentik
        namespace: flux-system
  values:
    global:
      envFrom:
        - secretRef:
            name: authentik-secrets
    blueprints:
      configMaps:
        - authentik-blueprints
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: authentik-secrets
  namespace: podinfo
spec:
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault
  target:
    name: authentik-secrets
    template:
      data:
        GITEA_OIDC_CLIENT_SECRET: '{{ index . "gitea-client" }}'
  data:
    - secretKey: gitea-client
      remoteRef:
        key: gitea
        property: oidc-client-secret
${seedPushSecret('gitea')}`,
  [`${APP}/gitea.yaml`]: `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: gitea
  namespace: podinfo
spec:
  interval: 30m
  chart:
    spec:
      chart: gitea
      version: 12.4.0
      sourceRef:
        kind: HelmRepository
        name: gitea
        namespace: flux-system
  valuesFrom:
    - kind: Secret
      name: gitea-oidc
      valuesKey: values.yaml
      optional: true
  values:
    gitea:
      config:
        server:
          ROOT_URL: https://git.\${DNS_ZONE}/
`,
  [GITEA_SSO]: `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: gitea-oidc
  namespace: podinfo
spec:
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault
  target:
    name: gitea-oidc
    template:
      data:
        key: gitea
        secret: '{{ .client }}'
        values.yaml: |
          gitea:
            oauth:
              - name: authentik
                provider: openidConnect
                existingSecret: gitea-oidc
                autoDiscoverUrl: https://auth.\${DNS_ZONE}/application/o/gitea/.well-known/openid-configuration
                groupClaimName: groups
                adminGroup: gitea-admins
  data:
    - secretKey: client
      remoteRef:
        key: gitea
        property: oidc-client-secret
`,
  [BLUEPRINT_SCHEMA]: readFileSync(join(REPO_ROOT, BLUEPRINT_SCHEMA), 'utf8'),
};

// Grafana beside Gitea: its generic OAuth settings in its own SSO Kustomization (as kubernetes/monitoring/grafana/sso).
const GRAFANA_BP = `${APP}/blueprints/grafana.yaml`;
const GRAFANA_SSO = 'kubernetes/apps/grafana-sso/oidc.yaml';
const GRAFANA_HR = `${APP}/grafana.yaml`;
const GRAFANA_FILES: Record<string, string> = {
  [FLUX]: `${SSO_FILES[FLUX]!.replace(/\n$/, '')}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: grafana-sso
  namespace: flux-system
spec:
  interval: 30m
  timeout: 5m
  path: ./kubernetes/apps/grafana-sso
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  dependsOn:
    - name: app
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
`,
  'kubernetes/apps/sources/repository.yaml': `${SSO_FILES['kubernetes/apps/sources/repository.yaml']!}---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: grafana-community
  namespace: flux-system
spec:
  interval: 12h
  url: https://grafana-community.github.io/helm-charts
`,
  [`${APP}/kustomization.yaml`]: SSO_FILES[`${APP}/kustomization.yaml`]!.replace('  - gitea.yaml\n', '  - gitea.yaml\n  - grafana.yaml\n').replace('      - blueprints/gitea.yaml\n', '      - blueprints/gitea.yaml\n      - blueprints/grafana.yaml\n'),
  [GRAFANA_BP]: `version: 1
metadata:
  name: test grafana
entries:
  - model: authentik_core.group
    identifiers:
      name: grafana-admins
    attrs:
      name: grafana-admins
  - model: authentik_core.group
    identifiers:
      name: grafana-viewers
    attrs:
      name: grafana-viewers
  - model: authentik_providers_oauth2.oauth2provider
    id: provider-grafana
    identifiers:
      name: grafana
    attrs:
      name: grafana
      client_type: confidential
      client_id: grafana
      client_secret: !Env GRAFANA_OIDC_CLIENT_SECRET
      authorization_flow: !Find [authentik_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      redirect_uris:
        - matching_mode: strict
          url: https://grafana.\${DNS_ZONE}/login/generic_oauth
  - model: authentik_core.application
    identifiers:
      slug: grafana
    attrs:
      name: Grafana
      slug: grafana
      provider: !KeyOf provider-grafana
`,
  [AUTHENTIK]: `${SSO_FILES[AUTHENTIK]!.replace(
    `        GITEA_OIDC_CLIENT_SECRET: '{{ index . "gitea-client" }}'\n`,
    `        GITEA_OIDC_CLIENT_SECRET: '{{ index . "gitea-client" }}'\n        GRAFANA_OIDC_CLIENT_SECRET: '{{ index . "grafana-client" }}'\n`,
  ).replace(
    '  data:\n    - secretKey: gitea-client\n',
    '  data:\n    - secretKey: grafana-client\n      remoteRef:\n        key: grafana\n        property: oidc-client-secret\n    - secretKey: gitea-client\n',
  )}${seedPushSecret('grafana')}`,
  [GRAFANA_HR]: `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: grafana
  namespace: podinfo
spec:
  interval: 30m
  chart:
    spec:
      chart: grafana
      version: 11.6.1
      sourceRef:
        kind: HelmRepository
        name: grafana-community
        namespace: flux-system
  valuesFrom:
    - kind: Secret
      name: grafana-oidc
      valuesKey: values.yaml
      optional: true
  values:
    grafana.ini:
      server:
        root_url: https://grafana.\${DNS_ZONE}
`,
  [GRAFANA_SSO]: `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: grafana-oidc
  namespace: podinfo
spec:
  secretStoreRef:
    kind: ClusterSecretStore
    name: vault
  target:
    name: grafana-oidc
    template:
      data:
        client-secret: '{{ index . "client-secret" }}'
        values.yaml: |
          envValueFrom:
            GRAFANA_OIDC_CLIENT_SECRET:
              secretKeyRef:
                name: grafana-oidc
                key: client-secret
          grafana.ini:
            auth:
              signout_redirect_url: https://auth.\${DNS_ZONE}/application/o/grafana/end-session/
            auth.generic_oauth:
              enabled: true
              client_id: grafana
              client_secret: $__env{GRAFANA_OIDC_CLIENT_SECRET}
              auth_url: https://auth.\${DNS_ZONE}/application/o/authorize/
              token_url: https://auth.\${DNS_ZONE}/application/o/token/
              api_url: https://auth.\${DNS_ZONE}/application/o/userinfo/
              role_attribute_path: contains(groups, 'grafana-admins') && 'GrafanaAdmin' || contains(groups[*], 'grafana-viewers') && 'Viewer'
              role_attribute_strict: true
  data:
    - secretKey: client-secret
      remoteRef:
        key: grafana
        property: oidc-client-secret
`,
};

async function sso(overrides: Record<string, string> = {}): Promise<Finding[]> {
  const r = await validateWith({ ...SSO_FILES, ...overrides });
  const other = r.findings.filter((f) => f.check !== 'sso');
  assert.equal(other, [], `only the SSO check may fail:\n${show(other)}`);
  return only(r.findings, 'sso');
}

const edit = (file: string, from: string, to: string) => {
  const text = SSO_FILES[file]!;
  assert.ok(text.includes(from), `${file} has ${from}`);
  return { [file]: text.replace(from, to) };
};

test('the wired fixture is clean, and the check sees its Gitea client', async () => {
  assert.equal(await sso(), []);
  const r = await validateWith(SSO_FILES);
  assert.equal(r.findings, [], show(r.findings));
});

test('an app naming a client id no provider has', async () => {
  const f = await sso(edit(GITEA_SSO, 'key: gitea', 'key: gitee'));
  assert.is(f.length, 1, show(f));
  assert.is(f[0]!.file, `${APP}/gitea.yaml`);
  assert.is(f[0]!.object, 'HelmRelease podinfo/gitea');
  assert.match(f[0]!.message, 'names OIDC client "gitee", but no Authentik provider in the blueprints has that client_id');
});

test('an issuer naming another application than the provider belongs to', async () => {
  const f = await sso(edit(GITEA_SSO, '/application/o/gitea/', '/application/o/forge/'));
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, `issuer names application "forge", but provider gitea belongs to application "gitea"`);
});

test('a redirect URI on the wrong host, and an app whose real host moved', async () => {
  let f = await sso(edit(BP, 'url: https://git.${DNS_ZONE}/user', 'url: https://gitea.${DNS_ZONE}/user'));
  assert.is(f.length, 2, show(f));
  assert.match(f[0]!.message, 'calls back to https://git.example.test/user/oauth2/authentik/callback, which provider gitea');
  assert.match(f[1]!.message, 'allows redirect URI https://gitea.example.test/user/oauth2/authentik/callback, which is not a callback');
  // the source's name is part of Gitea's callback path
  f = await sso(edit(GITEA_SSO, '- name: authentik', '- name: sso'));
  assert.ok(f.some((x) => x.message.includes('calls back to https://git.example.test/user/oauth2/sso/callback')), show(f));
  f = await sso(edit(`${APP}/gitea.yaml`, 'ROOT_URL: https://git.${DNS_ZONE}/', 'ROOT_URL: https://code.${DNS_ZONE}/'));
  assert.ok(f.some((x) => x.message.includes('calls back to https://code.example.test/user/oauth2/authentik/callback')), show(f));
});

test('the two ends reading the client secret from different Vault keys, or from git', async () => {
  let f = await sso(edit(GITEA_SSO, '        key: gitea\n        property: oidc-client-secret', '        key: gitea-sso\n        property: oidc-client-secret'));
  assert.is(f.length, 2, show(f));
  assert.match(f[0]!.message, 'reads its client secret from Vault gitea-sso#oidc-client-secret, but Authentik (!Env GITEA_OIDC_CLIENT_SECRET) reads gitea#oidc-client-secret');
  assert.match(f[1]!.message, 'no PushSecret in the tree generates Vault key gitea-sso#oidc-client-secret');
  f = await sso(edit(AUTHENTIK, 'property: oidc-client-secret', 'property: client-secret'));
  assert.match(f[0]?.message ?? '', 'Authentik (!Env GITEA_OIDC_CLIENT_SECRET) reads gitea#client-secret');
  f = await sso(edit(GITEA_SSO, `secret: '{{ .client }}'`, 'secret: s3cr3t-in-git'));
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, `client secret is written in the tree`);
  f = await sso(edit(BP, 'client_secret: !Env GITEA_OIDC_CLIENT_SECRET', 'client_secret: !Env GITEA_CLIENT_SECRET'));
  assert.ok(f.some((x) => x.message.includes(`client_secret is !Env GITEA_CLIENT_SECRET, but the authentik release's environment has no GITEA_CLIENT_SECRET`)), show(f));
  f = await sso(edit(BP, 'client_secret: !Env GITEA_OIDC_CLIENT_SECRET', 'client_secret: s3cr3t-in-git'));
  assert.ok(f.some((x) => x.message.includes(`provider gitea's client secret (client_secret) is written in the tree`)), show(f));
});

test('a client secret nobody generates, and a reader that does not wait for its generation', async () => {
  let f = await sso(edit(AUTHENTIK, '          remoteKey: gitea\n', '          remoteKey: gitea-other\n'));
  assert.is(f.length, 2, show(f));
  assert.match(f[0]!.message, 'no PushSecret in the tree generates Vault key gitea#oidc-client-secret, which gitea oauth source authentik reads');
  assert.match(f[1]!.message, `no PushSecret in the tree generates Vault key gitea#oidc-client-secret, which Authentik's provider gitea reads`);
  f = await sso(edit(FLUX, '  dependsOn:\n    - name: app\n', ''));
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, 'ExternalSecret podinfo/gitea-oidc (Kustomization flux-system/gitea-sso) reads Vault key gitea#oidc-client-secret for gitea oauth source authentik, but does not wait for Kustomization flux-system/app');
});

test('an app mapping a group no blueprint declares', async () => {
  const f = await sso(edit(GITEA_SSO, 'adminGroup: gitea-admins', 'adminGroup: gitea-owners'));
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, 'maps group "gitea-owners" (adminGroup), which no blueprint declares');
});

test('a blueprint the schema rejects, a dangling !KeyOf and an unknown tag', async () => {
  let f = await sso(edit(BP, 'client_type: confidential', 'client_type: secret'));
  assert.is(f.length, 1, show(f));
  assert.is(f[0]!.object, 'ConfigMap podinfo/authentik-blueprints');
  assert.is(f[0]!.file, BP);
  assert.match(f[0]!.message, 'blueprint gitea.yaml: entries[1] (authentik_providers_oauth2.oauth2provider): attrs.client_type must be equal to one of the allowed values (confidential, public)');
  f = await sso(edit(BP, 'model: authentik_core.group', 'model: authentik_core.groups'));
  assert.ok(f.some((x) => x.message.includes('entries[0]: model "authentik_core.groups" is not an Authentik model')), show(f));
  f = await sso(edit(BP, 'provider: !KeyOf provider-gitea', 'provider: !KeyOf provider-forge'));
  assert.ok(f.some((x) => x.message.includes('entries[2]: !KeyOf provider-forge names no entry id of this blueprint')), show(f));
  f = await sso(edit(BP, '!Find [authentik_flows.flow', '!Search [authentik_flows.flow'));
  assert.ok(f.some((x) => x.message.includes('blueprint gitea.yaml: Unresolved tag: !Search')), show(f));
  f = await sso(edit(BP, 'version: 1\n', ''));
  assert.ok(f.some((x) => x.message.includes("must have required property 'version'")), show(f));
});

test('Grafana: the wired client is clean, with its Vault key, its callback and the groups its roles map', async () => {
  assert.equal(await sso(GRAFANA_FILES), []);
  const r = await validateWith({ ...SSO_FILES, ...GRAFANA_FILES });
  assert.equal(r.findings, [], show(r.findings));
});

test('Grafana: a broken client id, callback, endpoint, sign-out URL, secret or group is caught', async () => {
  const g = (file: string, from: string, to: string) => {
    const text = GRAFANA_FILES[file] ?? SSO_FILES[file]!;
    assert.ok(text.includes(from), `${file} has ${from}`);
    return sso({ ...GRAFANA_FILES, [file]: text.replace(from, to) });
  };
  let f = await g(GRAFANA_SSO, 'client_id: grafana', 'client_id: grafana-x');
  assert.is(f.length, 1, show(f));
  assert.is(f[0]!.object, 'HelmRelease podinfo/grafana');
  assert.match(f[0]!.message, 'grafana generic_oauth names OIDC client "grafana-x", but no Authentik provider');
  // Grafana prefers GF_<SECTION>_<KEY> from its environment to grafana.ini
  f = await g(GRAFANA_HR, '  values:\n', '  values:\n    env:\n      GF_AUTH_GENERIC_OAUTH_CLIENT_ID: grafana2\n');
  assert.match(f[0]?.message ?? '', 'names OIDC client "grafana2"');
  // the callback follows root_url
  f = await g(GRAFANA_HR, 'root_url: https://grafana.${DNS_ZONE}', 'root_url: https://dash.${DNS_ZONE}/');
  assert.is(f.length, 2, show(f));
  assert.match(f[0]!.message, 'calls back to https://dash.example.test/login/generic_oauth, which provider grafana');
  // Authentik's endpoints are fixed; the slug is in the sign-out URL
  f = await g(GRAFANA_SSO, '/application/o/token/', '/application/o/grafana/token/');
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, `token_url is https://auth.example.test/application/o/grafana/token/, not Authentik's endpoint https://auth.example.test/application/o/token/`);
  f = await g(GRAFANA_SSO, 'api_url: https://auth.${DNS_ZONE}', 'api_url: https://sso.${DNS_ZONE}');
  assert.match(f[0]?.message ?? '', `api_url is https://sso.example.test/application/o/userinfo/, not Authentik's endpoint https://auth.example.test/application/o/userinfo/`);
  f = await g(GRAFANA_SSO, '/application/o/grafana/end-session/', '/application/o/dashboards/end-session/');
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, `issuer names application "dashboards", but provider grafana belongs to application "grafana"`);
  f = await g(GRAFANA_SSO, '              signout_redirect_url: https://auth.${DNS_ZONE}/application/o/grafana/end-session/\n', '              login_cookie_name: grafana_session\n');
  assert.match(f[0]?.message ?? '', 'auth signout_redirect_url is not set: set it to');
  // the secret: from Vault through the container's environment, never in the values
  f = await g(GRAFANA_SSO, 'client_secret: $__env{GRAFANA_OIDC_CLIENT_SECRET}', 'client_secret: s3cr3t-in-git');
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, `grafana generic_oauth's client secret is written in the tree`);
  f = await g(GRAFANA_SSO, 'client_secret: $__env{GRAFANA_OIDC_CLIENT_SECRET}', 'client_secret: $__env{GF_OIDC_SECRET}');
  assert.match(f[0]?.message ?? '', `client_secret is $__env{GF_OIDC_SECRET}, but Grafana's container has no GF_OIDC_SECRET`);
  f = await g(GRAFANA_SSO, '        key: grafana\n', '        key: monitoring\n');
  assert.ok(f.some((x) => x.message.includes('reads its client secret from Vault monitoring#oidc-client-secret, but Authentik (!Env GRAFANA_OIDC_CLIENT_SECRET) reads grafana#oidc-client-secret')), show(f));
  // every group a role is mapped from is declared
  f = await g(GRAFANA_SSO, "contains(groups[*], 'grafana-viewers')", "contains(groups[*], 'grafana-readers')");
  assert.is(f.length, 1, show(f));
  assert.match(f[0]!.message, `grafana generic_oauth maps group "grafana-readers" (role_attribute_path Viewer), which no blueprint declares`);
  // disabled: no client to check
  f = await g(GRAFANA_SSO, 'enabled: true', 'enabled: false');
  assert.equal(f, []);
});

test('blueprint tags parse as references, and the schema judges the rest', () => {
  const { doc, problems } = parseBlueprint('version: 1\nentries:\n  - model: authentik_core.group\n    identifiers: {name: !Env [G, x]}\n    attrs:\n      name: g\n      parents: [!Find [authentik_core.group, [name, p]]]\n');
  assert.equal(problems, []);
  const e = (doc!.entries as Record<string, Record<string, unknown>>[])[0]!;
  assert.ok(e.identifiers!.name instanceof BlueprintTag);
  assert.equal((e.identifiers!.name as BlueprintTag).args, ['G', 'x']);
  assert.equal(withoutTags(e), { model: 'authentik_core.group', identifiers: {}, attrs: { name: 'g', parents: [] } });
  assert.equal(blueprintSchemaProblems(doc!, REPO_ROOT), []);
});

test('ExternalSecret templates reduce to Vault keys and literals', () => {
  const data = externalSecretData({
    apiVersion: 'external-secrets.io/v1',
    kind: 'ExternalSecret',
    spec: {
      target: { template: { data: { a: '{{ .x }}', b: `pre {{ index . "y-z" }} {{ "{{ user.name }}" }}`, c: '{{ .missing }}' } } },
      data: [
        { secretKey: 'x', remoteRef: { key: 'k1', property: 'p1' } },
        { secretKey: 'y-z', remoteRef: { key: 'k2' } },
      ],
    },
  });
  assert.equal(data, { a: '@vault(k1#p1)', b: 'pre @vault(k2) {{ user.name }}', c: '{{ .missing }}' });
  assert.equal(externalSecretData({ spec: { data: [{ secretKey: 's', remoteRef: { key: 'k', property: 'p' } }] } }), { s: '@vault(k#p)' });
});

test('the repository wires Gitea, Grafana, Harbor, Synapse and Vault, each to its Vault key and its groups', async () => {
  const findings: Finding[] = [];
  const { trees } = await loadRepository(REPO_ROOT, { exec: runnerExec(new Logger({ level: 'error' })), clusters: ['infra'] }, findings);
  const clients = appClients(trees[0]!, findings);
  assert.equal(
    clients.map((c) => [c.clientId, c.secret, c.groups.map((g) => g.group).sort()]),
    [
      ['gitea', '@vault(gitea#oidc-client-secret)', ['gitea-admins', 'gitea-users']],
      ['grafana', '@vault(grafana#oidc-client-secret)', ['grafana-admins', 'grafana-editors', 'grafana-viewers']],
      ['harbor', '@vault(harbor#oidc-client-secret)', ['harbor-admins']],
      ['matrix', '@vault(matrix#oidc-client-secret)', ['matrix-users']],
      ['vault', '@vault(vault#oidc-client-secret)', ['vault-admins', 'vault-users']],
    ],
  );
  for (const c of clients) assert.ok(c.callbacks.length > 0 && c.callbacks.every((u) => !u.includes('${')), `${c.app}: ${c.callbacks.join(', ')}`);
});

test.run();
