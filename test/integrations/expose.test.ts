import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText, type ClusterConfig } from '../../scripts/lib/config/load.ts';
import { exposeVps, removeVpsExposure } from '../../scripts/lib/vps/expose.ts';
import { netExposeScript } from '../../scripts/lib/vps/script.ts';
import { startNginx, type NginxServer } from '../servers/nginx.ts';
import { startPdns, type PdnsServer } from '../servers/pdns.ts';
import { handshakeFingerprint, startTlsServer, type TlsServer } from '../servers/tls.ts';
import { freePort } from '../servers/common.ts';
import { configObject, makeContext, runScriptCaptured, startHarness, type Harness } from './harness.ts';

// The public entry through the VPS against real servers on loopback: the in-cluster PowerDNS (primary, HTTP API) and
// the VPS's PowerDNS (secondary of the cluster zone and home of the parent zone, pdnsutil over the real sshd), real
// AXFR and NOTIFY between them, every answer checked with dig against the secondary; the VPS's nginx (Debian's, with
// the stream module) reached over the same sshd, an `openssl s_server` as the ingress and another as the VPS's own
// HTTPS site; `openssl s_client -servername …` through nginx.
//
// The primary runs the transfer settings of the Flux tree's powerdns-config (primary=yes, xfr-cycle-interval=5,
// allow-axfr-ips = the VPS's tailnet address, here 127.0.0.1).

const ZONE = 'k8s.example.test';
const PUBLIC_IP = '192.0.2.10';
// The cluster's pinned LoadBalancer addresses, on loopback (all of 127/8 is local on Linux): the primary PowerDNS
// listens and sends NOTIFY from its own, the ingress on its own; the VPS's tailnet address is 127.0.0.1.
const LB = { ingress: '127.0.0.65', dns: '127.0.0.66' };

let h: Harness;
let primary: PdnsServer;
let vps: PdnsServer;
let nginx: NginxServer;
let ingress: TlsServer;
let ownSite: TlsServer;
let listen: number;

test.before(async () => {
  h = await startHarness();
  const fluxConf = readFileSync(join(import.meta.dirname, '../../kubernetes/platform/powerdns/config.yaml'), 'utf8');
  const cycle = /xfr-cycle-interval=(\d+)/.exec(fluxConf)?.[1];
  assert.ok(cycle, 'the Flux powerdns-config sets xfr-cycle-interval');
  [primary, vps, nginx, ingress, ownSite, listen] = await Promise.all([
    startPdns({ extraConfig: [`local-address=${LB.dns}`, `query-local-address=${LB.dns}`, 'primary=yes', `xfr-cycle-interval=${cycle}`, 'allow-axfr-ips=127.0.0.1'] }),
    startPdns({ zones: [{ name: 'example.test', nameserver: 'ns1.example.test' }], extraConfig: ['secondary=yes', 'query-local-address=127.0.0.1', 'xfr-cycle-interval=60'] }),
    startNginx(),
    startTlsServer(`*.${ZONE}`, LB.ingress),
    startTlsServer('vps.example.test'),
    freePort(),
  ]);
});
test.after(async () => {
  await Promise.all([primary?.stop(), vps?.stop(), nginx?.stop(), ingress?.stop(), ownSite?.stop()]);
  await h?.stop();
});

const nginxFile = () => join(nginx.modulesEnabled, '99-home-ops-sni.conf');

function configData(over: { fallback?: string } = {}): Record<string, unknown> {
  const base = configObject(h.parts());
  return {
    ...base,
    network: { nodeCidr: '127.0.0.0/24', gateway: '127.0.0.1', dnsServers: ['127.0.0.1'], vip: '127.0.0.10', loadBalancerCidr: '127.0.0.64/27', loadBalancerIps: LB },
    nodes: [
      { name: 'itest-cp-1', role: 'controlplane', ip: '127.0.0.11', vmId: 1011 },
      { name: 'itest-worker-1', role: 'worker', ip: '127.0.0.21', vmId: 1021 },
    ],
    powerdns: {
      apiUrl: primary.apiUrl,
      zone: ZONE,
      nameserver: { ip: LB.dns },
      dnsPort: primary.dnsPort,
      records: [{ name: 'api', type: 'A', content: '10.0.10.10' }],
      delegation: { host: '127.0.0.1', sshPort: h.sshd.port, sshUser: h.sshd.user, parentZone: 'example.test', pdnsutil: vps.pdnsutilArgv, dnsPort: vps.dnsPort },
    },
    vps: {
      host: '127.0.0.1',
      sshPort: h.sshd.port,
      sshUser: h.sshd.user,
      publicIp: PUBLIC_IP,
      nameserver: 'ns1.example.test',
      tailnetIp: '127.0.0.1',
      dnsPort: vps.dnsPort,
      pdnsutil: vps.pdnsutilArgv,
      nginx: { command: nginx.command, file: nginxFile(), listen, ingressPort: ingress.port, fallback: over.fallback ?? `127.0.0.1:${ownSite.port}` },
    },
  };
}
function configFile(data: Record<string, unknown>, name: string): string {
  const file = join(h.dir, name);
  writeFileSync(file, stringify(data));
  return file;
}
const cfg = (over: { fallback?: string } = {}): ClusterConfig => parseConfigText(stringify(configData(over)), 'itest.yaml');
const secrets = () => ({ PDNS_API_KEY: primary.apiKey });
const FAST = { verifyTimeoutMs: 30_000, verifyIntervalMs: 200, http: { attempts: 2, backoffMs: 50 } };

const dig = (server: PdnsServer, name: string, type: string, extra: string[] = ['+answer']) =>
  execFileSync('dig', [`@${server === primary ? LB.dns : '127.0.0.1'}`, '-p', String(server.dnsPort), '+norecurse', '+time=2', '+tries=1', '+noall', ...extra, name, type], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/).slice(3).join(' '));
const serial = (server: PdnsServer) => dig(server, ZONE, 'SOA')[0]?.split(' ')[3];
const site = async () => (await fetch(`http://127.0.0.1:${nginx.sitePort}/`)).text();

test('--dry-run before anything exists: prints the secondary zone, the nginx file, nginx -t and reload; changes nothing', async () => {
  const file = configFile(configData(), 'expose.yaml');
  const dry = await runScriptCaptured(netExposeScript, ['--config', file, '--dry-run'], { HOME_OPS_STATE_DIR: h.stateDir, PDNS_API_KEY: primary.apiKey });
  assert.is(dry.code, 0, dry.stderr + dry.stdout);
  assert.match(dry.stdout, /\$ ssh -p \d+ \S+ -- \/usr\/bin\/pdnsutil --config-dir=\S+ create-secondary-zone k8s\.example\.test 127\.0\.0\.66:\d+/);
  assert.match(dry.stdout, /\$ ssh -p \d+ \S+ -- tee \S+99-home-ops-sni\.conf\.new/);
  assert.match(dry.stdout, /\$ ssh -p \d+ \S+ -- \/usr\/sbin\/nginx -p \S+ -c \S+nginx\.conf -t\n[\s\S]*-s reload/);
  assert.match(dry.stdout, /PUT http:\/\/127\.0\.0\.1:\d+\/api\/v1\/servers\/localhost\/zones\/k8s\.example\.test\.\/metadata\/ALLOW-AXFR-FROM \{"kind":"ALLOW-AXFR-FROM","metadata":\["127\.0\.0\.1"\]\}/);
  assert.match(dry.stderr + dry.stdout, /would change: zone transfer, nginx; dns: would change 3 in the zone, 2 in the delegation/);
  assert.not.match(dry.stdout + dry.stderr, new RegExp(primary.apiKey));
  assert.is(existsSync(nginxFile()), false);
  assert.throws(() => vps.pdnsutil(['show-zone', ZONE]));
  assert.is(nginx.reloads(), 0);
});

test('first run: the VPS holds the zone as a secondary (real AXFR), public names point at the VPS, the parent delegates to its name, nginx passes TLS through', async () => {
  const t = makeContext(cfg(), { secrets: secrets() });
  const r = await exposeVps(t.ctx, FAST);
  assert.is(r.changed, true);
  assert.match(r.summary, /changed zone transfer and nginx/);
  // The secondary answers the zone with the primary's serial, from a real transfer.
  assert.match(vps.pdnsutil(['show-zone', ZONE]), /This is a Slave zone\nPrimary: 127\.0\.0\.66:\d+/);
  assert.ok(serial(primary));
  assert.is(serial(vps), serial(primary));
  assert.equal(dig(vps, `grafana.${ZONE}`, 'A'), [`A ${PUBLIC_IP}`]); // "*" → the VPS
  assert.equal(dig(vps, `api.${ZONE}`, 'A'), ['A 10.0.10.10']);
  assert.equal(dig(vps, ZONE, 'NS'), ['NS ns1.example.test.']);
  // The parent zone delegates to the VPS's public name, glue = its public address (not a private one).
  assert.match(vps.pdnsutil(['list-zone', 'example.test']), /k8s\.example\.test\t3600\tIN\tNS\tns1\.example\.test\.\nns1\.example\.test\t3600\tIN\tA\t192\.0\.2\.10/);
  // The primary serves AXFR to the VPS's tailnet address only (metadata and allow-axfr-ips).
  const axfr = (source: string) => spawnSync('dig', [`@${LB.dns}`, '-p', String(primary.dnsPort), '-b', source, '+time=2', '+tries=1', ZONE, 'AXFR'], { encoding: 'utf8' }).stdout;
  assert.match(axfr('127.0.0.1'), /grafana|\*\.k8s\.example\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10/);
  assert.match(axfr('127.0.0.2'), /Transfer failed/);
  const meta = (kind: string) => fetch(`${primary.apiUrl}/api/v1/servers/localhost/zones/${ZONE}./metadata/${kind}`, { headers: { 'X-API-Key': primary.apiKey } }).then((x) => x.json() as Promise<{ metadata: string[] }>);
  assert.equal((await meta('ALLOW-AXFR-FROM')).metadata, ['127.0.0.1']);
  assert.equal((await meta('ALSO-NOTIFY')).metadata, [`127.0.0.1:${vps.dnsPort}`]);
  // nginx: the cluster's names reach the ingress with its own certificate; other names the VPS's own site.
  assert.is(nginx.reloads(), 1);
  assert.is(handshakeFingerprint(listen, `grafana.${ZONE}`), ingress.fingerprint);
  assert.is(handshakeFingerprint(listen, ZONE), ingress.fingerprint);
  assert.is(handshakeFingerprint(listen, 'vps.example.test'), ownSite.fingerprint);
  assert.not.equal(ingress.fingerprint, ownSite.fingerprint);
  assert.is(await site(), "the VPS's own site\n");
  assert.match(readFileSync(nginxFile(), 'utf8'), /ssl_preread on;/);
  assert.is(existsSync(`${nginxFile()}.previous`), false);
});

test('NOTIFY: a TXT record written to the primary through its API is answered by the secondary (time printed)', async () => {
  const started = Date.now();
  const res = await fetch(`${primary.apiUrl}/api/v1/servers/localhost/zones/${ZONE}.`, {
    method: 'PATCH',
    headers: { 'X-API-Key': primary.apiKey },
    body: JSON.stringify({ rrsets: [{ name: `_acme-challenge.grafana.${ZONE}.`, type: 'TXT', ttl: 60, changetype: 'REPLACE', records: [{ content: '"token-1"', disabled: false }] }] }),
  });
  assert.is(res.status, 204);
  let answer: string[] = [];
  while (Date.now() - started < 60_000) {
    answer = dig(vps, `_acme-challenge.grafana.${ZONE}`, 'TXT');
    if (answer.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(answer, ['TXT "token-1"']);
  console.log(`  NOTIFY → answer on the secondary: ${((Date.now() - started) / 1000).toFixed(2)} s (primary xfr-cycle-interval as in the Flux tree)`);
  assert.is(serial(vps), serial(primary));
});

test('second run: no changes, no write, no reload', async () => {
  const mtime = statSync(nginxFile()).mtimeMs;
  const reloads = nginx.reloads();
  const t = makeContext(cfg(), { secrets: secrets() });
  const r = await exposeVps(t.ctx, FAST);
  assert.is(r.changed, false, r.summary);
  assert.match(r.summary, /^no changes; 127\.0\.0\.1 serves k8s\.example\.test\. as a secondary/);
  assert.match(t.log.printed.join('\n'), /nginx on 127\.0\.0\.1: no changes/);
  assert.is(statSync(nginxFile()).mtimeMs, mtime);
  assert.is(nginx.reloads(), reloads);
  assert.not.match(t.log.lines.join('\n'), /nginx -p \S+ -c \S+ -t|tee /);
});

test('a zone that was Native (made before the vps section) becomes the primary again; the VPS catches up', async () => {
  const zoneUrl = `${primary.apiUrl}/api/v1/servers/localhost/zones/${ZONE}.`;
  const headers = { 'X-API-Key': primary.apiKey };
  assert.is((await fetch(zoneUrl, { method: 'PUT', headers, body: JSON.stringify({ kind: 'Native' }) })).status, 204);
  const t = makeContext(cfg(), { secrets: secrets() });
  const r = await exposeVps(t.ctx, FAST);
  assert.match(r.summary, /^changed zone transfer;/);
  assert.match(t.log.printed.join('\n'), /~ kind Native → Master/);
  assert.is(((await (await fetch(zoneUrl, { headers })).json()) as { kind: string }).kind, 'Master');
  assert.is(serial(vps), serial(primary));
});

test('a config nginx rejects is rolled back: the previous file is restored, no reload, nginx keeps serving', async () => {
  const before = readFileSync(nginxFile(), 'utf8');
  const reloads = nginx.reloads();
  const t = makeContext(cfg({ fallback: 'no-such-host.invalid:8443' }), { secrets: secrets() });
  const err = await exposeVps(t.ctx, FAST).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, 'the run fails');
  assert.match(err!.message, /nginx -t rejected the new \S+99-home-ops-sni\.conf on 127\.0\.0\.1:\n.*host not found in upstream "no-such-host\.invalid:8443"/);
  assert.match(err!.message, /the previous \S+ was restored; nginx was not reloaded/);
  assert.is(readFileSync(nginxFile(), 'utf8'), before);
  assert.match(readFileSync(`${nginxFile()}.previous`, 'utf8'), /ssl_preread on;/);
  assert.is(nginx.reloads(), reloads);
  assert.is(handshakeFingerprint(listen, `grafana.${ZONE}`), ingress.fingerprint);
  assert.is(await site(), "the VPS's own site\n");
  // The test of the next run passes again.
  const ok = await exposeVps(makeContext(cfg(), { secrets: secrets() }).ctx, FAST);
  assert.is(ok.changed, false);
});

test('a first file nginx rejects is removed again (nothing to restore); nginx keeps serving', async () => {
  // Another cluster on the same VPS, its own file, a fallback nginx cannot resolve.
  const data = configData({ fallback: 'no-such-host.invalid:8443' });
  const file = join(nginx.modulesEnabled, '98-home-ops-other.conf');
  Object.assign(data, { cluster: { name: 'other', id: 8 }, nodes: (data.nodes as { name: string }[]).map((n) => ({ ...n, name: n.name.replace('itest', 'other') })) });
  Object.assign((data.vps as { nginx: Record<string, unknown> }).nginx, { file, listen: await freePort() });
  const reloads = nginx.reloads();
  const t = makeContext(parseConfigText(stringify(data), 'other.yaml'), { secrets: secrets() });
  const err = await exposeVps(t.ctx, FAST).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(err?.message ?? '', /host not found in upstream "no-such-host\.invalid:8443"[\s\S]*98-home-ops-other\.conf was removed; nginx was not reloaded/);
  assert.is(existsSync(file), false);
  assert.is(existsSync(`${file}.previous`), false);
  assert.is(nginx.reloads(), reloads);
  assert.is(handshakeFingerprint(listen, `grafana.${ZONE}`), ingress.fingerprint);
  assert.is(await site(), "the VPS's own site\n");
});

test('--verify: delegation, SOA serial, TXT propagation and TLS passthrough, through the entry script', async () => {
  const file = configFile(configData(), 'expose.yaml');
  const res = await runScriptCaptured(netExposeScript, ['--config', file, '--verify', '--sni', `grafana.${ZONE}`, '--verify-timeout', '60'], {
    HOME_OPS_STATE_DIR: h.stateDir,
    PDNS_API_KEY: primary.apiKey,
  });
  assert.is(res.code, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /ok {3}example\.test\. delegates k8s\.example\.test\. to ns1\.example\.test\./);
  assert.match(res.stdout, /ok {3}127\.0\.0\.1 answers k8s\.example\.test\. with the primary's SOA serial \d+/);
  assert.match(res.stdout, /ok {3}a TXT record written to the primary was answered by the VPS after \d+\.\d s/);
  assert.match(res.stdout, new RegExp(`ok {3}127\\.0\\.0\\.1:${listen} passes grafana\\.k8s\\.example\\.test through to the ingress: certificate CN=\\*\\.k8s\\.example\\.test`));
  console.log(`  --verify: ${/answered by the VPS after (\S+ s)/.exec(res.stdout)?.[1]}`);
  // The verification record is gone again.
  assert.equal(dig(primary, `_home-ops-verify.${ZONE}`, 'TXT'), []);
});

test('--verify fails (exit 1) and says why when nginx sends the name elsewhere', async () => {
  // "The ingress" the config names now shows another certificate than the one nginx passes through.
  const other = await startTlsServer('other.example.test', LB.ingress);
  try {
    const data = configData();
    (data.vps as { nginx: { ingressPort: number } }).nginx.ingressPort = other.port;
    const file = configFile(data, 'wrong-ingress.yaml');
    const res = await runScriptCaptured(netExposeScript, ['--config', file, '--verify', '--sni', `grafana.${ZONE}`, '--verify-timeout', '30'], {
      HOME_OPS_STATE_DIR: h.stateDir,
      PDNS_API_KEY: primary.apiKey,
    });
    assert.is(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stdout, /FAIL 127\.0\.0\.1:\d+ answered grafana\.k8s\.example\.test with CN=\*\.k8s\.example\.test \(\S+\), not the ingress's certificate CN=other\.example\.test/);
  } finally {
    await other.stop();
  }
});

// cluster:destroy's step vps-expose (removeVpsExposure), on what the runs above left on the VPS.

test('destroy --dry-run reads the VPS and lists the exact removal (file aside, nginx -t, reload, zone); changes nothing', async () => {
  const reloads = nginx.reloads();
  const t = makeContext(cfg(), { dryRun: true, secrets: secrets() });
  const r = await removeVpsExposure(t.ctx, { inspect: true });
  assert.is(r.changed, false);
  assert.match(r.summary, /^would remove nginx file and secondary zone on 127\.0\.0\.1$/);
  const plan = t.plan.join('\n');
  const at = [/-- mv \S+99-home-ops-sni\.conf \S+99-home-ops-sni\.conf\.previous/, /-- \/usr\/sbin\/nginx -p \S+ -c \S+ -t/, /-s reload/, /-- rm -f \S+99-home-ops-sni\.conf\.previous/, /-- \/usr\/bin\/pdnsutil --config-dir=\S+ delete-zone k8s\.example\.test/].map((re) => plan.search(re));
  assert.ok(at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1]!)), plan);
  assert.ok(existsSync(nginxFile()));
  assert.match(vps.pdnsutil(['show-zone', ZONE]), /This is a Slave zone/);
  assert.is(nginx.reloads(), reloads);
});

test('destroy: when nginx -t fails without the file (another file uses its upstream), the file is put back and nginx is not reloaded', async () => {
  const before = readFileSync(nginxFile(), 'utf8');
  const reloads = nginx.reloads();
  const user = join(nginx.modulesEnabled, '97-uses-itest-upstream.conf');
  writeFileSync(user, `stream {\n    server {\n        listen 127.0.0.1:${await freePort()};\n        proxy_pass home_ops_itest_ingress;\n    }\n}\n`);
  try {
    const err = await removeVpsExposure(makeContext(cfg(), { secrets: secrets() }).ctx).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(err?.message ?? '', /nginx -t fails without \S+99-home-ops-sni\.conf on 127\.0\.0\.1:\n[\s\S]*home_ops_itest_ingress[\s\S]*was put back; nginx was not reloaded/);
    assert.is(readFileSync(nginxFile(), 'utf8'), before);
    assert.is(existsSync(`${nginxFile()}.previous`), false);
    assert.is(nginx.reloads(), reloads);
    assert.is(handshakeFingerprint(listen, `grafana.${ZONE}`), ingress.fingerprint);
    // The nginx step failed first: the zone is still there.
    assert.match(vps.pdnsutil(['show-zone', ZONE]), /This is a Slave zone/);
  } finally {
    rmSync(user, { force: true });
  }
});

test('destroy removes the stream file and the secondary zone; nginx keeps serving the rest; a second run changes nothing', async () => {
  const reloads = nginx.reloads();
  const t = makeContext(cfg(), { secrets: secrets() });
  const r = await removeVpsExposure(t.ctx);
  assert.is(r.changed, true, r.summary);
  assert.is(r.summary, 'removed nginx file and secondary zone on 127.0.0.1');
  assert.is(existsSync(nginxFile()), false);
  assert.is(existsSync(`${nginxFile()}.previous`), false);
  assert.is(nginx.reloads(), reloads + 1);
  assert.is(handshakeFingerprint(listen, `grafana.${ZONE}`), undefined, 'nothing listens for the cluster any more');
  assert.is(await site(), "the VPS's own site\n");
  assert.throws(() => vps.pdnsutil(['show-zone', ZONE]), /No such zone/);
  assert.equal(dig(vps, `grafana.${ZONE}`, 'A'), []);
  // The tested reload came before the zone went; the log shows each command.
  const log = t.log.lines.join('\n');
  assert.ok(log.search(/nginx -p \S+ -c \S+ -t/) < log.search(/-s reload/) && log.search(/-s reload/) < log.search(/delete-zone/), log);

  const again = makeContext(cfg(), { secrets: secrets() });
  const r2 = await removeVpsExposure(again.ctx);
  assert.is(r2.changed, false);
  assert.match(r2.summary, /^no changes/);
  assert.match(again.log.printed.join('\n'), /no \S+99-home-ops-sni\.conf \(nothing to remove\)\n.*not there \(nothing to delete\)/);
  assert.not.match(again.log.lines.join('\n'), /mv |-t\b|reload|delete-zone/);
  assert.is(nginx.reloads(), reloads + 1);
});

test('destroy leaves a zone and a file of that name alone when they are not the cluster\'s', async () => {
  vps.pdnsutil(['create-zone', ZONE]);
  const foreign = '# the VPS owner\'s own stream settings\n';
  writeFileSync(nginxFile(), foreign);
  const reloads = nginx.reloads();
  try {
    const t = makeContext(cfg(), { secrets: secrets() });
    const r = await removeVpsExposure(t.ctx);
    assert.is(r.changed, false);
    const printed = t.log.printed.join('\n');
    assert.match(printed, /99-home-ops-sni\.conf was not written for cluster itest \(no "# Managed by home-ops \(task net:expose\) for cluster itest:" line\): left as it is/);
    assert.match(printed, /secondary k8s\.example\.test\. on 127\.0\.0\.1: a Native zone, not this cluster's secondary of 127\.0\.0\.66:\d+: left as it is/);
    assert.is(readFileSync(nginxFile(), 'utf8'), foreign);
    assert.match(vps.pdnsutil(['show-zone', ZONE]), /This is a Native zone/);
    assert.is(nginx.reloads(), reloads);
  } finally {
    rmSync(nginxFile(), { force: true });
    vps.pdnsutil(['delete-zone', ZONE]);
  }
});

test.run();
