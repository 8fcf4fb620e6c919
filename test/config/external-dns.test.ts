import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { bootstrapSecrets, sealedFileNames } from '../../scripts/lib/bootstrap/secrets.ts';
import { checkExternalDns, configGroups, powerDnsServerOf, type ConfigFile } from '../../scripts/lib/config/dns-rules.ts';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { omittedKustomizations, roleKustomizations } from '../../scripts/lib/configure/flux-entry.ts';
import { clusterSettings, generatedPaths, renderAll } from '../../scripts/lib/configure/render.ts';
import { checkConfigGroup } from '../../scripts/lib/validate/run.ts';
import type { ClusterTree } from '../../scripts/lib/validate/flux.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';

// The apps cluster's names and certificates through infra's PowerDNS (powerdns.external): what it renders, and the
// rules that keep the two configs in agreement (apiSourceRanges, zone, host names, owner ids).

const INFRA_TEXT = readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8');
const APPS_TEXT = readFileSync(join(REPO_ROOT, 'clusters/apps.example.yaml'), 'utf8');
const infraFile = (text = INFRA_TEXT): ConfigFile => ({ file: 'cluster.yaml', config: parseConfigText(text, 'cluster.yaml') });
const appsFile = (text = APPS_TEXT, file = 'clusters/apps.yaml'): ConfigFile => ({ file, config: parseConfigText(text, file) });
const messages = (issues: { file: string; field: string; message: string }[]) => issues.map((i) => `${i.file} ${i.field}: ${i.message}`);

test('the apps example: its own domain in infra\'s zone, infra\'s API, no PowerDNS of its own', () => {
  const apps = appsFile().config;
  assert.equal(apps.powerdns!.external, { apiUrl: 'http://10.0.10.200:8081', domain: 'apps.k8s.example.org' });
  assert.is(apps.powerdns!.apiUrl, 'http://10.0.10.200:8081');
  const s = clusterSettings(apps);
  assert.is(s.DNS_ZONE, 'apps.k8s.example.org');
  assert.is(s.PDNS_API_URL, 'http://10.0.10.200:8081');
  assert.is(s.PDNS_API_CIDR, '10.0.10.200/32');
  assert.is(s.LB_IP_INGRESS, '10.0.20.201');
  for (const k of ['LB_IP_DNS', 'DNS_NAMESERVER_IP', 'PDNS_API_SOURCE_RANGES']) assert.is(s[k], undefined, k);
  // infra: its own server's Service, and the same server by its LoadBalancer address.
  const infra = clusterSettings(infraFile().config);
  assert.is(infra.PDNS_API_URL, 'http://powerdns-api.dns-system.svc:8081');
  assert.is(infra.PDNS_API_CIDR, '10.0.10.200/32');
  assert.is(infra.DNS_ZONE, 'k8s.example.org');
});

test('the apps entry keeps the Gateway, external-dns, the webhook and the issuer; without powerdns they are left out with the reason', () => {
  const apps = appsFile().config;
  const ks = roleKustomizations(REPO_ROOT, 'apps');
  const names = ks.map((k) => k.name);
  for (const k of ['gateway', 'external-dns', 'cert-manager-webhook-pdns', 'cluster-issuers', 'network-policies', 'cilium-lb']) assert.ok(names.includes(k), `apps tree lacks ${k}`);
  assert.not.ok(names.includes('powerdns'));
  assert.equal([...omittedKustomizations(apps, ks)], []);
  const entry = renderAll(apps).get(generatedPaths('apps').fluxEntry)!;
  assert.is(parse(entry).patches.length, 1, entry);
  // Remove the section: every Kustomization that needs it is left out, each with its reason.
  const bare = parseConfigText(APPS_TEXT.replace(/\npowerdns:\n(  .*\n)*/, '\n').replace(/  loadBalancerIps:\n    ingress: .*\n/, ''), 'apps.yaml');
  assert.is(bare.powerdns, undefined);
  const left = omittedKustomizations(bare, ks);
  assert.equal([...left.keys()].sort(), ['cert-manager-webhook-pdns', 'cluster-issuers', 'external-dns', 'gateway']);
  assert.match(renderAll(bare).get(generatedPaths('apps').fluxEntry)!, '#   gateway: needs the powerdns section');
});

test('a cluster of role infra that uses PowerDNS elsewhere: powerdns left out with its reason, its dependents kept without that dependency; the issuer reads the sealed key', () => {
  const text = INFRA_TEXT.replace('name: infra ', 'name: infra2 ')
    .replace(/\n    dns: 10\.0\.10\.200 .*\n/, '\n')
    .replace(/\npowerdns:\n(  .*\n|\s*#.*\n)*/, '\npowerdns:\n  zone: k8s.example.org\n  external: { apiUrl: "http://10.0.30.200:8081" }\n')
    .replace(/\nvps:\n(  .*\n|\s*#.*\n)*/, '\n');
  const c = parseConfigText(text, 'infra2.yaml');
  assert.ok(c.powerdns?.external);
  const ks = roleKustomizations(REPO_ROOT, 'infra');
  const left = omittedKustomizations(c, ks);
  assert.equal([...left.keys()], ['powerdns']);
  assert.match(left.get('powerdns')!, 'PowerDNS runs elsewhere (powerdns.external.apiUrl http://10.0.30.200:8081)');
  const entry = renderAll(c).get(generatedPaths('infra2').fluxEntry)!;
  assert.match(entry, '#   powerdns: PowerDNS runs elsewhere');
  const patches = parse(entry).patches as { target?: { name: string }; patch: string }[];
  const deps = (name: string) => parse(patches.find((p) => p.target?.name === name)!.patch)[0].value.map((d: { name: string }) => d.name);
  assert.equal(deps('external-dns'), []);
  // Only the in-cluster PowerDNS pushes the API key to Vault: the issuer alone (no ExternalSecret), with the key the
  // bootstrap seals for cert-manager, as on an apps cluster.
  assert.equal(deps('cluster-issuers'), ['cert-manager-webhook-pdns', 'cluster-secrets']);
  const issuerOps = parse(patches.find((p) => p.target?.name === 'cluster-issuers')!.patch) as { path: string; value: unknown }[];
  assert.equal(issuerOps.find((o) => o.path === '/spec/path')?.value, './kubernetes/platform/cluster-issuers/issuer');
  assert.equal(bootstrapSecrets(c, { PDNS_API_KEY: 'k3y' }).filter((s) => s.name === 'powerdns-api-key').map((s) => s.namespace), ['dns-system', 'cert-manager']);
  // With PowerDNS here, the tree is left as it is: the issuer and its ExternalSecret, after the secret store.
  const here = parse(renderAll(infraFile().config).get(generatedPaths('infra').fluxEntry)!).patches as { target?: { name: string } }[];
  assert.not.ok(here.some((p) => p.target?.name === 'cluster-issuers'));
});

test('the API key is sealed for the cluster that uses PowerDNS elsewhere: for external-dns and for the issuer (no Vault there)', () => {
  const sealed = bootstrapSecrets(appsFile().config, { PDNS_API_KEY: 'k3y' });
  assert.equal(sealed.map((s, i) => `${s.namespace}/${s.name} ${sealedFileNames(sealed)[i]}`), ['dns-system/powerdns-api-key powerdns-api-key', 'cert-manager/powerdns-api-key cert-manager-powerdns-api-key']);
  assert.ok(sealed.every((s) => s.stringData['api-key'] === 'k3y'));
  // infra reads the issuer's key from Vault: one sealed Secret.
  assert.equal(bootstrapSecrets(infraFile().config, { PDNS_API_KEY: 'k3y' }).filter((s) => s.name === 'powerdns-api-key').length, 1);
});

test('the shipped examples agree', () => {
  const configs = [infraFile(), appsFile()];
  assert.is(powerDnsServerOf(configs[1]!, configs), configs[0]);
  assert.equal(checkExternalDns(configs), []);
});

test('broken: the server\'s apiSourceRanges do not admit the client\'s nodes — names both files and the field', () => {
  const infra = infraFile(INFRA_TEXT.replace('apiSourceRanges: [10.0.10.0/24, 10.0.20.0/24]', 'apiSourceRanges: [10.0.10.0/24, 10.0.20.0/25]'));
  const m = messages(checkExternalDns([infra, appsFile()]));
  assert.equal(m, [
    'cluster.yaml powerdns.apiSourceRanges: [10.0.10.0/24, 10.0.20.0/25] does not admit the node network 10.0.20.0/24 of clusters/apps.yaml (cluster apps), whose powerdns.external.apiUrl http://10.0.10.200:8081 is this server\'s API: add 10.0.20.0/24 (external-dns and the DNS-01 webhook there reach the API from those addresses)',
  ]);
  // The default (no apiSourceRanges: the server's own nodes only) does not admit them either.
  const byDefault = infraFile(INFRA_TEXT.replace(/\n  apiSourceRanges: .*\n/, '\n'));
  assert.match(messages(checkExternalDns([byDefault, appsFile()])).join('\n'), 'cluster.yaml powerdns.apiSourceRanges: [10.0.10.0/24] does not admit');
});

test('broken: another zone than the server serves', () => {
  const apps = appsFile(APPS_TEXT.replace('zone: k8s.example.org', 'zone: other.example.org'));
  assert.equal(messages(checkExternalDns([infraFile(), apps])), [
    'clusters/apps.yaml powerdns.zone: other.example.org is not the zone of the PowerDNS its powerdns.external.apiUrl names: cluster.yaml (cluster infra) serves k8s.example.org; write powerdns.zone: k8s.example.org',
  ]);
});

test('broken: the same cluster name on both sides (external-dns owner ids)', () => {
  // (without its monitoring section: shipping to a cluster of its own name is a rule of its own)
  const apps = appsFile(APPS_TEXT.replace('name: apps', 'name: infra').replace(/# domain: .*/, 'domain: apps.k8s.example.org').replace(/\nmonitoring:\n(  .*\n)*/, '\n'));
  assert.match(messages(checkExternalDns([infraFile(), apps])).join('\n'), 'clusters/apps.yaml cluster.name: infra is also the name of cluster.yaml (cluster infra): both external-dns would own the zone\'s records as txtOwnerId infra');
});

test('broken: a record or a public name of the server inside the client\'s domain', () => {
  const infra = infraFile(INFRA_TEXT.replace('    - { name: api, type: A, content: 10.0.10.10 }', '    - { name: api, type: A, content: 10.0.10.10 }\n    - { name: git.apps, type: CNAME, content: gitea.k8s.example.org. }').replace('publicNames: ["*"]', 'publicNames: [grafana, x.apps]'));
  const m = messages(checkExternalDns([infra, appsFile()]));
  assert.ok(m.includes('cluster.yaml powerdns.records[1]: git.apps.k8s.example.org. lies in apps.k8s.example.org, the domain of clusters/apps.yaml (cluster apps) (powerdns.external.domain), whose external-dns publishes those names: rename or remove the record here, or give that cluster another domain'), m.join('\n'));
  assert.ok(m.includes('cluster.yaml vps.publicNames: x.apps.k8s.example.org lies in apps.k8s.example.org, the domain of clusters/apps.yaml (cluster apps): its Gateway, not this cluster\'s, serves those names; remove it here'), m.join('\n'));
  assert.is(m.length, 2);
});

test('broken: two clients of one server with overlapping domains', () => {
  const other = appsFile(
    APPS_TEXT.replace('name: apps', 'name: edge').replace('id: 2', 'id: 3').replaceAll('10.0.20.', '10.0.30.').replace(/# domain: .*/, 'domain: x.apps.k8s.example.org'),
    'clusters/edge.yaml',
  );
  const infra = infraFile(INFRA_TEXT.replace('apiSourceRanges: [10.0.10.0/24, 10.0.20.0/24]', 'apiSourceRanges: [10.0.0.0/16]'));
  assert.equal(messages(checkExternalDns([infra, appsFile(), other])), [
    'clusters/edge.yaml powerdns.external.domain: x.apps.k8s.example.org overlaps apps.k8s.example.org, the domain of clusters/apps.yaml (cluster apps) on the same PowerDNS (cluster.yaml (cluster infra)): both clusters would publish and certify the same names; give each its own domain',
  ]);
});

test('an apiUrl that names no configured cluster is not checked against one', () => {
  const apps = appsFile(APPS_TEXT.replace('http://10.0.10.200:8081', 'http://192.168.1.53:8081'));
  assert.is(powerDnsServerOf(apps, [infraFile(), apps]), undefined);
  assert.equal(checkExternalDns([infraFile(), apps]), []);
});

function tree(cluster: string, hostnames: string[]): ClusterTree {
  const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: 'gitea' }, spec: { hostnames } };
  return { cluster, kustomizations: new Map(), objects: [{ obj: route, by: 'flux-system/gitea', file: 'kubernetes/platform/gitea/route.yaml' }] };
}

test('validate: the config groups of a working copy, a broken pair reported by file, a server route in the client\'s domain', () => {
  const root = mkdtempSync(join(tmpdir(), 'external-dns-'));
  try {
    mkdirSync(join(root, 'clusters'));
    writeFileSync(join(root, 'cluster.example.yaml'), INFRA_TEXT);
    writeFileSync(join(root, 'clusters', 'apps.example.yaml'), APPS_TEXT);
    writeFileSync(join(root, 'cluster.yaml'), INFRA_TEXT.replace('apiSourceRanges: [10.0.10.0/24, 10.0.20.0/24]', 'apiSourceRanges: [10.0.10.0/24]'));
    writeFileSync(join(root, 'clusters', 'apps.yaml'), APPS_TEXT);
    const groups = configGroups(root);
    assert.equal(groups.examples, [join(root, 'cluster.example.yaml'), join(root, 'clusters', 'apps.example.yaml')]);
    assert.equal(groups.own, [join(root, 'cluster.yaml'), join(root, 'clusters', 'apps.yaml')]);
    const findings: Finding[] = [];
    checkConfigGroup(root, groups.examples, [tree('infra', ['git.k8s.example.org'])], findings);
    assert.equal(findings, []);
    checkConfigGroup(root, groups.own, [tree('infra', ['git.apps.k8s.example.org'])], findings);
    const shown = findings.map((f) => `${f.check} ${f.file}${f.object ? ` ${f.object}` : ''}: ${f.message}`);
    assert.is(shown.length, 2, shown.join('\n'));
    assert.match(shown[0]!, 'config cluster.yaml: powerdns.apiSourceRanges: [10.0.10.0/24] does not admit the node network 10.0.20.0/24 of clusters/apps.yaml (cluster apps)');
    assert.match(shown[1]!, 'routes kubernetes/platform/gitea/route.yaml HTTPRoute gitea/web: hostname git.apps.k8s.example.org (cluster infra, cluster.yaml) lies in apps.k8s.example.org, the domain of cluster apps (clusters/apps.yaml, powerdns.external.domain)');
    // A config that does not load is named, not skipped in silence.
    writeFileSync(join(root, 'clusters', 'apps.yaml'), APPS_TEXT.replace('apiUrl: http://10.0.10.200:8081', 'apiUrl: http://10.0.10.200:8082'));
    const broken: Finding[] = [];
    checkConfigGroup(root, configGroups(root).own, [], broken);
    assert.match(broken.map((f) => `${f.file}: ${f.message}`).join('\n'), 'clusters/apps.yaml: not a valid cluster config, so it is not checked against the others');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();

