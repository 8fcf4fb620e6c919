import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WaitTimeoutError } from '../../scripts/lib/core/wait.ts';
import { PowerDnsError } from '../../scripts/lib/powerdns/api.ts';
import { powerDnsSyncScript } from '../../scripts/lib/powerdns/script.ts';
import { syncPowerDns } from '../../scripts/lib/powerdns/sync.ts';
import { startHttpProxy } from '../servers/faults.ts';
import { freePort } from '../servers/common.ts';
import { startPdns, type PdnsServer } from '../servers/pdns.ts';
import { stringify } from 'yaml';
import { integrations } from '../../scripts/lib/bootstrap/integrations.ts';
import { parseConfigText, type ClusterConfig } from '../../scripts/lib/config/load.ts';
import { config, configObject, makeContext, runScriptCaptured, startHarness, withEnv, type ConfigParts, type Harness } from './harness.ts';

// PowerDNS against real servers: the in-cluster zone through pdns_server's HTTP API, the parent zone's delegation
// through the real pdnsutil over the real sshd, every result checked with a real DNS query (dig) on the server's port.

let h: Harness;
let cluster: PdnsServer; // the in-cluster server (HTTP API)
let vps: PdnsServer; // the VPS serving the parent zone (pdnsutil over SSH)
let proxy: Awaited<ReturnType<typeof startHttpProxy>>; // in front of the API: counts requests, injects 5xx

test.before(async () => {
  h = await startHarness();
  [cluster, vps] = await Promise.all([startPdns(), startPdns({ zones: [{ name: 'example.test', nameserver: 'ns1.example.test' }] })]);
  proxy = await startHttpProxy({ host: '127.0.0.1', port: cluster.apiPort }, { failFirst: 0 });
});
test.after(async () => {
  await proxy?.close();
  await Promise.all([cluster?.stop(), vps?.stop()]);
  await h?.stop();
});

const RECORDS = [
  { name: 'api', type: 'A', content: '10.0.10.10' },
  { name: '*', type: 'A', content: ['10.0.10.201'] },
  { name: 'txt', type: 'TXT', content: 'hello world' },
  { name: 'v6', type: 'AAAA', content: '2001:db8:0:0::1' },
  { name: 'www', type: 'CNAME', content: 'ingress.k8s.example.test' },
  { name: '@', type: 'MX', content: '10 mail.example.test', ttl: 600 },
];

function parts(over: { apiPort?: number; dnsPort?: number; records?: unknown[]; parentZone?: string } = {}): ConfigParts {
  return h.parts({
    powerdns: {
      apiUrl: `http://127.0.0.1:${over.apiPort ?? proxy.port}`,
      zone: 'k8s.example.test',
      nameserver: { ip: '127.0.0.1' },
      dnsPort: over.dnsPort ?? cluster.dnsPort,
      records: over.records ?? RECORDS,
      delegation: {
        host: '127.0.0.1',
        sshPort: h.sshd.port,
        sshUser: h.sshd.user,
        parentZone: over.parentZone ?? 'example.test',
        pdnsutil: vps.pdnsutilArgv,
        dnsPort: vps.dnsPort,
      },
    },
  });
}

const secrets = () => ({ PDNS_API_KEY: cluster.apiKey });
const dig = (port: number, name: string, type: string, extra: string[] = ['+answer']) =>
  execFileSync('dig', ['@127.0.0.1', '-p', String(port), '+norecurse', '+time=2', '+tries=1', '+noall', ...extra, name, type], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/).slice(3).join(' '));
const writes = () => proxy.requests.filter((r) => !r.startsWith('GET'));

test('first sync: creates the zone and records through the API and the delegation through pdnsutil; DNS answers', async () => {
  const t = makeContext(config(parts()), { secrets: secrets() });
  const r = await syncPowerDns(t.ctx, { verifyTimeoutMs: 10_000, verifyIntervalMs: 200 });
  assert.is(r.changed, true);
  assert.match(r.summary, /verified by DNS/);
  assert.equal(writes(), ['POST /api/v1/servers/localhost/zones', 'PATCH /api/v1/servers/localhost/zones/k8s.example.test.']);
  // Real DNS queries against the in-cluster server…
  assert.equal(dig(cluster.dnsPort, 'api.k8s.example.test', 'A'), ['A 10.0.10.10']);
  assert.equal(dig(cluster.dnsPort, 'anything.k8s.example.test', 'A'), ['A 10.0.10.201']);
  assert.equal(dig(cluster.dnsPort, 'txt.k8s.example.test', 'TXT'), ['TXT "hello world"']);
  assert.equal(dig(cluster.dnsPort, 'v6.k8s.example.test', 'AAAA'), ['AAAA 2001:db8::1']);
  assert.equal(dig(cluster.dnsPort, 'www.k8s.example.test', 'CNAME'), ['CNAME ingress.k8s.example.test.']);
  assert.equal(dig(cluster.dnsPort, 'k8s.example.test', 'MX'), ['MX 10 mail.example.test.']);
  assert.equal(dig(cluster.dnsPort, 'k8s.example.test', 'NS'), ['NS ns1.k8s.example.test.']);
  assert.equal(dig(cluster.dnsPort, 'ns1.k8s.example.test', 'A'), ['A 127.0.0.1']);
  // …and against the VPS: a referral to the cluster's nameserver with glue.
  assert.equal(dig(vps.dnsPort, 'k8s.example.test', 'NS', ['+authority', '+additional']), ['NS ns1.k8s.example.test.', 'A 127.0.0.1']);
  assert.match(vps.pdnsutil(['list-zone', 'example.test']), /k8s\.example\.test\t3600\tIN\tNS\tns1\.k8s\.example\.test\./);
  assert.match(t.log.printed.join('\n'), /zone k8s\.example\.test\. \(created\): 7 change\(s\), 1 rrset\(s\) in sync/);
});

test('second sync: no changes (no POST/PATCH, no pdnsutil change), still verified by DNS', async () => {
  proxy.requests.length = 0;
  const serial = vps.pdnsutil(['list-zone', 'example.test']).match(/SOA\t.* (\d+) 10800/)?.[1];
  const t = makeContext(config(parts()), { secrets: secrets() });
  const r = await syncPowerDns(t.ctx, { verifyTimeoutMs: 10_000, verifyIntervalMs: 200 });
  assert.is(r.changed, false);
  assert.match(r.summary, /^no changes \(8 rrset\(s\) and the delegation in sync, verified by DNS\)/);
  assert.equal(writes(), []);
  assert.is(vps.pdnsutil(['list-zone', 'example.test']).match(/SOA\t.* (\d+) 10800/)?.[1], serial);
  assert.match(t.log.printed.join('\n'), /delegation of k8s\.example\.test\. in example\.test\. on 127\.0\.0\.1: no changes/);
});

test('drift: what differs is replaced, other records are left alone', async () => {
  // Someone changed api's address and added a record of their own; the glue on the VPS was edited by hand.
  await fetch(`${cluster.apiUrl}/api/v1/servers/localhost/zones/k8s.example.test.`, {
    method: 'PATCH',
    headers: { 'X-API-Key': cluster.apiKey },
    body: JSON.stringify({
      rrsets: [
        { name: 'api.k8s.example.test.', type: 'A', ttl: 300, changetype: 'REPLACE', records: [{ content: '10.9.9.9', disabled: false }] },
        { name: 'mine.k8s.example.test.', type: 'TXT', ttl: 60, changetype: 'REPLACE', records: [{ content: '"keep me"', disabled: false }] },
      ],
    }),
  });
  vps.pdnsutil(['replace-rrset', 'example.test', 'ns1.k8s', 'A', '3600', '192.0.2.1']);
  proxy.requests.length = 0;
  const t = makeContext(config(parts()), { secrets: secrets() });
  const r = await syncPowerDns(t.ctx, { verifyTimeoutMs: 10_000, verifyIntervalMs: 200 });
  assert.match(r.summary, /changed 1 in the zone, 1 in the delegation/);
  assert.equal(writes(), ['PATCH /api/v1/servers/localhost/zones/k8s.example.test.']);
  assert.equal(dig(cluster.dnsPort, 'api.k8s.example.test', 'A'), ['A 10.0.10.10']);
  assert.equal(dig(cluster.dnsPort, 'mine.k8s.example.test', 'TXT'), ['TXT "keep me"']);
  assert.equal(dig(vps.dnsPort, 'k8s.example.test', 'NS', ['+authority', '+additional']), ['NS ns1.k8s.example.test.', 'A 127.0.0.1']);
  const printed = t.log.printed.join('\n');
  assert.match(printed, /~ api\.k8s\.example\.test\. A\n {4}- 300 10\.9\.9\.9\n {4}\+ 300 10\.0\.10\.10/);
  assert.match(printed, /~ ns1\.k8s\.example\.test\. A\n {4}- 3600 192\.0\.2\.1\n {4}\+ 3600 127\.0\.0\.1/);
});

test('the script: --dry-run prints the diff and the exact PATCH and pdnsutil command, changing nothing; then runs; then "no changes"', async () => {
  const file = h.configFile(parts({ records: [...RECORDS, { name: 'new', type: 'A', content: '10.0.10.50' }] }), 'dns.yaml');
  const env = { HOME_OPS_STATE_DIR: h.stateDir, PDNS_API_KEY: cluster.apiKey };
  vps.pdnsutil(['replace-rrset', 'example.test', 'k8s', 'NS', '60', 'ns1.k8s.example.test.']);
  proxy.requests.length = 0;
  const dry = await runScriptCaptured(powerDnsSyncScript, ['--config', file, '--dry-run'], env);
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /\+ new\.k8s\.example\.test\. 300 A 10\.0\.10\.50/);
  assert.match(dry.stdout, /PATCH http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers\/localhost\/zones\/k8s\.example\.test\. \{"rrsets":\[\{"name":"new\.k8s\.example\.test\.","type":"A","ttl":300,"changetype":"REPLACE","records":\[\{"content":"10\.0\.10\.50","disabled":false\}\]\}\]\}/);
  assert.match(dry.stdout, /\$ ssh -p \d+ \S+ -- \/usr\/bin\/pdnsutil --config-dir=\S+ replace-rrset example\.test k8s NS 3600 ns1\.k8s\.example\.test\./);
  assert.match(dry.stdout, /\? dig @127\.0\.0\.1 -p \d+ \+norecurse/);
  assert.not.match(dry.stdout + dry.stderr, new RegExp(cluster.apiKey));
  assert.equal(writes(), []);
  assert.equal(dig(cluster.dnsPort, 'new.k8s.example.test', 'A'), ['A 10.0.10.201']); // still only the wildcard

  const real = await runScriptCaptured(powerDnsSyncScript, ['--config', file, '--verify-timeout', '10'], env);
  assert.is(real.code, 0, real.stderr);
  assert.equal(dig(cluster.dnsPort, 'new.k8s.example.test', 'A'), ['A 10.0.10.50']);
  assert.equal(dig(vps.dnsPort, 'k8s.example.test', 'NS', ['+authority']), ['NS ns1.k8s.example.test.']);
  proxy.requests.length = 0;
  const again = await runScriptCaptured(powerDnsSyncScript, ['--config', file, '--verify-timeout', '10'], env);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /no changes \(9 rrset\(s\) and the delegation in sync, verified by DNS\)/);
  assert.equal(writes(), []);
});

test('the script: a --verify-timeout that is not a positive number is a usage error (exit 2) naming the flag', async () => {
  const file = h.configFile(parts(), 'pdns-usage.yaml');
  for (const bad of ['0', '-5', 'soon']) {
    const r = await runScriptCaptured(powerDnsSyncScript, ['--config', file, `--verify-timeout=${bad}`], { HOME_OPS_STATE_DIR: h.stateDir });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`--verify-timeout ${bad}: must be a positive number of seconds`));
  }
});

test('PowerDNS answering 5xx: retried within bounds; beyond them a clear error', async () => {
  proxy.failNext(2);
  const t = makeContext(config(parts()), { secrets: secrets() });
  const r = await syncPowerDns(t.ctx, { verifyTimeoutMs: 10_000, verifyIntervalMs: 200, http: { backoffMs: 20 } });
  assert.is(r.changed, false, `${r.summary}\n${t.log.printed.join('\n')}`);
  assert.match(t.log.all(), /503 Service Unavailable: Service Unavailable \(injected\); retrying in 20ms \(attempt 2\/4\)/);
  proxy.failNext(100);
  try {
    await syncPowerDns(makeContext(config(parts()), { secrets: secrets() }).ctx, { http: { backoffMs: 10, attempts: 3 } });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, PowerDnsError);
    assert.match((err as Error).message, /PowerDNS API GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers\/localhost\/zones\/k8s\.example\.test\. failed after 3 attempts: 503/);
  }
  proxy.failNext(0);
});

test('a wrong API key fails at once with a hint; the key is never printed', async () => {
  const t = makeContext(config(parts()), { secrets: { PDNS_API_KEY: 'wrong-key-1234' } });
  try {
    await syncPowerDns(t.ctx, { http: { backoffMs: 10 } });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /failed: 401 Unauthorized.*check that PDNS_API_KEY/);
    assert.not.match((err as Error).message, /wrong-key-1234/);
  }
  assert.not.match(t.log.all(), /retrying/);
});

test('a parent zone missing on the VPS is a clear error', async () => {
  const t = makeContext(config(parts({ parentZone: 'test' })), { secrets: secrets() });
  try {
    await syncPowerDns(t.ctx, { verifyTimeoutMs: 2000 });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /remote command failed \(exit 1\): .*pdnsutil --config-dir=\S+ list-zone test[\s\S]*Zone 'test' not found[\s\S]*next: the parent zone test must exist/);
  }
});

test('verification by DNS is bounded: a server that does not answer fails with a timeout and diagnostics', async () => {
  const silent = await freePort();
  const t = makeContext(config(parts({ dnsPort: silent })), { secrets: secrets() });
  try {
    await syncPowerDns(t.ctx, { verifyTimeoutMs: 1500, verifyIntervalMs: 300 });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, WaitTimeoutError);
    assert.match((err as Error).message, /timed out after 2s waiting for DNS answers to match the config[\s\S]*still different: api\.k8s\.example\.test\. A @127\.0\.0\.1:\d+/);
  }
});

test('a missing dig fails at once with a clear error, not after the verification timeout', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'no-dig-'));
  const t = makeContext(config(parts()), { secrets: secrets() });
  const started = Date.now();
  try {
    await withEnv({ PATH: empty }, () => syncPowerDns(t.ctx, { verifyTimeoutMs: 60_000, verifyIntervalMs: 200 }));
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /^dig is not installed \(Debian\/Ubuntu: apt-get install dnsutils\)/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
  assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started}ms`);
});

/**
 * A cluster that uses this server from elsewhere (powerdns.external). The config rules want the API by address on port
 * 8081 (what the network policies allow); the test server listens elsewhere, so the loaded config is pointed at it.
 */
function externalConfig(zone: string): ClusterConfig {
  const o = configObject(h.parts()) as { network: Record<string, unknown> };
  o.network.loadBalancerIps = { ingress: '10.0.10.201' };
  const c = parseConfigText(stringify({ ...o, powerdns: { zone, external: { apiUrl: 'http://10.0.10.200:8081' } } }), 'apps.yaml');
  const apiUrl = `http://127.0.0.1:${proxy.port}`;
  return { ...c, powerdns: { ...c.powerdns!, apiUrl, external: { ...c.powerdns!.external!, apiUrl } } };
}

test('powerdns.external: the zone on the other cluster\'s server is checked, nothing is written; a missing zone is a clear error', async () => {
  proxy.requests.length = 0;
  const t = makeContext(externalConfig('k8s.example.test'), { secrets: secrets() });
  const r = await syncPowerDns(t.ctx);
  assert.is(r.changed, false);
  assert.match(r.summary, /^zone k8s\.example\.test\. exists at http:\/\/127\.0\.0\.1:\d+; external-dns publishes itest\.k8s\.example\.test there$/);
  assert.equal(writes(), []);
  assert.ok(proxy.requests.some((q) => q.startsWith('GET') && q.includes('/zones/k8s.example.test.')), proxy.requests.join('\n'));
  // The integration step of such a cluster waits for no Kustomization of its own.
  const step = integrations(t.ctx).find((i) => i.name.startsWith('powerdns'))!;
  assert.is(step.name, 'powerdns (external)');
  assert.is(step.needs, undefined);
  const missing = makeContext(externalConfig('nothere.example.test'), { secrets: secrets() });
  try {
    await syncPowerDns(missing.ctx);
    assert.unreachable('a missing zone was accepted');
  } catch (err) {
    assert.match((err as Error).message, /^zone nothere\.example\.test\. does not exist on the PowerDNS at http:\/\/127\.0\.0\.1:\d+: it belongs to the cluster that runs that server/);
  }
  assert.equal(writes(), []);
});

test('plan mode (bootstrap --dry-run): no request, no SSH, no query; the steps are printed', async () => {
  proxy.requests.length = 0;
  h.lab.resetCalls();
  const t = makeContext(config(parts()), { dryRun: true });
  const r = await syncPowerDns(t.ctx);
  assert.is(r.changed, false);
  const plan = t.plan.join('\n');
  assert.match(plan, /\? GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers\/localhost\/zones\/k8s\.example\.test\./);
  assert.match(plan, /POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers\/localhost\/zones \{"name":"k8s\.example\.test\.","kind":"Native","nameservers":\["ns1\.k8s\.example\.test\."\]\}/);
  assert.match(plan, /\? ssh -p \d+ \S+ -- \S*pdnsutil --config-dir=\S+ list-zone example\.test/);
  assert.match(plan, /\$ ssh .* increase-serial example\.test/);
  assert.match(plan, /\? dig @127\.0\.0\.1 -p \d+ \+norecurse \+time=2 \+tries=1 \+noall \+answer api\.k8s\.example\.test\. A/);
  assert.equal(proxy.requests, []);
});

test.run();
