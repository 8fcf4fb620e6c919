import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig } from '../../scripts/lib/config/load.ts';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { ensureMeshCa, meshCaDir } from '../../scripts/lib/cilium/mesh-ca.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { clusterPaths } from '../../scripts/lib/core/paths.ts';
import { Runner } from '../../scripts/lib/core/runner.ts';
import { ciliumValues } from '../../scripts/lib/helm/helm.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

// Cilium ClusterMesh: each config names its peers' config files; loading one reads the others and checks that the
// two agree (each lists the other, distinct names and ids, no shared pod or node network, one Cilium minor).

interface Side {
  name: string;
  id: number;
  net: string;
  pod: string;
  cilium?: string;
  peers?: string[];
}

function configText(s: Side): string {
  return `cluster: { name: ${s.name}, id: ${s.id} }
versions: { talos: v1.11.6, kubernetes: 1.34.1, cilium: ${s.cilium ?? '1.18.3'}, flux: v2.7.3 }
network:
  nodeCidr: 10.0.${s.net}.0/24
  gateway: 10.0.${s.net}.1
  dnsServers: [10.0.${s.net}.1]
  podCidr: ${s.pod}
  vip: 10.0.${s.net}.10
  loadBalancerCidr: 10.0.${s.net}.192/27
${s.peers ? `clusterMesh:\n  apiServerIp: 10.0.${s.net}.200\n  peers: [${s.peers.join(', ')}]\n` : ''}nodes:
  - { name: ${s.name}-cp-1, role: controlplane, ip: 10.0.${s.net}.11, vmId: ${s.id}011 }
proxmox: { host: pve.home.arpa, node: pve, storage: local-lvm }
github: { owner: someone, repository: homelab }
`;
}

function withConfigs<T>(infra: Side, apps: Side, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'clusters'));
  writeFileSync(join(dir, 'cluster.yaml'), configText(infra));
  writeFileSync(join(dir, 'clusters', 'apps.yaml'), configText(apps));
  let out: T;
  try {
    out = fn(dir);
  } catch (err) {
    cleanup();
    throw err;
  }
  if (out instanceof Promise) return out.finally(cleanup) as T;
  cleanup();
  return out;
}

const INFRA: Side = { name: 'infra', id: 1, net: '10', pod: '10.244.0.0/16', peers: ['clusters/apps.yaml'] };
const APPS: Side = { name: 'apps', id: 2, net: '20', pod: '10.245.0.0/16', peers: ['../cluster.yaml'] };

function problems(dir: string, file: string): string[] {
  try {
    loadConfig({ path: join(dir, file) });
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

test('two configs that agree load, and each cluster\'s Cilium connects to the other\'s clustermesh-apiserver', () => {
  withConfigs(INFRA, APPS, (dir) => {
    const infra = loadConfig({ path: join(dir, 'cluster.yaml') }).config;
    const apps = loadConfig({ path: join(dir, 'clusters', 'apps.yaml') }).config;
    assert.equal(infra.clusterMesh!.remotes, [{ name: 'apps', apiServerIp: '10.0.20.200' }]);
    const values = ciliumValues(infra) as { cluster: unknown; clustermesh: Record<string, unknown> };
    assert.equal(values.cluster, { name: 'infra', id: 1 });
    assert.equal(values.clustermesh, {
      useAPIServer: true,
      apiserver: { service: { type: 'LoadBalancer', loadBalancerIP: '10.0.10.200' } },
      config: { enabled: true, clusters: [{ name: 'apps', ips: ['10.0.20.200'], port: 2379 }] },
    });
    assert.equal(apps.clusterMesh!.remotes, [{ name: 'infra', apiServerIp: '10.0.10.200' }]);
  });
});

test('a peer that does not list this config back, or has no mesh section, is an error naming the line to add', () => {
  withConfigs(INFRA, { ...APPS, peers: undefined }, (dir) => {
    const p = problems(dir, 'cluster.yaml');
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /cluster\.yaml:\d+:\d+ clusterMesh\.peers\[0\]: clusters\/apps\.yaml \(cluster apps\) has no clusterMesh section; add one with peers: \[\.\.\/cluster\.yaml\] — both sides must agree$/);
  });
  withConfigs(INFRA, { ...APPS, peers: ['other.yaml'] }, (dir) => {
    writeFileSync(join(dir, 'clusters', 'other.yaml'), configText({ name: 'other', id: 3, net: '30', pod: '10.246.0.0/16', peers: ['apps.yaml'] }));
    const p = problems(dir, 'cluster.yaml');
    assert.ok(p.some((x) => x.includes('clusters/apps.yaml (cluster apps) does not list this config in its clusterMesh.peers; add ../cluster.yaml there')), p.join('\n'));
  });
});

test('every cluster of a mesh lists all the others', () => {
  withConfigs(INFRA, { ...APPS, peers: ['../cluster.yaml', 'other.yaml'] }, (dir) => {
    writeFileSync(join(dir, 'clusters', 'other.yaml'), configText({ name: 'other', id: 3, net: '30', pod: '10.246.0.0/16', peers: ['apps.yaml', '../cluster.yaml'] }));
    const p = problems(dir, 'cluster.yaml');
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /clusterMesh\.peers: clusters\/apps\.yaml \(cluster apps\) also meshes with clusters\/other\.yaml; every cluster of a mesh lists all the others — add it here$/);
  });
});

test('peers need distinct names and ids, separate pod and node networks and one Cilium minor', () => {
  withConfigs(INFRA, { ...APPS, name: 'infra', id: 1, net: '10', pod: '10.244.128.0/17', cilium: '1.17.9' }, (dir) => {
    const p = problems(dir, 'cluster.yaml').map((x) => x.replace(/^.*?cluster\.yaml:\d+:\d+ /, ''));
    assert.ok(p.includes('cluster.name: cluster name infra is used by both this cluster and clusters/apps.yaml; mesh peers need distinct names'), p.join('\n'));
    assert.ok(p.includes('cluster.id: cluster id 1 is used by both this cluster and clusters/apps.yaml (infra); Cilium tells mesh clusters apart by id'), p.join('\n'));
    assert.ok(p.includes('network.podCidr: 10.244.0.0/16 overlaps the pod network of clusters/apps.yaml (infra: 10.244.128.0/17); mesh peers route pod addresses, so each needs its own'), p.join('\n'));
    assert.ok(p.includes('network.nodeCidr: 10.0.10.0/24 overlaps the node network of clusters/apps.yaml (infra: 10.0.10.0/24); the clusters\' nodes must reach each other routed'), p.join('\n'));
    assert.ok(p.includes('versions.cilium: Cilium 1.18.3 here, 1.17.9 on clusters/apps.yaml (infra); mesh peers run the same Cilium minor'), p.join('\n'));
  });
});

test('a missing or broken peer config is reported on the peers entry', () => {
  withConfigs({ ...INFRA, peers: ['clusters/nope.yaml', 'clusters/apps.yaml'] }, { ...APPS, pod: 'not-a-cidr' }, (dir) => {
    const p = problems(dir, 'cluster.yaml');
    assert.ok(p.some((x) => /clusterMesh\.peers\[0\]: clusters\/nope\.yaml not found/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /clusterMesh\.peers\[1\]: clusters\/apps\.yaml is not a valid cluster config \(clusters\/apps\.yaml:\d+:\d+ network\.podCidr: "not-a-cidr" must be an IPv4 CIDR/.test(x)), p.join('\n'));
  });
});

test('the shipped examples mesh with each other; a copy that keeps the example\'s peer path is told what to change', () => {
  const infra = loadConfig({ path: join(REPO_ROOT, 'cluster.example.yaml') }).config;
  const apps = loadConfig({ path: join(REPO_ROOT, 'clusters', 'apps.example.yaml') }).config;
  assert.equal(infra.clusterMesh!.remotes, [{ name: 'apps', apiServerIp: apps.clusterMesh!.apiServerIp }]);
  assert.equal(apps.clusterMesh!.remotes, [{ name: 'infra', apiServerIp: infra.clusterMesh!.apiServerIp }]);
  // five-node.yaml is the example; its peer beside it is apps' example but for the path back.
  const fixtures = join(REPO_ROOT, 'test/fixtures/config/valid');
  assert.equal(loadConfig({ path: join(fixtures, 'five-node.yaml') }).config.clusterMesh!.remotes, infra.clusterMesh!.remotes);
  const peer = readFileSync(join(fixtures, 'clusters', 'apps.example.yaml'), 'utf8').split('\n').slice(1).join('\n');
  assert.is(peer.replace('peers: [../five-node.yaml]', ''), readFileSync(join(REPO_ROOT, 'clusters', 'apps.example.yaml'), 'utf8').replace(/peers: \[\.\.\/cluster\.example\.yaml\] .*/, ''));
  // cp cluster.example.yaml cluster.yaml: apps' example lists the example back, not the copy.
  const p = problems(REPO_ROOT, 'cluster.example.yaml');
  assert.equal(p, []);
  const dir = mkdtempSync(join(tmpdir(), 'mesh-copy-'));
  try {
    mkdirSync(join(dir, 'clusters'));
    writeFileSync(join(dir, 'cluster.yaml'), readFileSync(join(REPO_ROOT, 'cluster.example.yaml')));
    writeFileSync(join(dir, 'clusters', 'apps.example.yaml'), readFileSync(join(REPO_ROOT, 'clusters', 'apps.example.yaml')));
    const copied = problems(dir, 'cluster.yaml');
    assert.equal(copied.length, 1, copied.join('\n'));
    assert.match(copied[0]!, 'clusterMesh.peers[0]: clusters/apps.example.yaml (cluster apps) does not list this config in its clusterMesh.peers; add ../cluster.yaml there');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the mesh CA is made once with openssl, kept 0600 beside the clusters\' state, and found by every peer; a dry run only plans it', async () => {
  await withConfigs(INFRA, APPS, async (dir) => {
    const infra = loadConfig({ path: join(dir, 'cluster.yaml') }).config;
    const apps = loadConfig({ path: join(dir, 'clusters', 'apps.yaml') }).config;
    const env = { HOME_OPS_STATE_DIR: join(dir, 'state') };
    const log = new Logger({ level: 'error' });
    const ctx = (config: typeof infra, dryRun: boolean) => {
      const printed: string[] = [];
      const runner = new Runner({ log, dryRun, print: (l) => printed.push(l) });
      return { ctx: { config, runner, log, secrets: {}, paths: clusterPaths(config.cluster.name, env) }, runner, printed };
    };
    const plan = ctx(infra, true);
    assert.is(await ensureMeshCa(plan.ctx), undefined);
    assert.equal(plan.runner.history.map((h) => h.argv[0]), ['openssl']);
    const caDir = meshCaDir(clusterPaths('infra', env).dir, ['infra', 'apps']);
    assert.is(caDir, join(dir, 'state', 'mesh', 'apps+infra'));
    assert.throws(() => statSync(join(caDir, 'ca.key')));
    const made = await ensureMeshCa(ctx(infra, false).ctx);
    const cert = new X509Certificate(made!.cert);
    assert.ok(cert.ca);
    assert.match(cert.subject, 'CN=Cilium CA');
    assert.is(statSync(join(caDir, 'ca.key')).mode & 0o777, 0o600);
    // The other peer's bootstrap finds the same CA and runs nothing.
    const peer = ctx(apps, false);
    const found = await ensureMeshCa(peer.ctx);
    assert.equal(found, made);
    assert.equal(peer.runner.history, []);
    assert.is(readFileSync(join(caDir, 'ca.crt'), 'utf8'), made!.cert);
  });
});

test('two peers\' bootstraps at the same time end with one CA: the one that loses the race uses the winner\'s', async () => {
  await withConfigs(INFRA, APPS, async (dir) => {
    const env = { HOME_OPS_STATE_DIR: join(dir, 'state') };
    const log = new Logger({ level: 'error' });
    const ctx = (file: string) => {
      const config = loadConfig({ path: join(dir, file) }).config;
      return { config, runner: new Runner({ log, dryRun: false }), log, secrets: {}, paths: clusterPaths(config.cluster.name, env) };
    };
    const peers = [ctx('cluster.yaml'), ctx(join('clusters', 'apps.yaml'))];
    // Both find no CA and run openssl; only one pair is kept, and both return it.
    const [a, b] = await Promise.all(peers.map((p) => ensureMeshCa(p)));
    assert.equal(peers.map((p) => p.runner.history.length), [1, 1]);
    const caDir = join(dir, 'state', 'mesh', 'apps+infra');
    const onDisk = { cert: readFileSync(join(caDir, 'ca.crt'), 'utf8'), key: readFileSync(join(caDir, 'ca.key'), 'utf8') };
    assert.equal(a, onDisk);
    assert.equal(b, onDisk);
    assert.ok(new X509Certificate(onDisk.cert).checkPrivateKey(createPrivateKey(onDisk.key)), 'the key is the certificate\'s');
    assert.equal(readdirSync(join(dir, 'state', 'mesh')), ['apps+infra'], 'no staging directory left behind');
    // Half a CA (one file lost) is refused, naming the directory: a new CA would split the mesh.
    rmSync(join(caDir, 'ca.key'));
    try {
      await ensureMeshCa(ctx('cluster.yaml'));
      assert.unreachable('half a CA was accepted');
    } catch (err) {
      assert.match((err as Error).message, `${caDir} holds ca.crt without ca.key: copy the missing file from the machine that bootstrapped a peer`);
    }
    assert.is(readFileSync(join(caDir, 'ca.crt'), 'utf8'), onDisk.cert, 'the certificate is kept');
  });
});

test.run();
