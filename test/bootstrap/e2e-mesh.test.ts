import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { labFromConfig, type Lab } from '../lab/lab.ts';
import { ciliumValuesOf, LAB_KUSTOMIZATIONS, makeWorld, meshCaCalls, meshCaFiles, runCopy, type Repo, type RunOutput, type World } from './harness.ts';

// The two clusters of a ClusterMesh share one CA: infra and apps (the shipped examples, one control plane each and
// without the sections the mesh does not need) side by side in one working copy — cluster.yaml and clusters/apps.yaml,
// each listing the other — bootstrapped one after the other, each on its own lab but from one state base, as one user
// running both bootstraps from one machine does. The first creates the CA (one openssl call); the second finds it and
// installs Cilium with the same bytes.

const OPTIONAL = ['headscale', 'powerdns', 'vps', 'proxmoxCsi', 'monitoring', 'backups'];

interface CiliumValues {
  cluster: { name: string; id: number };
  clustermesh: { config: { clusters: { name: string; ips: string[] }[] } };
  tls: { ca: { cert: string; key: string } };
}

test('infra and apps bootstrapped from one state base: one CA, created once, byte-identical in both Cilium installs', async () => {
  const apps = parse(readFileSync(join(REPO_ROOT, 'clusters/apps.example.yaml'), 'utf8')) as Record<string, any>;
  for (const k of OPTIONAL) delete apps[k];
  apps.nodes = apps.nodes.slice(0, 1);
  apps.clusterMesh.peers = ['../cluster.yaml'];
  let world: World | undefined;
  const labs: Lab[] = [];
  try {
    world = await makeWorld('five-node.yaml', (raw) => {
      raw.nodes = (raw.nodes as unknown[]).slice(0, 1);
      raw.clusterMesh = { apiServerIp: '10.0.10.203', peers: ['clusters/apps.yaml'] };
      // The peer is bootstrapped too: the same Proxmox host, SSH settings and repository as this one.
      Object.assign(apps, { proxmox: raw.proxmox, ssh: raw.ssh, github: raw.github });
    }, { 'clusters/apps.yaml': apps });
    const w = world;
    const appsFile = join(w.repo.root, 'clusters', 'apps.yaml');
    const repos: Repo[] = [w.repo, { ...w.repo, configFile: appsFile, config: parseConfigText(readFileSync(appsFile, 'utf8'), 'clusters/apps.yaml') }];
    for (const r of repos) labs.push(labFromConfig(r.config, { repoDir: w.repo.root, kustomizations: LAB_KUSTOMIZATIONS }));
    // One state base for both, as on the user's machine (the labs' own state is elsewhere).
    const base = labs[0]!.stateDir;
    labs[1]!.env.HOME_OPS_STATE_DIR = base;
    const runs: RunOutput[] = [];
    for (const [i, r] of repos.entries()) {
      const lab = labs[i]!;
      const run = await lab.withEnv(() => runCopy(r, { ...lab.env, GITHUB_API_URL: w.github.url }));
      assert.is(run.exitCode, 0, `${r.config.cluster.name}:\n${run.text}`);
      runs.push(run);
    }

    assert.equal(runs.map((r) => meshCaCalls(r)), [1, 0], 'one openssl call for the CA, by the first bootstrap');
    const files = meshCaFiles(base);
    const ca = { cert: Buffer.from(files.cert), key: Buffer.from(files.key) };
    const [infraValues, appsValues] = labs.map((l) => ciliumValuesOf(l) as CiliumValues);
    for (const [v, name, peer] of [[infraValues!, 'infra', 'apps'], [appsValues!, 'apps', 'infra']] as const) {
      assert.is(v.cluster.name, name);
      assert.equal(v.clustermesh.config.clusters.map((c) => c.name), [peer], `${name} connects to ${peer}`);
      assert.ok(Buffer.from(v.tls.ca.cert, 'base64').equals(ca.cert), `${name}: tls.ca.cert is the shared CA's`);
      assert.ok(Buffer.from(v.tls.ca.key, 'base64').equals(ca.key), `${name}: tls.ca.key is the shared CA's`);
    }
    assert.equal(infraValues!.tls, appsValues!.tls, 'byte-identical CA in both installs');
    assert.equal(infraValues!.clustermesh.config.clusters[0]!.ips, ['10.0.20.203']);
    assert.equal(appsValues!.clustermesh.config.clusters[0]!.ips, ['10.0.10.203']);
  } finally {
    for (const lab of labs) lab.cleanup();
    await world?.cleanup();
  }
});

test.run();
