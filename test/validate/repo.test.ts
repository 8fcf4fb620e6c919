import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '../../scripts/lib/core/log.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { loadConfig } from '../../scripts/lib/config/load.ts';
import { runnerExec } from '../../scripts/lib/validate/exec.ts';
import { embedGraph, graphDocument, README_GRAPH_BEGIN, README_GRAPH_END } from '../../scripts/lib/validate/graph.ts';
import { validateRepository } from '../../scripts/lib/validate/run.ts';
import { BASE, makeTree, show } from './fixture.ts';

// The repository itself passes every check, and `task validate` (the script) exits by its findings.

/**
 * The clusters committed to git. A user's working copy also holds the trees `task configure` rendered for their own
 * clusters (untracked); the committed graph and README describe only the committed ones.
 */
function committedClusters(): string[] {
  const files = execFileSync('git', ['ls-files', '--', 'kubernetes/clusters'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n');
  return [...new Set(files.map((f) => /^kubernetes\/clusters\/([^/]+)\//.exec(f)?.[1]).filter((c): c is string => !!c))].sort();
}

test('this repository passes task validate', async () => {
  const { config } = loadConfig({ path: join(REPO_ROOT, 'cluster.example.yaml') });
  const clusters = committedClusters();
  assert.ok(clusters.includes('infra'), `committed clusters: ${clusters.join(', ')}`);
  const r = await validateRepository({ exec: runnerExec(new Logger({ level: 'error' })), config, clusters });
  assert.equal(r.findings, [], show(r.findings));
  assert.ok(r.counts.objects > 50, `objects: ${r.counts.objects}`);
  assert.ok(r.counts.kustomizations >= 15);
  assert.ok(r.counts.helmReleases >= 10);
  assert.ok(r.counts.tfvarsFiles >= 2);
  const infra = r.trees.find((t) => t.cluster === 'infra')!;
  // the reference design's phases, in order
  const ks = [...infra.kustomizations.keys()];
  for (const name of ['sources', 'sealed-secrets', 'cert-manager', 'cilium-lb', 'gateway', 'cloudnative-pg', 'spegel', 'proxmox-csi', 'vault', 'external-secrets', 'secret-stores', 'authentik', 'powerdns', 'external-dns', 'cert-manager-webhook-pdns', 'gitea', 'harbor', 'matrix']) {
    assert.ok(ks.includes(`flux-system/${name}`), `missing Kustomization ${name}`);
  }
  // apps: its own Gateway for its domain in infra's zone, and the clients of infra's PowerDNS — no PowerDNS of its own.
  const apps = r.trees.find((t) => t.cluster === 'apps')!;
  const appsKs = [...apps.kustomizations.keys()];
  for (const name of ['gateway', 'external-dns', 'cert-manager-webhook-pdns', 'cluster-issuers', 'network-policies', 'cilium-lb']) {
    assert.ok(appsKs.includes(`flux-system/${name}`), `apps lacks Kustomization ${name}`);
  }
  assert.not.ok(appsKs.includes('flux-system/powerdns'));
  const obj = (kind: string, name: string) => apps.objects.find((a) => a.obj.kind === kind && a.obj.metadata?.name === name)!.obj as { spec: Record<string, any> };
  const gw = obj('Gateway', 'main');
  assert.equal(gw.spec.addresses, [{ type: 'IPAddress', value: '10.0.20.201' }]);
  assert.equal(gw.spec.listeners.map((l: { hostname?: string }) => l.hostname).filter(Boolean), ['*.apps.k8s.example.org', 'apps.k8s.example.org']);
  const dns = obj('HelmRelease', 'external-dns').spec.values;
  assert.ok(dns.extraArgs.includes('--pdns-server=http://10.0.10.200:8081'), dns.extraArgs);
  assert.is(dns.txtOwnerId, 'apps');
  assert.equal(dns.domainFilters, ['apps.k8s.example.org']);
  assert.is(obj('ClusterIssuer', 'letsencrypt').spec.acme.solvers[0].dns01.webhook.config.host, 'http://10.0.10.200:8081');
  assert.not.ok(apps.objects.some((a) => a.obj.kind === 'ExternalSecret'), 'apps has no Vault: no ExternalSecret');
  const dnsPolicy = apps.objects.find((a) => a.obj.kind === 'CiliumNetworkPolicy' && a.obj.metadata?.namespace === 'dns-system' && a.obj.metadata?.name === 'allow-needs')!.obj as { spec: { egress: { toCIDR?: string[] }[] } };
  assert.ok(dnsPolicy.spec.egress.some((e) => e.toCIDR?.includes('10.0.10.200/32')), 'external-dns may reach infra\'s API');
  // the committed graph is the current one
  assert.is(readFileSync(join(REPO_ROOT, 'docs/flux-graph.md'), 'utf8'), graphDocument(r.trees), 'docs/flux-graph.md is stale: run `task validate -- --graph`');
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(README_GRAPH_BEGIN), 'README.md embeds the graph');
  assert.is(readme, embedGraph(readme, r.trees), 'the graph in README.md is stale: run `task validate -- --graph`');
});

function runCli(args: string[]): { code: number; out: string } {
  const state = mkdtempSync(join(tmpdir(), 'validate-state-'));
  try {
    const res = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/validate.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, HOME_OPS_STATE_DIR: state },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: res.status ?? -1, out: `${res.stdout}${res.stderr}` };
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

test('scripts/validate.ts: exit 0 and the Mermaid graph on a clean tree, exit 1 naming file and object on a broken one', () => {
  const t = makeTree();
  try {
    // --graph --dry-run says what it would write and writes nothing (neither the graph nor README.md).
    const readmeText = `# test\n\n${README_GRAPH_BEGIN}\nold\n${README_GRAPH_END}\n`;
    t.write('README.md', readmeText);
    const dry = runCli(['--root', t.root, '--graph', '--dry-run']);
    assert.is(dry.code, 0, dry.out);
    assert.match(dry.out, 'would write docs/flux-graph.md (dry-run: not written)');
    assert.match(dry.out, 'would update the graph in README.md (dry-run: not written)');
    assert.not.ok(existsSync(join(t.root, 'docs/flux-graph.md')), '--dry-run wrote docs/flux-graph.md');
    assert.is(readFileSync(join(t.root, 'README.md'), 'utf8'), readmeText, '--dry-run rewrote README.md');

    const ok = runCli(['--root', t.root, '--graph']);
    assert.is(ok.code, 0, ok.out);
    assert.match(ok.out, 'validated 6 objects in 2 Flux Kustomizations (1 HelmReleases)');
    const graph = readFileSync(join(t.root, 'docs/flux-graph.md'), 'utf8');
    assert.match(graph, '```mermaid\nflowchart LR');
    assert.match(graph, 'ks_flux_system_sources --> ks_flux_system_app');
    assert.match(graph, 'ks_flux_system_app -.- hr_podinfo_podinfo');

    t.write('kubernetes/apps/app/helmrelease.yaml', BASE['kubernetes/apps/app/helmrelease.yaml']!.replace('version: 6.9.0', 'version: "*"'));
    const bad = runCli(['--root', t.root]);
    assert.is(bad.code, 1, bad.out);
    assert.match(bad.out, '[pinned-versions] kubernetes/apps/app/helmrelease.yaml  HelmRelease podinfo/podinfo: chart podinfo version "*" is a range');
    assert.match(bad.out, '1 problem(s)');
  } finally {
    t.cleanup();
  }
});

test.run();
