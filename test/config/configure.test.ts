import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { loadConfig, parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { clusterSettings, generatedPaths, renderAll, substitute } from '../../scripts/lib/configure/render.ts';
import { requiredSecrets } from '../../scripts/lib/config/load.ts';
import { bootstrapSecrets } from '../../scripts/lib/bootstrap/secrets.ts';
import { diffGenerated, isClean, writeGenerated } from '../../scripts/lib/configure/sync.ts';

const fixture = (name: string) => parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid', name), 'utf8'), name);

test('configure is idempotent: a second run changes nothing', () => {
  const root = mkdtempSync(join(tmpdir(), 'configure-'));
  const c = fixture('five-node.yaml');
  const first = writeGenerated(c, root);
  assert.ok(first.missing.length > 10);
  const second = writeGenerated(c, root);
  assert.ok(isClean(second), JSON.stringify(second));
  rmSync(root, { recursive: true });
});

test('--check finds a hand-edited file, a missing one and one the config no longer produces', () => {
  const root = mkdtempSync(join(tmpdir(), 'configure-'));
  const c = fixture('five-node.yaml');
  writeGenerated(c, root);
  const p = generatedPaths(c.cluster.name);
  appendFileSync(join(root, p.talosNode('infra-cp-1')), '# hand edit\n');
  rmSync(join(root, p.tfvars('01-infrastructure')));
  writeFileSync(join(root, p.talosNode('old-node')), 'machine: {}\n');
  const { drift } = diffGenerated(c, root);
  assert.equal(drift.changed, [p.talosNode('infra-cp-1')]);
  assert.equal(drift.missing, [p.tfvars('01-infrastructure')]);
  assert.equal(drift.extra, [p.talosNode('old-node')]);
  writeGenerated(c, root);
  assert.not.ok(existsSync(join(root, p.talosNode('old-node'))), 'removed node file still there');
  assert.ok(isClean(diffGenerated(c, root).drift));
  rmSync(root, { recursive: true });
});

test('the committed generated files match the built-in default config', () => {
  const { config } = loadConfig({ path: join(REPO_ROOT, 'cluster.example.yaml') });
  const { drift } = diffGenerated(config);
  assert.ok(isClean(drift), `stale generated files: ${JSON.stringify(drift)} — run npx tsx scripts/configure.ts`);
});

test('rendered Talos patches carry the node address, the VIP on control planes only, and CNI off', () => {
  const c = fixture('five-node.yaml');
  const files = renderAll(c);
  const p = generatedPaths('infra');
  const node = parse(files.get(p.talosNode('infra-worker-2'))!);
  assert.equal(node.machine.network.interfaces[0].addresses, ['10.0.10.22/24']);
  assert.is(node.machine.network.hostname, 'infra-worker-2');
  const cp = parse(files.get(p.talosControlPlane)!);
  assert.is(cp.machine.network.interfaces[0].vip.ip, '10.0.10.10');
  assert.not.match(files.get(p.talosWorker)!, 'vip');
  const common = parse(files.get(p.talosCommon)!);
  assert.is(common.cluster.network.cni.name, 'none');
  assert.is(common.cluster.proxy.disabled, true);
  assert.equal(common.machine.network.nameservers, ['10.0.10.1', '1.1.1.1']);
});

test('a one-node cluster lets workloads run on its control plane', () => {
  const files = renderAll(fixture('one-node.yaml'));
  assert.is(parse(files.get(generatedPaths('solo').talosControlPlane)!).cluster.allowSchedulingOnControlPlanes, true);
});

test('terraform variables and cluster-settings come from the config; side-by-side clusters do not collide', () => {
  const infra = renderAll(fixture('five-node.yaml'));
  const apps = renderAll(fixture('apps.yaml'));
  const tf = JSON.parse(apps.get(generatedPaths('apps').tfvars('01-infrastructure'))!);
  assert.is(tf.nodes['apps-worker-1'].memory_mib, 32768);
  assert.is(tf.proxmox_bridge, 'vmbr1');
  const shared = [...infra.keys()].filter((k) => apps.has(k) && k !== 'cluster.schema.json' && k !== 'docs/config-reference.md');
  assert.equal(shared, []);
  assert.is(clusterSettings(fixture('apps.yaml')).CSI_STORAGE_CLASS, 'fast');
  const cm = parse(apps.get(generatedPaths('apps').clusterSettings)!);
  assert.is(cm.metadata.name, 'cluster-settings');
  assert.ok(Object.values(cm.data).every((v) => typeof v === 'string'));
});

test('one field for the pinned addresses: cluster-settings, the nameserver glue and the API URL all follow network.loadBalancerIps', () => {
  const c = fixture('five-node.yaml');
  const s = clusterSettings(c);
  assert.is(s.LB_IP_INGRESS, '10.0.10.201');
  assert.is(s.LB_IP_DNS, '10.0.10.200');
  assert.is(s.DNS_NAMESERVER_IP, '10.0.10.200');
  assert.is(c.powerdns!.apiUrl, 'http://10.0.10.200:8081');
  // The API LoadBalancer admits the node network only, unless the config names other client networks.
  assert.is(s.PDNS_API_SOURCE_RANGES, '["10.0.10.0/24"]');
  const text = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8').replace('  zone: k8s.example.org', '  zone: k8s.example.org\n  apiSourceRanges: [10.0.10.0/24, 100.64.0.0/10]');
  assert.is(clusterSettings(parseConfigText(text, 'x.yaml')).PDNS_API_SOURCE_RANGES, '["10.0.10.0/24","100.64.0.0/10"]');
});

test('template substitution names the template and the unknown variable', () => {
  assert.throws(() => substitute('a: ${NOPE}', { A: '1' }, 'talos/patches/x.yaml'), /talos\/patches\/x.yaml: \$\{NOPE\} has no value/);
});

test('the JSON Schema is generated from the same schema and rejects unknown keys', () => {
  const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'cluster.schema.json'), 'utf8'));
  assert.is(schema.additionalProperties, false);
  assert.ok(schema.properties.nodes.items.properties.vmId);
  assert.ok(schema.required.includes('nodes'));
});

test('without a monitoring section the stack is left out: no Flux Kustomizations, settings or Talos log destination', () => {
  const c = fixture('five-node.yaml');
  assert.is(c.monitoring, undefined);
  const files = renderAll(c);
  const p = generatedPaths('infra');
  const flux = files.get(p.fluxMonitoring)!;
  assert.equal(parse(flux), null, flux);
  assert.match(flux, 'no monitoring section');
  assert.is(clusterSettings(c).VM_RETENTION, undefined);
  assert.is(parse(files.get(p.talosCommon)!).machine.logging, undefined);
  assert.not.ok(requiredSecrets(c).some((r) => r.env === 'ALERT_WEBHOOK_URL'));
});

test('a monitoring section renders its Flux phase, settings from the config, and the Talos log destination', () => {
  const text = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8') +
    '\nmonitoring:\n  metrics: { retention: 90d, storageGiB: 50 }\n  logs: { talosPort: 6100 }\n  alerts: { receiver: webhook }\n';
  const c = parseConfigText(text, 'x.yaml');
  const s = clusterSettings(c);
  assert.equal([s.VM_RETENTION, s.VM_STORAGE_SIZE, s.VL_RETENTION, s.VL_STORAGE_SIZE, s.TALOS_LOG_PORT, s.ALERT_RECEIVER], ['90d', '50Gi', '14d', '20Gi', '6100', 'webhook']);
  const files = renderAll(c);
  const p = generatedPaths('infra');
  const docs = files.get(p.fluxMonitoring)!.split(/^---$/m).map((d) => parse(d));
  assert.equal(docs.map((d) => d.metadata.name), ['victoria-metrics-operator', 'exporters', 'victoria-metrics', 'alerting', 'victoria-logs', 'grafana']);
  // Grafana's host is in the zone: without the powerdns section there is no Grafana.
  const noZone = parseConfigText(text.replace(/^powerdns:[\s\S]*?(?=^\S)/m, ''), 'x.yaml');
  assert.is(noZone.powerdns, undefined);
  assert.not.match(renderAll(noZone).get(p.fluxMonitoring)!, 'grafana');
  // The webhook's sealed URL must exist before Alertmanager starts.
  assert.ok(docs[3].spec.dependsOn.some((d: { name: string }) => d.name === 'cluster-secrets'));
  assert.equal(parse(files.get(p.talosCommon)!).machine.logging, { destinations: [{ endpoint: 'tcp://127.0.0.1:6100/', format: 'json_lines' }] });
  // The receiver URL: required in .env for a real run, sealed into the tree, never in the config or a manifest.
  assert.ok(requiredSecrets(c).some((r) => r.env === 'ALERT_WEBHOOK_URL' && r.section === 'monitoring'));
  const sealed = bootstrapSecrets(c, { ALERT_WEBHOOK_URL: 'https://hooks.example.org/t0ken' });
  assert.equal(sealed.find((x) => x.name === 'alertmanager-receiver'), { name: 'alertmanager-receiver', namespace: 'monitoring', stringData: { url: 'https://hooks.example.org/t0ken' } });
  assert.not.match([...files.values()].join('\n'), 't0ken');
  // ui-only: no secret, no dependency on it.
  const ui = parseConfigText(text.replace('receiver: webhook', 'receiver: none'), 'x.yaml');
  assert.is(clusterSettings(ui).ALERT_RECEIVER, 'ui-only');
  assert.not.ok(bootstrapSecrets(ui, {}).some((x) => x.name === 'alertmanager-receiver'));
});

test('monitoring without proxmoxCsi is refused, naming the section and the fix', () => {
  const text = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8').replace(/^proxmoxCsi:[\s\S]*?(?=^\S|$(?![\s\S]))/m, '') + '\nmonitoring: {}\n';
  assert.throws(() => parseConfigText(text, 'x.yaml'), (e: Error & { problems?: string[] }) => /monitoring: .*add the proxmoxCsi section or remove monitoring/.test([e.message, ...(e.problems ?? [])].join('\n')));
  const bad = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8') + '\nmonitoring:\n  metrics: { retention: 30days }\n';
  assert.throws(() => parseConfigText(bad, 'x.yaml'), (e: Error & { problems?: string[] }) => /monitoring\.metrics\.retention.*such as 30d/.test([e.message, ...(e.problems ?? [])].join('\n')));
});

test('a backups section renders its Flux phase, S3 settings, the Talos API access for etcd snapshots, and sealed credentials', () => {
  const base = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8');
  const off = parseConfigText(base, 'x.yaml');
  const offFiles = renderAll(off);
  const p = generatedPaths('infra');
  assert.equal(parse(offFiles.get(p.fluxBackups)!), null);
  assert.is(parse(offFiles.get(p.talosControlPlane)!).machine.features, undefined);
  const c = parseConfigText(base + '\nbackups:\n  s3: { endpoint: https://s3.example.org, bucket: lab-backups }\n  etcdSchedule: "15 2 * * *"\n', 'x.yaml');
  const s = clusterSettings(c);
  assert.equal([s.BACKUP_S3_ENDPOINT, s.BACKUP_S3_BUCKET, s.BACKUP_S3_REGION, s.BACKUP_PREFIX, s.ETCD_BACKUP_SCHEDULE, s.VAULT_BACKUP_SCHEDULE], ['https://s3.example.org', 'lab-backups', 'us-east-1', 'infra', '15 2 * * *', '30 3 * * *']);
  const files = renderAll(c);
  assert.is(parse(files.get(p.fluxBackups)!).spec.path, './kubernetes/backups');
  // Only the etcd backup role, only in its namespace; workers get nothing.
  assert.equal(parse(files.get(p.talosControlPlane)!).machine.features.kubernetesTalosAPIAccess, { enabled: true, allowedRoles: ['os:etcd:backup'], allowedKubernetesNamespaces: ['backups'] });
  assert.not.match(files.get(p.talosWorker)!, 'kubernetesTalosAPIAccess');
  assert.equal(requiredSecrets(c).filter((r) => r.section === 'backups').map((r) => r.env), ['BACKUP_S3_ACCESS_KEY_ID', 'BACKUP_S3_SECRET_ACCESS_KEY', 'BACKUP_PASSPHRASE']);
  const sealed = bootstrapSecrets(c, { BACKUP_S3_ACCESS_KEY_ID: 'AKIA1', BACKUP_S3_SECRET_ACCESS_KEY: 's3cr3t', BACKUP_PASSPHRASE: 'pa55' }).filter((x) => x.name === 'backup-target');
  assert.equal(sealed.map((x) => x.namespace), ['backups', 'vault']);
  assert.equal(sealed[0]!.stringData, { 'access-key-id': 'AKIA1', 'secret-access-key': 's3cr3t', passphrase: 'pa55' });
  assert.throws(() => parseConfigText(base + '\nbackups:\n  s3: { endpoint: https://s3.example.org, bucket: lab-backups }\n  etcdSchedule: daily\n', 'x.yaml'), /five-field cron schedule/);
});

test.run();
