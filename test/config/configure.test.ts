import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, parseAllDocuments, parseDocument } from 'yaml';
import { loadConfig, parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { clusterSettings, databaseBackupFiles, generatedPaths, renderAll, substitute } from '../../scripts/lib/configure/render.ts';
import { substitute as fluxSubstitute } from '../../scripts/lib/validate/substitute.ts';
import { validateObject } from '../../scripts/lib/validate/schemas.ts';
import { requiredSecrets } from '../../scripts/lib/config/load.ts';
import { bootstrapSecrets, sealedFileNames } from '../../scripts/lib/bootstrap/secrets.ts';
import { diffGenerated, isClean, writeGenerated } from '../../scripts/lib/configure/sync.ts';
import { ciliumValues } from '../../scripts/lib/helm/helm.ts';

const fixture = (name: string) => parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid', name), 'utf8'), name);
const FIVE_NODE = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8');

/** Config text without the named top-level sections (the full example has every optional section on). */
function without(text: string, ...sections: string[]): string {
  const doc = parseDocument(text);
  for (const s of sections) doc.delete(s);
  return doc.toString();
}

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

test('machine options render into the Talos patches, the Terraform variables and the Cilium values', () => {
  const c = fixture('machine-options.yaml');
  const files = renderAll(c);
  const p = generatedPaths('metal');
  const common = parseAllDocuments(files.get(p.talosCommon)!).map((d) => d.toJS());
  assert.equal(common[0].cluster.network.podSubnets, ['10.244.0.0/16', 'fd00:30:244::/56']);
  assert.equal(common[0].machine.install.extraKernelArgs, ['net.ifnames=0', 'mitigations=off', 'console=ttyS0']);
  assert.equal(common.slice(1).map((d) => [d.kind, d.name, d.encryption.keys[0]]), [['VolumeConfig', 'STATE', { slot: 0, tpm: {} }], ['VolumeConfig', 'EPHEMERAL', { slot: 0, tpm: {} }]]);
  const cp1 = parse(files.get(p.talosNode('metal-cp-1'))!);
  assert.equal(cp1.machine.install, { diskSelector: { model: 'QEMU HARDDISK', size: '>= 60GB', type: 'ssd' } });
  const link = cp1.machine.network.interfaces[0];
  assert.is(link.interface, 'bond0');
  assert.equal(link.bond.interfaces, ['eth0', 'eth1']);
  assert.equal(link.vlans[0].addresses, ['10.0.30.11/24', 'fd00:30::11/64']);
  assert.is(link.vlans[0].mtu, 9000);
  assert.is(parse(files.get(p.talosNode('metal-worker-1'))!).machine.install.disk, '/dev/sdb');
  assert.equal(parse(files.get(p.talosControlPlane)!).machine.network.interfaces, [{ interface: 'bond0', vlans: [{ vlanId: 20, vip: { ip: '10.0.30.10' } }] }]);
  const tf = JSON.parse(files.get(p.tfvars('01-infrastructure'))!);
  assert.equal(tf.machine, { link: 'bond0', nics: ['eth0', 'eth1'], bond: { mode: '802.3ad', miimon: 100 }, vlan_id: 20, ipv6: { prefix: 64, gateway: 'fd00:30::1' }, vtpm: true });
  assert.is(tf.nodes['metal-cp-1'].ipv6, 'fd00:30::11');
  assert.equal(ciliumValues(c).ipv6, { enabled: true });
  assert.equal([clusterSettings(c).NODE_CIDR_V6, clusterSettings(c).POD_CIDR_V6, clusterSettings(c).SERVICE_CIDR_V6], ['fd00:30::/64', 'fd00:30:244::/56', 'fd00:30:96::/112']);
  // Without the options: IPv4 only, the path default, no encryption documents, no vTPM.
  const plain = renderAll(fixture('one-node.yaml'));
  const sp = generatedPaths('solo');
  assert.is(parseAllDocuments(plain.get(sp.talosCommon)!).length, 1);
  assert.is(parse(plain.get(sp.talosNode(fixture('one-node.yaml').nodes[0]!.name))!).machine.install.disk, '/dev/sda');
  assert.equal(JSON.parse(plain.get(sp.tfvars('01-infrastructure'))!).machine.vtpm, false);
  assert.is(ciliumValues(fixture('one-node.yaml')).ipv6, undefined);
  assert.is(clusterSettings(fixture('one-node.yaml')).POD_CIDR_V6, undefined);
});

test('a new cluster gets its Flux entry from its config alone: role tree, own secrets path, optional sections left out', () => {
  const base = readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8');
  // A copy of the example renamed "lab", without powerdns and without proxmoxCsi.
  const text = base.replace('name: infra ', 'name: lab ').replace(/\npowerdns:[\s\S]*?\n(?=proxmoxCsi:)/, '\n').replace(/\nproxmoxCsi:[\s\S]*$/, '\n');
  const lab = parseConfigText(text, 'lab.yaml');
  assert.is(lab.powerdns, undefined);
  assert.is(lab.proxmoxCsi, undefined);
  const files = renderAll(lab);
  const p = generatedPaths('lab');
  for (const f of [p.fluxEntry, p.clusterSettings, p.secretsReadme]) assert.ok(files.has(f), f);
  const entry = parse(files.get(p.fluxEntry)!);
  assert.equal(entry.resources, ['cluster-settings.yaml', '../infra/flux', 'monitoring.yaml', 'backups.yaml']);
  assert.match(entry.patches[0].patch, 'value: ./kubernetes/clusters/lab/secrets');
  const deleted = entry.patches.slice(1).map((x: { patch: string }) => parse(x.patch).metadata.name);
  for (const k of ['powerdns', 'external-dns', 'cert-manager-webhook-pdns', 'cluster-issuers', 'proxmox-csi']) assert.ok(deleted.includes(k), `${k} not left out: ${deleted}`);
  // Whatever depends on a left-out Kustomization goes too (vault needs proxmox-csi volumes); the rest stays.
  assert.ok(deleted.includes('vault'));
  for (const k of ['sources', 'namespaces', 'sealed-secrets', 'cluster-secrets', 'cert-manager']) assert.not.ok(deleted.includes(k), k);
  assert.match(files.get(p.fluxEntry)!, '#   powerdns: needs the powerdns section');
  // The full example keeps everything.
  const infra = parse(renderAll(fixture('five-node.yaml')).get(generatedPaths('infra').fluxEntry)!);
  assert.equal(infra.resources, ['cluster-settings.yaml', 'flux', 'monitoring.yaml', 'backups.yaml']);
  assert.is(infra.patches.length, 1);
});

test('the committed files of the apps cluster match clusters/apps.example.yaml', () => {
  const { config } = loadConfig({ path: join(REPO_ROOT, 'clusters', 'apps.example.yaml') });
  assert.is(config.cluster.role, 'apps');
  const { drift } = diffGenerated(config);
  assert.ok(isClean(drift), `stale generated files: ${JSON.stringify(drift)} — run npx tsx scripts/configure.ts --config clusters/apps.example.yaml`);
  assert.equal(parse(renderAll(config).get(generatedPaths('apps').fluxEntry)!).resources, ['cluster-settings.yaml', 'flux', 'monitoring.yaml', 'backups.yaml']);
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
  // The API LoadBalancer admits the networks the config names (the example: its own nodes and the apps cluster's,
  // which uses this PowerDNS), and only the node network when it names none.
  assert.is(s.PDNS_API_SOURCE_RANGES, '["10.0.10.0/24","10.0.20.0/24"]');
  const text = readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8').replace(/\n  apiSourceRanges: .*\n/, '\n');
  assert.is(clusterSettings(parseConfigText(text, 'x.yaml')).PDNS_API_SOURCE_RANGES, '["10.0.10.0/24"]');
  // What external-dns publishes for the routes (the Gateway's target annotation): the VPS with a vps section, so the
  // internet never sees a private address; without one, the Gateway itself.
  assert.is(s.DNS_PUBLIC_TARGET, c.vps!.publicIp);
  const noVps = parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/five-node.yaml'), 'utf8').replace(/\nvps:\n(  .*\n|\s*#.*\n)*/, '\n'), 'x.yaml');
  assert.is(noVps.vps, undefined);
  assert.is(clusterSettings(noVps).DNS_PUBLIC_TARGET, '10.0.10.201');
});

test('database backups: absent, turned off or role apps → an empty kustomization that says why; on → ObjectStore on the one target (the sealed backup-target keys) and ScheduledBackup per database, valid against their schemas, and WAL archiving on each Cluster', async () => {
  const kustomization = (c: ReturnType<typeof parseConfigText>) => [...databaseBackupFiles(c).values()][0]!;
  const noBackups = parseConfigText(without(FIVE_NODE, 'backups'), 'x.yaml');
  assert.equal([...databaseBackupFiles(noBackups).keys()], ['kubernetes/clusters/infra/database-backups/kustomization.yaml']);
  assert.match(kustomization(noBackups), '# No backups section in the config: no database backups.');
  assert.equal(parse(kustomization(noBackups)).resources, []);
  assert.is(clusterSettings(noBackups).DB_BACKUP_PLUGINS, undefined);
  const base = without(FIVE_NODE, 'backups') + '\nbackups:\n  s3: { endpoint: https://s3.example.org, bucket: home-ops-db, region: garage, prefix: lab/ }\n';
  const off = parseConfigText(base + '  databases: { enabled: false }\n', 'x.yaml');
  assert.equal(parse(kustomization(off)).resources, []);
  assert.match(kustomization(off), 'backups.databases.enabled is false');
  assert.is(clusterSettings(off).DB_BACKUP_PLUGINS, undefined);
  assert.not.ok(bootstrapSecrets(off, {}).some((x) => x.namespace === 'gitea'));
  const appsDoc = parseDocument(base);
  appsDoc.setIn(['cluster', 'role'], 'apps');
  const apps = parseConfigText(appsDoc.toString(), 'x.yaml');
  assert.is(apps.cluster.role, 'apps');
  assert.match(kustomization(apps), 'Role apps runs no databases');
  assert.not.ok(bootstrapSecrets(apps, {}).some((x) => x.namespace === 'gitea'));

  // On by default with the backups section: the same endpoint, bucket and prefix as the etcd and Vault snapshots.
  const c = parseConfigText(base, 'x.yaml');
  assert.equal(c.backups!.databases, { enabled: true, schedule: '0 3 * * *', retention: '30d' });
  const files = databaseBackupFiles(c);
  assert.equal(parse(files.get('kubernetes/clusters/infra/database-backups/kustomization.yaml')!).resources, ['authentik.yaml', 'gitea.yaml', 'harbor.yaml', 'matrix.yaml']);
  const gitea = parseAllDocuments(files.get('kubernetes/clusters/infra/database-backups/gitea.yaml')!).map((d) => d.toJS() as Record<string, any>);
  assert.equal(gitea.map((o) => o.kind), ['ObjectStore', 'ScheduledBackup']);
  const store = gitea[0]!.spec.configuration;
  // Barman writes <destinationPath>/<server name = the Cluster's name>/{base,wals}: s3://home-ops-db/lab/postgres/gitea-db/.
  assert.is(store.destinationPath, 's3://home-ops-db/lab/postgres');
  assert.is(store.endpointURL, 'https://s3.example.org');
  assert.equal(store.s3Credentials, {
    accessKeyId: { name: 'backup-target', key: 'access-key-id' },
    secretAccessKey: { name: 'backup-target', key: 'secret-access-key' },
    region: { name: 'backup-target', key: 'region' },
  });
  assert.is(gitea[1]!.spec.schedule, '0 0 3 * * *');
  for (const o of gitea) assert.equal((await validateObject(o)).problems, [], String(o.kind));
  assert.not.match([...files.values()].join('\n'), /ExternalSecret|secret\/database-backups/);
  // The credentials: the .env keys the snapshots use, sealed into each database namespace (with the region Barman
  // reads from the Secret), never the passphrase.
  const sealed = bootstrapSecrets(c, { BACKUP_S3_ACCESS_KEY_ID: 'AKIA1', BACKUP_S3_SECRET_ACCESS_KEY: 's3cr3t', BACKUP_PASSPHRASE: 'pa55' }).filter((x) => x.name === 'backup-target');
  assert.equal(sealed.map((x) => x.namespace), ['backups', 'vault', 'authentik', 'gitea', 'harbor', 'matrix']);
  assert.equal(sealed[3]!.stringData, { 'access-key-id': 'AKIA1', 'secret-access-key': 's3cr3t', region: 'garage' });
  assert.not.match(JSON.stringify(renderAll(c).get('kubernetes/clusters/infra/database-backups/gitea.yaml')), /AKIA1|s3cr3t/);
  // A schedule and retention of their own.
  const own = parseConfigText(base + '  databases: { schedule: "15 1 * * 0", retention: 4w }\n', 'x.yaml');
  const ownGitea = parseAllDocuments(databaseBackupFiles(own).get('kubernetes/clusters/infra/database-backups/gitea.yaml')!).map((d) => d.toJS() as Record<string, any>);
  assert.equal([ownGitea[0]!.spec.retentionPolicy, ownGitea[1]!.spec.schedule], ['4w', '0 15 1 * * 0']);

  // The Cluster in the tree picks the plugin up through cluster-settings.
  const cluster = parse(fluxSubstitute(readFileSync(join(REPO_ROOT, 'kubernetes/platform/gitea/database.yaml'), 'utf8'), clusterSettings(c)));
  assert.equal(cluster.spec.plugins, [{ name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: { barmanObjectName: 'database-backups' } }]);
  assert.equal((await validateObject(cluster)).problems, []);
  const plain = parse(fluxSubstitute(readFileSync(join(REPO_ROOT, 'kubernetes/platform/gitea/database.yaml'), 'utf8'), clusterSettings(noBackups)));
  assert.equal(plain.spec.plugins, []);
  // The network policies reach the store by name on its port (a quoted string: Cilium's port field is one).
  assert.is(clusterSettings(c).DB_BACKUP_HOST, 's3.example.org');
  assert.is(clusterSettings(c).DB_BACKUP_PORT, '"443"');
  assert.is(clusterSettings(parseConfigText(base.replace('https://s3.example.org', 'http://minio.lan:9000'), 'x.yaml')).DB_BACKUP_PORT, '"9000"');
  const byIp = base.replace('https://s3.example.org', 'http://10.0.10.5:9000');
  assert.throws(() => parseConfigText(byIp, 'x.yaml'), /backups\.s3\.endpoint: name the S3 endpoint by host name.*backups\.databases\.enabled: false/);
  assert.ok(parseConfigText(byIp + '  databases: { enabled: false }\n', 'x.yaml'), 'an address is fine without database backups');
  // A six-field schedule (the old section's form) names the field and the five-field form.
  assert.throws(() => parseConfigText(base + '  databases: { schedule: "0 0 3 * * *" }\n', 'x.yaml'), (e: Error & { problems?: string[] }) =>
    /backups\.databases\.schedule: "0 0 3 \* \* \*" must be a five-field cron schedule/.test([e.message, ...(e.problems ?? [])].join('\n')));
});

test('the old databaseBackups section is refused, naming where its fields go', () => {
  const text = FIVE_NODE + '\ndatabaseBackups:\n  endpointUrl: https://s3.example.org\n  bucket: home-ops-db\n';
  assert.throws(
    () => parseConfigText(text, 'x.yaml'),
    (e: Error & { problems?: string[] }) => {
      const all = [e.message, ...(e.problems ?? [])].join('\n');
      return /x\.yaml:\d+:1 databaseBackups: this section moved into backups .*backups\.s3\.endpoint and backups\.s3\.bucket.*backups\.databases.*delete databaseBackups/.test(all) && !/did you mean/.test(all);
    },
  );
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
  const c = parseConfigText(without(FIVE_NODE, 'monitoring'), 'x.yaml');
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
  const text = without(FIVE_NODE, 'monitoring') +
    '\nmonitoring:\n  metrics: { retention: 90d, storageGiB: 50 }\n  logs: { talosPort: 6100 }\n  alerts: { receiver: webhook }\n';
  const c = parseConfigText(text, 'x.yaml');
  const s = clusterSettings(c);
  assert.equal([s.VM_RETENTION, s.VM_STORAGE_SIZE, s.VL_RETENTION, s.VL_STORAGE_SIZE, s.TALOS_LOG_PORT, s.ALERT_RECEIVER], ['90d', '50Gi', '14d', '20Gi', '6100', 'webhook']);
  const files = renderAll(c);
  const p = generatedPaths('infra');
  const docs = files.get(p.fluxMonitoring)!.split(/^---$/m).map((d) => parse(d));
  assert.equal(docs.map((d) => d.metadata.name), ['victoria-metrics-operator', 'exporters', 'victoria-metrics', 'vmagent', 'alerting', 'victoria-logs', 'fluent-bit', 'grafana', 'grafana-sso']);
  // Grafana's sign-in waits for Authentik, and Grafana does not wait for it.
  assert.equal(docs[8].spec.dependsOn, [{ name: 'authentik' }]);
  assert.is(docs[8].spec.path, './kubernetes/monitoring/grafana/sso');
  assert.not.ok(docs[7].spec.dependsOn.some((d: { name: string }) => d.name === 'grafana-sso' || d.name === 'authentik'));
  // Grafana's host is in the zone: without the powerdns section there is no Grafana.
  const noZone = parseConfigText(without(text, 'powerdns', 'vps'), 'x.yaml');
  assert.is(noZone.powerdns, undefined);
  assert.not.match(renderAll(noZone).get(p.fluxMonitoring)!, 'grafana');
  // Authentik runs in the infra tree only: an apps cluster's Grafana keeps its local sign-in.
  const apps = parseConfigText(text.replace(/^cluster:\n/m, 'cluster:\n  role: apps\n'), 'x.yaml');
  assert.is(apps.cluster.role, 'apps');
  const appsDocs = renderAll(apps).get(p.fluxMonitoring)!.split(/^---$/m).map((d) => parse(d));
  assert.equal(appsDocs.map((d) => d.metadata.name).slice(-1), ['grafana']);
  // The webhook's sealed URL must exist before Alertmanager starts.
  assert.ok(docs[4].spec.dependsOn.some((d: { name: string }) => d.name === 'cluster-secrets'));
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

test('a cluster that ships (monitoring.shipTo) runs only the agents, writing to the address it names; the receiving one pins it', () => {
  const apps = parseConfigText(readFileSync(join(REPO_ROOT, 'clusters/apps.example.yaml'), 'utf8'), 'clusters/apps.example.yaml');
  const files = renderAll(apps);
  const p = generatedPaths('apps');
  const docs = files.get(p.fluxMonitoring)!.split(/^---$/m).map((d) => parse(d));
  assert.equal(docs.map((d) => d.metadata.name), ['victoria-metrics-operator', 'exporters', 'vmagent', 'fluent-bit']);
  const s = clusterSettings(apps);
  assert.equal([s.VM_WRITE_URL, s.VL_HOST, s.MONITORING_SHIP_TO, s.MONITORING_SHIP_ADDRESS], ['http://10.0.10.202:8428/api/v1/write', '10.0.10.202', 'infra', '10.0.10.202']);
  assert.is(s.VM_RETENTION, undefined);
  // The Talos service logs go to the local Fluent Bit, which ships them on.
  assert.equal(parse(files.get(p.talosCommon)!).machine.logging, { destinations: [{ endpoint: 'tcp://127.0.0.1:6050/', format: 'json_lines' }] });
  // No storage here: shipping needs no Proxmox CSI.
  assert.not.throws(() => parseConfigText(without(readFileSync(join(REPO_ROOT, 'clusters/apps.example.yaml'), 'utf8'), 'proxmoxCsi'), 'x.yaml'));

  const infra = fixture('five-node.yaml');
  const si = clusterSettings(infra);
  assert.equal([si.LB_IP_MONITORING, si.MONITORING_SOURCE_RANGES, si.VM_WRITE_URL], ['10.0.10.202', '["10.0.20.0/24"]', 'http://vmsingle-metrics.monitoring.svc:8428/api/v1/write']);
  const infraDocs = renderAll(infra).get(generatedPaths('infra').fluxMonitoring)!.split(/^---$/m).map((d) => parse(d));
  assert.equal(infraDocs.at(-1).spec.path, './kubernetes/monitoring/receiver');
  // Without receiveFrom nothing is exposed and nothing pinned.
  const closed = parseConfigText(FIVE_NODE.replace(/\n  receiveFrom: .*\n/, '\n'), 'x.yaml');
  assert.is(clusterSettings(closed).LB_IP_MONITORING, undefined);
  assert.not.match(renderAll(closed).get(generatedPaths('infra').fluxMonitoring)!, 'receiver');
  // A DNS name for the receiver may point at its pinned address, only while something is pinned there.
  const named = (text: string) => text.replace('    - { name: api, type: A, content: 10.0.10.10 }', '    - { name: api, type: A, content: 10.0.10.10 }\n    - { name: metrics, type: A, content: 10.0.10.202 }');
  assert.not.throws(() => parseConfigText(named(FIVE_NODE), 'x.yaml'));
  assert.throws(() => parseConfigText(named(FIVE_NODE.replace(/\n  receiveFrom: .*\n/, '\n')), 'x.yaml'), (e: Error & { problems?: string[] }) => /10\.0\.10\.202 lies in network\.loadBalancerCidr but no Service is pinned to it/.test((e.problems ?? []).join('\n')));
});

test('a matrix receiver renders its Flux Kustomization and room settings, seals the token, and is refused half-configured', () => {
  const base = without(FIVE_NODE, 'monitoring') + '\nmonitoring:\n  alerts:\n    receiver: matrix\n';
  const room = '    matrix: { homeserver: https://matrix.example.org, userId: "@alerts:example.org", room: "!AbCdEf:example.org" }\n';
  const c = parseConfigText(base + room, 'x.yaml');
  const s = clusterSettings(c);
  assert.equal([s.ALERT_RECEIVER, s.ALERT_MATRIX_HOMESERVER, s.ALERT_MATRIX_USER, s.ALERT_MATRIX_ROOM], ['matrix', 'https://matrix.example.org', '@alerts:example.org', '!AbCdEf:example.org']);
  const files = renderAll(c);
  const docs = files.get(generatedPaths('infra').fluxMonitoring)!.split(/^---$/m).map((d) => parse(d));
  const ks = docs.find((d) => d.metadata.name === 'alerts-matrix');
  assert.is(ks?.spec.path, './kubernetes/monitoring/alerting/matrix');
  // The receiver's token is sealed before it starts.
  assert.ok(ks.spec.dependsOn.some((d: { name: string }) => d.name === 'cluster-secrets'));
  assert.ok(requiredSecrets(c).some((r) => r.env === 'ALERT_MATRIX_ACCESS_TOKEN' && r.section === 'monitoring'));
  const sealed = bootstrapSecrets(c, { ALERT_MATRIX_ACCESS_TOKEN: 'syt_c2VjcmV0_t0ken' });
  assert.equal(sealed.find((x) => x.name === 'matrix-alertmanager-receiver'), { name: 'matrix-alertmanager-receiver', namespace: 'monitoring', stringData: { 'access-token': 'syt_c2VjcmV0_t0ken' } });
  assert.not.ok(sealed.some((x) => x.name === 'alertmanager-receiver'), 'no webhook URL with the matrix receiver');
  assert.not.match([...files.values()].join('\n'), 'syt_c2VjcmV0');
  // other receivers: no Kustomization, no token
  const none = parseConfigText(base.replace('receiver: matrix', 'receiver: none'), 'x.yaml');
  assert.not.match(renderAll(none).get(generatedPaths('infra').fluxMonitoring)!, 'alerts-matrix');
  assert.not.ok(requiredSecrets(none).some((r) => r.env === 'ALERT_MATRIX_ACCESS_TOKEN'));
  const problems = (text: string) => {
    try {
      parseConfigText(text, 'x.yaml');
      return '';
    } catch (e) {
      return [(e as Error).message, ...((e as { problems?: string[] }).problems ?? [])].join('\n');
    }
  };
  assert.match(problems(base), /monitoring\.alerts\.matrix: receiver "matrix" needs the room: set alerts\.matrix/);
  assert.match(problems(base.replace('receiver: matrix', 'receiver: webhook') + room), /monitoring\.alerts\.matrix: is only read with receiver "matrix" \(receiver is "webhook"\)/);
  assert.match(problems(base + room.replace('example.org,', 'example.org:8448,')), /monitoring\.alerts\.matrix\.homeserver: must be on port 443/);
  assert.match(problems(base + room.replace('"!AbCdEf:example.org"', 'AbCdEf')), /monitoring\.alerts\.matrix\.room: .*must be a Matrix room id such as "!AbCdEf:example\.org"/);
  assert.match(problems(base + room.replace('"@alerts:example.org"', 'alerts')), /monitoring\.alerts\.matrix\.userId: .*must be a Matrix user id/);
  assert.match(problems(base + room.replace('https://matrix', 'http://matrix')), /monitoring\.alerts\.matrix\.homeserver: .*must be an https:\/\/ URL/);
});

test('monitoring without proxmoxCsi is refused, naming the section and the fix', () => {
  const text = without(FIVE_NODE, 'proxmoxCsi', 'monitoring') + '\nmonitoring: {}\n';
  assert.throws(() => parseConfigText(text, 'x.yaml'), (e: Error & { problems?: string[] }) => /monitoring: .*add the proxmoxCsi section or remove monitoring/.test([e.message, ...(e.problems ?? [])].join('\n')));
  const bad = without(FIVE_NODE, 'monitoring') + '\nmonitoring:\n  metrics: { retention: 30days }\n';
  assert.throws(() => parseConfigText(bad, 'x.yaml'), (e: Error & { problems?: string[] }) => /monitoring\.metrics\.retention.*such as 30d/.test([e.message, ...(e.problems ?? [])].join('\n')));
});

test('a backups section renders its Flux phase, S3 settings, the Talos API access for etcd snapshots, and sealed credentials', () => {
  const base = without(FIVE_NODE, 'backups');
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
  assert.equal(sealed.map((x) => x.namespace), ['backups', 'vault', 'authentik', 'gitea', 'harbor', 'matrix']);
  assert.equal(sealed[0]!.stringData, { 'access-key-id': 'AKIA1', 'secret-access-key': 's3cr3t', passphrase: 'pa55' });
  // One file per SealedSecret: the name's first keeps backup-target.sealed.yaml, the others carry their namespace.
  assert.equal(sealedFileNames(sealed), ['backup-target', 'vault-backup-target', 'authentik-backup-target', 'gitea-backup-target', 'harbor-backup-target', 'matrix-backup-target']);
  assert.throws(() => parseConfigText(base + '\nbackups:\n  s3: { endpoint: https://s3.example.org, bucket: lab-backups }\n  etcdSchedule: daily\n', 'x.yaml'), /five-field cron schedule/);
  // Five fields that never run (31 February) or run nowhere (minute 61): refused, as backup:status could not bound them.
  for (const bad of ['0 3 31 2 *', '61 3 * * *']) {
    assert.throws(() => parseConfigText(base + `\nbackups:\n  s3: { endpoint: https://s3.example.org, bucket: lab-backups }\n  vaultSchedule: "${bad}"\n`, 'x.yaml'), (e: Error & { problems?: string[] }) =>
      [e.message, ...(e.problems ?? [])].some((m) => m.includes(`backups.vaultSchedule: "${bad}" is not a cron schedule that ever runs`)));
  }
});

test.run();
