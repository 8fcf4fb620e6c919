import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { integrations } from '../../scripts/lib/bootstrap/integrations.ts';
import { parseConfigText, type ClusterConfig } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { desiredDelegation, desiredZoneRRsets, zoneKind } from '../../scripts/lib/powerdns/records.ts';
import { sniNames, streamConfig } from '../../scripts/lib/vps/nginx.ts';
import { desiredTransfer, parseShowZone, primaryEndpoint, secondaryCommands } from '../../scripts/lib/vps/secondary.ts';
import { defaultSni, soaSerial, verifyExposure } from '../../scripts/lib/vps/verify.ts';
import { configuredSshTargets } from '../../scripts/lib/ssh/remote.ts';
import { makeContext } from './harness.ts';

// The pure parts of the public entry (net:expose): the records and delegation the internet sees, the primary's transfer
// settings, pdnsutil show-zone parsing (PowerDNS 4.7 output, as captured from the real pdnsutil), the nginx file.

const example = parse(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8')) as Record<string, unknown>;
const withVps = (vps: Record<string, unknown> = {}): ClusterConfig =>
  parseConfigText(stringify({ ...example, vps: { ...(example.vps as object), ...vps } }), 'example.yaml');

test('with a vps section the internet sees the VPS: apex NS and delegation to its public name, public names at its address', () => {
  const c = withVps({ publicNames: ['*', '@', 'grafana'] });
  const zone = desiredZoneRRsets(c).map((r) => `${r.name} ${r.type} ${r.records.join(',')}`);
  assert.ok(zone.includes('k8s.example.org. NS ns1.example.org.'));
  assert.ok(zone.includes('*.k8s.example.org. A 203.0.113.10'));
  assert.ok(zone.includes('k8s.example.org. A 203.0.113.10'));
  assert.ok(zone.includes('grafana.k8s.example.org. A 203.0.113.10'));
  assert.not.ok(zone.some((r) => r.includes('10.0.10.200')), 'no private nameserver address is published');
  assert.equal(
    desiredDelegation(c).map((r) => `${r.name} ${r.type} ${r.records.join(',')}`),
    ['k8s.example.org. NS ns1.example.org.', 'ns1.example.org. A 203.0.113.10'],
  );
  assert.is(zoneKind(c), 'Master');
  assert.equal(desiredTransfer(c), { kind: 'Master', metadata: { 'ALLOW-AXFR-FROM': ['100.64.0.1'], 'ALSO-NOTIFY': ['100.64.0.1'] } });
  assert.is(primaryEndpoint(c), '10.0.10.200');
  assert.equal(sniNames(c), ['.k8s.example.org', 'k8s.example.org', 'grafana.k8s.example.org']);
  assert.is(defaultSni(c), 'k8s.example.org');
  assert.is(defaultSni(withVps()), 'verify.k8s.example.org');
});

test('without a vps section the zone stays Native and delegates to the in-cluster nameserver (as before)', () => {
  const { vps: _, ...rest } = example;
  const c = parseConfigText(stringify(rest), 'example.yaml');
  assert.is(zoneKind(c), 'Native');
  assert.equal(desiredDelegation(c).map((r) => `${r.name} ${r.type} ${r.records.join(',')}`), [
    'k8s.example.org. NS ns1.k8s.example.org.',
    'ns1.k8s.example.org. A 10.0.10.200',
  ]);
  const names = (x: ClusterConfig) => integrations(makeContext(x).ctx).map((i) => i.name);
  assert.ok(names(c).includes('powerdns'));
  assert.not.ok(names(c).includes('vps expose'));
  // With it, the vps step runs the PowerDNS sync itself (in order: zone first, then its secondary).
  assert.ok(names(withVps()).includes('vps expose'));
  assert.not.ok(names(withVps()).includes('powerdns'));
});

test('pdnsutil show-zone: secondary with its primaries, native, missing, unreadable', () => {
  const slave = 'This is a Slave zone\nPrimary: 127.0.0.1:41827 \nLast time we got update from primary: Never\nNo SOA serial found in database\n';
  assert.equal(parseShowZone({ ok: true, stdout: slave, stderr: '' }), { exists: true, kind: 'Slave', primaries: ['127.0.0.1:41827'] });
  assert.equal(parseShowZone({ ok: true, stdout: 'This is a Slave zone\nPrimaries: 10.0.0.1:53 10.0.0.2:53 \n', stderr: '' }), { exists: true, kind: 'Slave', primaries: ['10.0.0.1:53', '10.0.0.2:53'] });
  assert.equal(parseShowZone({ ok: true, stdout: 'This is a Native zone\nZone is not actively secured\n', stderr: '' }), { exists: true, kind: 'Native', primaries: [] });
  assert.equal(parseShowZone({ ok: false, stdout: "No keys for zone 'c.test'.\n", stderr: 'No such zone in the database\n' }), { exists: false });
  assert.is(parseShowZone({ ok: false, stdout: '', stderr: 'bash: pdnsutil: command not found' }), undefined);
});

test('the secondary: created when missing, re-pointed when the primary differs, left alone when right; a native copy is refused', () => {
  const p = ['pdnsutil'];
  assert.equal(secondaryCommands(p, 'k8s.example.org', '10.0.10.200', { exists: false }, 'vps'), [['pdnsutil', 'create-secondary-zone', 'k8s.example.org', '10.0.10.200']]);
  assert.equal(secondaryCommands(p, 'k8s.example.org', '10.0.10.200', { exists: true, kind: 'Slave', primaries: ['10.0.10.200:53'] }, 'vps'), []);
  assert.equal(secondaryCommands(p, 'k8s.example.org', '10.0.10.200', { exists: true, kind: 'Slave', primaries: ['10.0.10.9:53'] }, 'vps'), [
    ['pdnsutil', 'change-secondary-zone-primary', 'k8s.example.org', '10.0.10.200'],
  ]);
  assert.throws(
    () => secondaryCommands(p, 'k8s.example.org', '10.0.10.200', { exists: true, kind: 'Native', primaries: [] }, 'vps.example.org'),
    /k8s\.example\.org\. exists on vps\.example\.org as a Native zone, not a secondary[\s\S]*pdnsutil delete-zone k8s\.example\.org/,
  );
});

test('the nginx file: one stream block, SNI map to the ingress upstream, fallback only when configured', () => {
  const plain = streamConfig(withVps());
  assert.match(plain, /^stream \{\n {4}upstream home_ops_infra_ingress \{\n {8}server 10\.0\.10\.201:443;\n {4}\}\n {4}map \$ssl_preread_server_name \$home_ops_infra_backend \{\n {8}hostnames;\n {8}\.k8s\.example\.org +home_ops_infra_ingress;/m);
  assert.match(plain, /listen 443;\n {8}ssl_preread on;\n {8}proxy_pass \$home_ops_infra_backend;/);
  assert.not.match(plain, /fallback|default/);
  const withFallback = streamConfig(withVps({ nginx: { fallback: '127.0.0.1:8443', listen: 8444 } }));
  assert.match(withFallback, /upstream home_ops_infra_fallback \{\n {8}server 127\.0\.0\.1:8443;/);
  assert.match(withFallback, /default +home_ops_infra_fallback;/);
  assert.match(withFallback, /listen 8444;/);
});

test('preflight checks SSH to the VPS too (once when it is also the Headscale host)', () => {
  const roles = (c: ClusterConfig) => configuredSshTargets({ config: c }).map((t) => `${t.role} ${t.user}@${t.host}:${t.port}`);
  assert.equal(roles(withVps()), ['Proxmox root@pve.home.arpa:22', 'Headscale root@vps.example.org:22']);
  assert.equal(roles(withVps({ host: 'edge.example.org', sshUser: 'admin' })), [
    'Proxmox root@pve.home.arpa:22',
    'Headscale root@vps.example.org:22',
    'VPS admin@edge.example.org:22',
  ]);
});

test('--verify --dry-run prints every check and the one write, runs nothing', async () => {
  const t = makeContext(withVps({ publicNames: ['grafana'] }), { dryRun: true });
  const r = await verifyExposure(t.ctx);
  assert.equal(r.failed, []);
  const plan = t.plan.join('\n');
  assert.match(plan, /\? dig @vps\.example\.org -p 53 \+norecurse .* k8s\.example\.org\. NS +# NS must be ns1\.example\.org\./);
  assert.match(plan, /\? dig @10\.0\.10\.200 -p 53 .* k8s\.example\.org\. SOA/);
  assert.match(plan, /PATCH http:\/\/10\.0\.10\.200:8081\/api\/v1\/servers\/localhost\/zones\/k8s\.example\.org\. .*_home-ops-verify\.k8s\.example\.org\./);
  assert.match(plan, /\? openssl s_client -connect vps\.example\.org:443 -servername grafana\.k8s\.example\.org/);
  assert.match(plan, /\? openssl s_client -connect 10\.0\.10\.201:443 -servername grafana\.k8s\.example\.org/);
  assert.equal(t.ctx.runner.history, []);
});

test('soaSerial reads the serial of dig +answer SOA output', () => {
  assert.is(soaSerial('k8s.example.org.\t3600\tIN\tSOA\tns1.k8s.example.org. hostmaster.k8s.example.org. 2026120703 10800 3600 604800 3600\n'), 2026120703);
  assert.is(soaSerial(''), undefined);
});

test.run();
