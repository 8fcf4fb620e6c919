import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { renderAll } from '../../scripts/lib/configure/render.ts';
import { runnerExec } from '../../scripts/lib/validate/exec.ts';
import { validateRepository, type ValidateReport } from '../../scripts/lib/validate/run.ts';
import { show } from './fixture.ts';

// A new cluster as a new user makes it: the example config copied and renamed, one optional section removed, then
// `configure` — and the rendered Flux entry builds and passes validate (real `kubectl kustomize`) on a copy of the
// repository's Flux tree, with the Kustomizations that need the removed section left out.

/**
 * Renders a cluster config into a copy of the repository's Flux tree (with the schemas, and README.md whose "When
 * things break" the alert rules name) and validates that cluster there, then hands the report over; the copy is
 * removed afterwards.
 */
async function validateRendered(text: string, file: string, inspect: (r: ValidateReport) => void): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'new-cluster-'));
  try {
    cpSync(join(REPO_ROOT, 'kubernetes'), join(root, 'kubernetes'), { recursive: true });
    cpSync(join(REPO_ROOT, 'schemas'), join(root, 'schemas'), { recursive: true });
    cpSync(join(REPO_ROOT, 'README.md'), join(root, 'README.md'));
    const c = parseConfigText(text, file);
    for (const [rel, content] of renderAll(c)) {
      if (!rel.startsWith('kubernetes/')) continue;
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), content);
    }
    const r = await validateRepository({ root, exec: runnerExec(new Logger({ level: 'error' })), clusters: [c.cluster.name], terraformFmt: false });
    const problems = r.findings.filter((f) => f.level !== 'warning' && f.check !== 'taskfile');
    assert.equal(problems, [], show(problems));
    inspect(r);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const EXAMPLE = readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8');

test('a cluster made from a copied config alone builds and validates, without the Kustomizations of a removed section', async () => {
  const text = EXAMPLE.replace('name: infra ', 'name: lab ').replace(/\npowerdns:[\s\S]*?\n(?=proxmoxCsi:)/, '\n');
  assert.is(parseConfigText(text, 'clusters/lab.yaml').powerdns, undefined);
  await validateRendered(text, 'clusters/lab.yaml', (r) => {
    const ks = [...r.trees[0]!.kustomizations.keys()];
    for (const k of ['sources', 'cluster-secrets', 'cert-manager', 'proxmox-csi', 'vault']) assert.ok(ks.includes(`flux-system/${k}`), k);
    for (const k of ['powerdns', 'external-dns', 'cluster-issuers', 'authentik', 'gitea']) assert.not.ok(ks.includes(`flux-system/${k}`), k);
    const secrets = r.trees[0]!.kustomizations.get('flux-system/cluster-secrets')!.obj as { spec: { path: string } };
    assert.is(secrets.spec.path, './kubernetes/clusters/lab/secrets');
  });
});

// An infra cluster whose PowerDNS runs in another cluster (powerdns.external): no powerdns Kustomization, so nothing
// pushes the API key into its Vault; its issuer is built alone and reads the key sealed for cert-manager.
test('role infra with powerdns.external: the tree validates, and the DNS-01 issuer reads the sealed key, not Vault', async () => {
  const text = EXAMPLE.replace('name: infra ', 'name: lab ')
    .replace(/\n    dns: 10\.0\.10\.200 .*\n/, '\n')
    .replace(/\npowerdns:\n(  .*\n|\s*#.*\n)*/, '\npowerdns:\n  zone: k8s.example.org\n  external: { apiUrl: "http://10.0.30.200:8081" }\n')
    .replace(/\nvps:\n(  .*\n|\s*#.*\n)*/, '\n');
  assert.ok(parseConfigText(text, 'clusters/lab.yaml').powerdns?.external);
  await validateRendered(text, 'clusters/lab.yaml', (r) => {
    const tree = r.trees[0]!;
    assert.not.ok(tree.kustomizations.has('flux-system/powerdns'));
    const issuers = tree.kustomizations.get('flux-system/cluster-issuers')!.obj as { spec: { path: string; dependsOn: { name: string }[] } };
    assert.is(issuers.spec.path, './kubernetes/platform/cluster-issuers/issuer');
    assert.equal(issuers.spec.dependsOn.map((d) => d.name), ['cert-manager-webhook-pdns', 'cluster-secrets']);
    assert.not.ok(tree.objects.some((a) => a.obj.kind === 'ExternalSecret' && a.obj.metadata?.name === 'powerdns-api-key'), 'no ExternalSecret of the key');
    const issuer = tree.objects.find((a) => a.obj.kind === 'ClusterIssuer')!.obj as Record<string, any>;
    assert.equal(issuer.spec.acme.solvers[0].dns01.webhook.config.apiKeySecretRef, { name: 'powerdns-api-key', key: 'api-key' });
    assert.is(issuer.spec.acme.solvers[0].dns01.webhook.config.host, 'http://10.0.30.200:8081');
  });
});

// The Matrix alert receiver exists only in a tree rendered with `monitoring.alerts.receiver: matrix` (the example's,
// a room on the platform's own Synapse): render the example under another name and validate, then follow
// Alertmanager's webhook to the receiver.
test('receiver matrix: the rendered tree validates, and Alertmanager posts to the receiver, which posts to the room', async () => {
  const text = EXAMPLE.replace('name: infra ', 'name: lab ');
  assert.match(text, /^ {4}receiver: matrix\n/m, 'the example names its receiver');
  await validateRendered(text, 'clusters/lab.yaml', (r) => {
    const tree = r.trees[0]!;
    assert.ok(tree.kustomizations.has('flux-system/alerts-matrix'));
    const obj = (kind: string, name: string) => tree.objects.find((a) => a.obj.kind === kind && a.obj.metadata?.name === name)?.obj as Record<string, any> | undefined;
    // Alertmanager routes to "matrix", whose webhook is the receiver's Service, port and room-mapping name.
    const am = obj('VMAlertmanager', 'alertmanager')!;
    const amConfig = am.spec.configRawYaml as string;
    assert.match(amConfig, 'receiver: matrix\n');
    const url = new URL(/url: (http:\/\/matrix-alertmanager-receiver\S+)/.exec(amConfig)![1]!);
    const svc = obj('Service', 'matrix-alertmanager-receiver')!;
    assert.is(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
    assert.ok(svc.spec.ports.some((p: { port: number }) => String(p.port) === url.port), `Service ports vs ${url.port}`);
    const deploy = obj('Deployment', 'matrix-alertmanager-receiver')!;
    const container = deploy.spec.template.spec.containers[0];
    const cmName = deploy.spec.template.spec.volumes[0].configMap.name as string;
    const config = parse(obj('ConfigMap', cmName)!.data['config.yaml']) as Record<string, any>;
    assert.is(`${config.http.port}`, String(container.ports[0].containerPort));
    assert.is(url.pathname, `${config.http['alerts-path-prefix']}/home-ops`);
    // The settings from the config, quoted in the file (a user id starts with @, a room id with !); the token from
    // the sealed Secret only, expanded by the receiver from its environment.
    assert.equal(config.matrix, { 'homeserver-url': 'https://matrix.k8s.example.org', 'user-id': '@alerts:k8s.example.org', 'access-token': '${MATRIX_ACCESS_TOKEN}', 'room-mapping': { 'home-ops': '!AbCdEf:k8s.example.org' } });
    assert.equal(container.env, [{ name: 'MATRIX_ACCESS_TOKEN', valueFrom: { secretKeyRef: { name: 'matrix-alertmanager-receiver', key: 'access-token' } } }]);
    // a changed setting changes the pod template (the generated ConfigMap's name hashes the unsubstituted template)
    assert.match(deploy.spec.template.metadata.annotations['home-ops/matrix-target'], 'to !AbCdEf:k8s.example.org as @alerts:k8s.example.org on https://matrix.k8s.example.org');
    assert.ok(config.templating['firing-template'].trim().length > 0, 'the receiver refuses to start without a firing template');
    // Alerts of several clusters reach one room (monitoring.shipTo): each message names its cluster.
    for (const t of ['firing-template', 'resolved-template']) assert.match(config.templating[t], '{{ if .Alert.Labels.cluster }}[{{ .Alert.Labels.cluster }}] {{ end }}', t);
    // The homeserver is the platform's own Synapse: its route serves that host, and namespace monitoring may reach the
    // Gateway (Cilium's ingress entity) on 443.
    const host = new URL(config.matrix['homeserver-url']).hostname;
    assert.ok(tree.objects.some((a) => a.obj.kind === 'HTTPRoute' && a.obj.metadata?.namespace === 'matrix' && ((a.obj.spec as { hostnames?: string[] }).hostnames ?? []).includes(host)), `an HTTPRoute of namespace matrix serves ${host}`);
    const policy = tree.objects.find((a) => a.obj.kind === 'CiliumNetworkPolicy' && a.obj.metadata?.namespace === 'monitoring' && a.obj.metadata?.name === 'allow-needs')!.obj as Record<string, any>;
    assert.ok(policy.spec.egress.some((e: Record<string, any>) => e.toEntities?.includes('ingress') && e.toPorts?.some((p: { ports: { port: string }[] }) => p.ports.some((x) => x.port === '443'))), 'monitoring may reach the Gateway on 443');
  });
});

test.run();
