import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { omittedKustomizations, roleKustomizations } from '../../scripts/lib/configure/flux-entry.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import type { Lab } from '../lab/lab.ts';
import { startHttpProxy, type HttpProxy } from '../servers/faults.ts';
import { startPdns, type PdnsServer } from '../servers/pdns.ts';
import {
  assertMeshInstalled,
  GITHUB_TOKEN,
  labForWorld,
  makeWorld,
  meshCaCalls,
  MUTATING_HTTP,
  onLoopback,
  PROXMOX_TOKEN,
  sh,
  sshActions,
  STATE_CHANGING,
  unsealPushed,
  type RunOutput,
  type World,
} from './harness.ts';

// The second cluster's example (clusters/apps.example.yaml, role apps) bootstrapped cold on the lab: the sections
// infra's example does not have — powerdns.external (no PowerDNS here: this cluster publishes through infra's API) and
// monitoring.shipTo (agents only) — with proxmoxCsi and the apps role tree. Infra's PowerDNS is a real server holding
// infra's zone, its API behind a recording proxy; the Proxmox host is the real loopback sshd. Flux applies what the
// real `kubectl kustomize` build of the pushed Flux path gives: no Kustomization is named here.
//
// The config is the shipped file, with only its addresses moved onto loopback as e2e-full moves infra's (this
// cluster's network to 127.0.20.0/24, infra's shipping address to 127.0.10.0/24) and infra's API where the test's
// server listens. The first run meets infra's PowerDNS without its zone (infra not bootstrapped yet): preflight
// fails naming the zone and the API, before anything is created, and writes nothing there. Once the zone exists the
// next run finishes, only reading that server; then once more, and the integrations phase once more on its own:
// neither changes anything.
//
// The ClusterMesh with infra: infra's config (cluster.example.yaml on loopback) lies beside this one in the copy as
// clusters/infra.yaml, each listing the other. The run that installs Cilium creates the mesh's CA once, in the state
// base beside the cluster's own directory; Cilium's values carry it with this cluster's clustermesh-apiserver address
// and infra's; the key shows up nowhere else.

const EXAMPLE = 'clusters/apps.example.yaml';
const ZONE = 'k8s.example.org';
const ZONE_PATH = `/api/v1/servers/localhost/zones/${ZONE}.`;
/** The SOA serial in `pdnsutil list-zone` output (its records: name, ttl, class, type, content). */
const soaSerial = (listing: string) => /\tSOA\t\S+ \S+ (\d+) /.exec(listing)?.[1];
const b64 = (s: string) => Buffer.from(s).toString('base64');
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test('the apps example config (powerdns.external, monitoring.shipTo): cold bootstrap against infra\'s real PowerDNS, then a second run that changes nothing', async () => {
  const example = parse(readFileSync(join(REPO_ROOT, EXAMPLE), 'utf8')) as Record<string, any>;
  assert.is(example.cluster.role, 'apps');
  assert.ok(example.powerdns?.external && example.monitoring?.shipTo && example.proxmoxCsi && example.clusterMesh, 'the example has powerdns.external, monitoring.shipTo, proxmoxCsi and clusterMesh');
  assert.equal(example.clusterMesh.peers, ['../cluster.example.yaml']);
  // The peer: infra's example on loopback (as e2e-full moves it), naming this config (cluster.yaml in the copy) back.
  const infra = onLoopback(parse(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8')) as Record<string, any>);
  assert.equal(infra.clusterMesh.peers, ['clusters/apps.example.yaml']);
  infra.clusterMesh.peers = ['../cluster.yaml'];
  assert.not.ok(example.headscale || example.vps || example.backups, 'sections the test does not stand up are absent from the example');

  let infraDns: PdnsServer | undefined;
  let api: HttpProxy | undefined;
  let world: World | undefined;
  let lab: Lab | undefined;
  try {
    // Infra's PowerDNS, up but without its zone yet. Its API is reached where the example says (infra's DNS
    // LoadBalancer address, on loopback, port 8081 — the port a config rule demands) through a proxy recording each request.
    const apiUrl = onLoopback(example.powerdns.external.apiUrl as string);
    const at = new URL(apiUrl);
    assert.is(apiUrl, 'http://127.0.10.200:8081');
    infraDns = await startPdns();
    api = await startHttpProxy({ host: '127.0.0.1', port: infraDns.apiPort }, { failFirst: 0, listen: { host: at.hostname, port: Number(at.port) } });
    // The shipped file with its addresses on loopback: this cluster's network, and infra's (its API, its shipping address).
    const moved = onLoopback(onLoopback(example, '10.0.20.'));
    moved.clusterMesh.peers = ['clusters/infra.yaml'];
    world = await makeWorld(EXAMPLE, (raw) => Object.assign(raw, { ...moved, proxmox: raw.proxmox, ssh: raw.ssh, github: raw.github }), { 'clusters/infra.yaml': infra });
    const w = world;
    const c = w.repo.config;
    // Exactly that, but for the harness's own: the Proxmox host on the loopback sshd, the GitHub repository.
    const written = parse(readFileSync(w.repo.configFile, 'utf8')) as Record<string, any>;
    assert.equal(written, {
      ...moved,
      proxmox: { ...example.proxmox, host: '127.0.0.1', sshPort: w.sshd.port, sshUser: w.sshd.user },
      ssh: { knownHostsFile: w.sshd.knownHostsFile, identityFile: w.sshd.identityFile },
      github: written.github,
    });
    assert.is(c.powerdns?.external?.apiUrl, apiUrl);
    const initial = w.repo.head();
    assert.is(c.monitoring?.shipTo?.address, '127.0.10.202');
    assert.is(c.powerdns?.external?.domain, `apps.${ZONE}`);

    const wl = labForWorld(w, { kustomizations: undefined, originDir: w.repo.origin, originBranch: 'main' });
    lab = wl.lab;
    const secrets = { PROXMOX_VE_API_TOKEN: PROXMOX_TOKEN, GITHUB_TOKEN, PDNS_API_KEY: infraDns.apiKey };
    const runs: RunOutput[] = [];
    // Every command run on the Proxmox host, across the call-log resets below.
    const remoteLines: string[] = [];
    const run = async (o: { only?: string } = {}) => {
      const r = await wl.run({ secrets, ...o });
      runs.push(r);
      return r;
    };

    // 1. Infra's zone is missing: preflight reads it, stops naming the zone and infra's API before any VM or tool
    //    changes anything, and nothing is written to that server (no zone created, no record).
    const missing = await run();
    assert.is(missing.exitCode, 1, missing.text);
    assert.match(missing.text, /bootstrap stopped in phase preflight:[\s\S]*preflight found 1 problem/);
    assert.match(missing.text, new RegExp(`zone ${escape(ZONE)}\\. does not exist on the PowerDNS at ${escape(apiUrl)}: it belongs to the cluster that runs that server`));
    for (const cmd of STATE_CHANGING) assert.is(lab.calls({ cmd }).length, 0, `${cmd} before the zone exists`);
    assert.is(infraDns.pdnsutil(['list-all-zones']).trim(), '', 'no zone created on infra\'s server');
    assert.equal(api.requests.filter((r) => MUTATING_HTTP.test(r)), [], 'no write through infra\'s API');
    assert.ok(api.requests.includes(`GET ${ZONE_PATH}`), `preflight read the zone: ${api.requests.join(', ')}`);

    // 2. Infra's bootstrap has made its zone (its records, and one of this cluster's names external-dns published).
    infraDns.pdnsutil(['create-zone', ZONE, `ns1.${ZONE}`]);
    infraDns.pdnsutil(['add-record', ZONE, 'api', 'A', '3600', '127.0.10.10']);
    infraDns.pdnsutil(['add-record', ZONE, 'app.apps', 'A', '300', '127.0.20.201']);
    const zone = infraDns.pdnsutil(['list-zone', ZONE]);
    const serial = soaSerial(zone);
    assert.ok(serial, zone);
    const requestsBefore = api.requests.length;
    const first = await run();
    assert.is(first.exitCode, 0, first.text);
    const st = JSON.parse(readFileSync(join(lab.stateDir, c.cluster.name, 'bootstrap-state.json'), 'utf8')) as { phases: Record<string, { status: string }> };
    for (const phase of ['preflight', 'infra', 'talos', 'cni', 'secrets', 'gitops', 'integrations', 'verify']) assert.is(st.phases[phase]?.status, 'done', phase);
    // The ClusterMesh: one CA, made by this run (the preflight that stopped made none) in <state base>/mesh/apps+infra,
    // readable by this user only; Cilium installed with it, this cluster's clustermesh-apiserver on its LoadBalancer
    // address and infra's (read from clusters/infra.yaml) to connect to.
    const ca = assertMeshInstalled(lab, { name: 'apps', id: 2, apiServerIp: '127.0.20.203' }, { name: 'infra', apiServerIp: '127.0.10.203' });
    const caDir = ca.dir;
    assert.equal([missing, first].map((r) => meshCaCalls(r)), [0, 1], 'the mesh CA is made once');
    const caMtime = statSync(join(caDir, 'ca.key')).mtimeMs;
    assert.match(first.text, new RegExp(`zone ${escape(ZONE)}\\. exists at ${escape(apiUrl)}; external-dns publishes apps\\.${escape(ZONE)} there`));
    // Only reads against infra's server; its zone (SOA serial included) is as infra left it.
    const firstRequests = api.requests.slice(requestsBefore);
    assert.ok(firstRequests.includes(`GET ${ZONE_PATH}`), firstRequests.join(', '));
    assert.equal(firstRequests.filter((r) => !r.startsWith('GET ')), [], 'only GETs against infra\'s API');
    assert.is(soaSerial(infraDns.pdnsutil(['list-zone', ZONE])), serial, 'infra\'s zone serial unchanged');
    assert.is(infraDns.pdnsutil(['list-zone', ZONE]), zone, 'infra\'s zone unchanged');

    // The pushed tree: the API key sealed twice (external-dns in dns-system, the DNS-01 issuer in cert-manager), the
    // CSI token sealed, nothing in plain text; the settings point at infra's API and shipping address.
    const secretsDir = `kubernetes/clusters/${c.cluster.name}/secrets`;
    for (const [file, namespace] of [['powerdns-api-key.sealed.yaml', 'dns-system'], ['cert-manager-powerdns-api-key.sealed.yaml', 'cert-manager']] as const) {
      const s = unsealPushed(w, lab, `${secretsDir}/${file}`);
      assert.match(s.text, /kind: SealedSecret[\s\S]*encryptedData:/, file);
      assert.equal({ namespace: s.namespace, name: s.name, data: s.data }, { namespace, name: 'powerdns-api-key', data: { 'api-key': infraDns.apiKey } }, file);
    }
    const csi = unsealPushed(w, lab, `${secretsDir}/proxmox-csi-plugin.sealed.yaml`);
    assert.is(csi.namespace, 'csi-proxmox');
    assert.is(w.remote.calls({ cmd: 'pveum user token add' }).filter((x) => x.exitCode === 0).length, 1, 'one CSI token made on the Proxmox host');
    assert.is(w.repo.head(), w.repo.remoteHead());
    const settings = (parse(sh(w.repo.root, 'git', '--git-dir', w.repo.origin, 'show', `refs/heads/main:kubernetes/clusters/${c.cluster.name}/cluster-settings.yaml`)) as { data: Record<string, string> }).data;
    assert.is(settings.PDNS_API_URL, apiUrl);
    assert.is(settings.DNS_ZONE, `apps.${ZONE}`);
    assert.is(settings.VM_WRITE_URL, 'http://127.0.10.202:8428/api/v1/write');

    // The lab's Flux applied the build of the pushed path: the apps role tree's Kustomizations (none left out: the
    // example has every section that tree needs) and the monitoring agents, with this cluster's secrets path; no
    // PowerDNS of its own, none of infra's monitoring stores.
    const tree = roleKustomizations(w.repo.root, 'apps');
    assert.equal([...omittedKustomizations(c, tree).keys()], [], 'nothing of the apps tree is left out');
    const fx = lab.raw().flux as { kustomizations: { name: string; spec: { path: string; dependsOn?: { name: string }[] } }[] };
    const names = fx.kustomizations.map((k) => k.name).filter((n) => n !== 'flux-system').sort();
    const agents = ['exporters', 'fluent-bit', 'victoria-metrics-operator', 'vmagent'];
    assert.equal(names, [...tree.map((k) => k.name), ...agents].sort());
    for (const n of ['external-dns', 'cert-manager-webhook-pdns', 'cluster-issuers', 'gateway', 'proxmox-csi']) assert.ok(names.includes(n), n);
    for (const n of ['powerdns', 'victoria-metrics', 'victoria-logs', 'alerting', 'grafana', 'monitoring-receiver']) assert.not.ok(names.includes(n), `${n} runs on infra`);
    assert.not.ok(fx.kustomizations.some((k) => (k.spec.dependsOn ?? []).some((d) => d.name === 'powerdns')), 'nothing waits for a PowerDNS of its own');
    assert.is(fx.kustomizations.find((k) => k.name === 'cluster-secrets')?.spec.path, `./kubernetes/clusters/${c.cluster.name}/secrets`);
    assert.is(fx.kustomizations.find((k) => k.name === 'flux-system')?.spec.path, `./kubernetes/clusters/${c.cluster.name}`);
    const state = lab.state().flux!;
    assert.ok(state.kustomizations.every((k) => k.ready === 'True'), JSON.stringify(state.kustomizations));

    // 3. Second run: nothing changes anywhere. Then the integrations phase once more on its own: the external step
    //    reads infra's zone again and writes nothing.
    const unchanged = async (what: string, o: { only?: string }) => {
      const counts = Object.fromEntries(STATE_CHANGING.map((cmd) => [cmd, lab!.calls({ cmd }).length]));
      const head = w.repo.remoteHead();
      const httpBefore = api!.requests.length;
      remoteLines.push(...w.remote.calls().map((x) => x.line));
      w.remote.resetCalls();
      const r = await run(o);
      assert.is(r.exitCode, 0, r.text);
      assert.is(meshCaCalls(r), 0, `${what}: the mesh CA made again`);
      assert.equal([readFileSync(join(caDir, 'ca.key'), 'utf8'), statSync(join(caDir, 'ca.key')).mtimeMs], [ca.key, caMtime], `${what}: the mesh CA rewritten`);
      for (const cmd of STATE_CHANGING) assert.is(lab!.calls({ cmd }).length, counts[cmd], `${what}: ${cmd} repeated`);
      assert.equal(w.remote.mutatingCalls(), [], `${what}: no change over SSH (pveum)`);
      assert.equal(sshActions(r.log), [], `${what}: no changing command over SSH`);
      const requests = api!.requests.slice(httpBefore);
      assert.equal(requests.filter((x) => MUTATING_HTTP.test(x)), [], `${what}: no write through infra's API`);
      assert.is(w.repo.remoteHead(), head, `${what}: nothing pushed`);
      assert.is(soaSerial(infraDns!.pdnsutil(['list-zone', ZONE])), serial, `${what}: infra's zone serial unchanged`);
      assert.is(infraDns!.pdnsutil(['list-zone', ZONE]), zone, `${what}: infra's zone unchanged`);
      return { r, requests };
    };
    const second = await unchanged('second run', {});
    assert.match(second.r.text, /integrations +skipped .*\(unchanged config\)/);
    const again = await unchanged('integrations again', { only: 'integrations' });
    assert.match(again.r.text, new RegExp(`integrations +done .*proxmox csi token: no changes[^;]*; powerdns \\(external\\): zone ${escape(ZONE)}\\. exists`));
    assert.ok(again.requests.includes(`GET ${ZONE_PATH}`), 'the step read infra\'s zone again');

    // The API key and the mesh CA's key never in plain text (nor base64) in git — the bootstrap's commits in the copy and on the remote Flux
    // reads, the working copy — in the logs of any run, or on a command line (the lab's tools, the Proxmox host's).
    const key = infraDns.apiKey;
    const caKeyBody = ca.key.split('\n')[1]!;
    assert.ok(caKeyBody.length > 40, caKeyBody);
    const untracked = () => sh(w.repo.root, 'git', 'ls-files', '--others', '--exclude-standard').split('\n').filter(Boolean);
    for (const [where, text] of [
      ['commits of the copy', sh(w.repo.root, 'git', 'log', '--all', '-p', `^${initial}`)],
      ['commits pushed', sh(w.repo.root, 'git', '--git-dir', w.repo.origin, 'log', '--all', '-p', `^${initial}`)],
      ['working copy', [sh(w.repo.root, 'git', 'diff', initial), ...untracked().map((f) => readFileSync(join(w.repo.root, f), 'utf8'))].join('\n')],
      ['logs', runs.map((r) => r.text).join('\n')],
      ['argv (lab)', lab.calls().map((x) => x.argv.join(' ')).join('\n')],
      ['argv (Proxmox host)', [...remoteLines, ...w.remote.calls().map((x) => x.line)].join('\n')],
    ] as const) {
      assert.ok(text.length > 0, `${where}: something to search`);
      assert.not.ok(text.includes(key) || text.includes(b64(key)), `${where}: the PowerDNS API key in plain text`);
      assert.not.ok(text.includes(caKeyBody) || text.includes(b64(ca.key)), `${where}: the mesh CA key`);
    }
  } finally {
    lab?.cleanup();
    await world?.cleanup();
    await api?.close();
    await infraDns?.stop();
  }
});

test.run();
