import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { renderAll } from '../../scripts/lib/configure/render.ts';
import { runnerExec } from '../../scripts/lib/validate/exec.ts';
import type { ClusterTree } from '../../scripts/lib/validate/flux.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';
import { validateRepository } from '../../scripts/lib/validate/run.ts';
import { checkShipping } from '../../scripts/lib/validate/shipping.ts';
import { show } from './fixture.ts';

// The apps cluster ships metrics and logs to infra: both example configs rendered over a copy of the repository's
// Flux tree (so a user's own rendered clusters change nothing), built with real `kubectl kustomize`. The clean pair
// passes; each broken pair is reported once, naming both clusters' files and config fields.

const APPS = readFileSync(join(REPO_ROOT, 'clusters/apps.example.yaml'), 'utf8');
const INFRA = readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8');

function repository(apps: string): string {
  const root = mkdtempSync(join(tmpdir(), 'shipping-'));
  cpSync(join(REPO_ROOT, 'kubernetes'), join(root, 'kubernetes'), { recursive: true });
  cpSync(join(REPO_ROOT, 'schemas'), join(root, 'schemas'), { recursive: true });
  cpSync(join(REPO_ROOT, 'README.md'), join(root, 'README.md'));
  for (const [text, file] of [[INFRA, 'cluster.example.yaml'], [apps, 'clusters/apps.example.yaml']] as const) {
    for (const [rel, content] of renderAll(parseConfigText(text, file))) {
      if (!rel.startsWith('kubernetes/')) continue;
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), content);
    }
  }
  return root;
}

async function validate(apps: string) {
  const root = repository(apps);
  try {
    return await validateRepository({ root, exec: runnerExec(new Logger({ level: 'error' })), clusters: ['apps', 'infra'], terraformFmt: false });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

let trees: ClusterTree[] = [];

test('the example pair validates: apps ships to the address infra pins and admits', async () => {
  const r = await validate(APPS);
  const problems = r.findings.filter((f) => f.level !== 'warning' && f.check !== 'taskfile');
  assert.equal(problems, [], show(problems));
  trees = r.trees;
  const apps = trees.find((t) => t.cluster === 'apps')!;
  // Only the agents on apps: no store, no Grafana, no Alertmanager.
  const kinds = new Set(apps.objects.map((a) => `${a.obj.kind}/${a.obj.metadata?.name}`));
  for (const k of ['VMAgent/agent', 'HelmRelease/fluent-bit', 'HelmRelease/node-exporter', 'VMServiceScrape/cert-manager', 'VMPodScrape/cilium']) assert.ok(kinds.has(k), k);
  for (const k of ['VMSingle/metrics', 'HelmRelease/victoria-logs', 'HelmRelease/grafana', 'VMAlertmanager/alertmanager', 'Service/victoria-metrics-receiver']) assert.not.ok(kinds.has(k), k);
  const agent = apps.objects.find((a) => a.obj.kind === 'VMAgent')!.obj as { spec: { remoteWrite: { url: string }[]; externalLabels: Record<string, string> } };
  assert.equal(agent.spec.remoteWrite, [{ url: 'http://10.0.10.202:8428/api/v1/write' }]);
  assert.equal(agent.spec.externalLabels, { cluster: 'apps' });
  const bit = JSON.stringify(apps.objects.find((a) => a.obj.kind === 'HelmRelease' && a.obj.metadata?.name === 'fluent-bit')!.obj);
  assert.match(bit, 'Host 10.0.10.202');
  assert.match(bit, 'Record cluster apps');
});

test('an apps shipping address that is not infra pinned address is reported, naming both files and fields', async () => {
  const r = await validate(APPS.replace('address: 10.0.10.202', 'address: 10.0.10.203'));
  const f = r.findings.filter((x) => x.check === 'shipping');
  assert.is(f.length, 2, show(f));
  for (const x of f) {
    assert.is(x.file, 'kubernetes/clusters/apps/cluster-settings.yaml');
    for (const part of ["apps's monitoring.shipTo.address 10.0.10.203", 'pinned on 10.0.10.202', "infra's network.loadBalancerIps.monitoring", 'kubernetes/clusters/infra/cluster-settings.yaml', 'kubernetes/monitoring/receiver/services.yaml']) {
      assert.match(x.message, part, show(f));
    }
  }
  assert.equal(r.findings.filter((x) => x.level !== 'warning' && x.check !== 'taskfile' && x.check !== 'shipping'), [], show(r.findings));
});

/** The loaded trees with one change, for the cases that need no new build. */
function changed(edit: (t: ClusterTree[]) => void): Finding[] {
  const copy = structuredClone(trees);
  edit(copy);
  const findings: Finding[] = [];
  checkShipping(copy, REPO_ROOT, findings);
  return findings;
}

const settings = (ts: ClusterTree[], cluster: string) =>
  (ts.find((t) => t.cluster === cluster)!.objects.find((a) => a.obj.kind === 'ConfigMap' && a.obj.metadata?.name === 'cluster-settings')!.obj as { data: Record<string, string> }).data;

test('infra source ranges that leave out the apps node network are reported on the receiving Services', () => {
  assert.ok(trees.length, 'the first test loads the trees');
  assert.equal(changed(() => {}), []);
  const f = changed((ts) => {
    for (const a of ts.find((t) => t.cluster === 'infra')!.objects) {
      if (a.obj.kind === 'Service' && /receiver$/.test(a.obj.metadata?.name ?? '')) (a.obj.spec as { loadBalancerSourceRanges: string[] }).loadBalancerSourceRanges = ['10.0.30.0/24'];
    }
  });
  assert.is(f.length, 2, show(f));
  assert.is(f[0]!.file, 'kubernetes/monitoring/receiver/services.yaml');
  assert.match(f[0]!.message, "do not include apps's node network 10.0.20.0/24 (network.nodeCidr, NODE_CIDR in kubernetes/clusters/apps/cluster-settings.yaml)");
  assert.match(f[0]!.message, "infra's monitoring.receiveFrom");
  // A wider range that holds the node network admits it.
  assert.equal(changed((ts) => {
    for (const a of ts.find((t) => t.cluster === 'infra')!.objects) {
      if (a.obj.kind === 'Service' && /receiver$/.test(a.obj.metadata?.name ?? '')) (a.obj.spec as { loadBalancerSourceRanges: string[] }).loadBalancerSourceRanges = ['10.0.0.0/16'];
    }
  }), []);
});

test('a receiving cluster that exposes nothing, or a receiver with no tree, is reported', () => {
  const closed = changed((ts) => {
    const infra = ts.find((t) => t.cluster === 'infra')!;
    infra.objects = infra.objects.filter((a) => !(a.obj.kind === 'Service' && /receiver$/.test(a.obj.metadata?.name ?? '')));
  });
  assert.is(closed.length, 2, show(closed));
  assert.match(closed[0]!.message, 'has no LoadBalancer Service in namespace monitoring on port 8428');
  assert.match(closed[0]!.message, "give infra's config network.loadBalancerIps.monitoring and monitoring.receiveFrom");
  const nowhere = changed((ts) => void (settings(ts, 'apps').MONITORING_SHIP_TO = 'elsewhere'));
  assert.is(nowhere.length, 1, show(nowhere));
  assert.match(nowhere[0]!.message, 'which has no tree kubernetes/clusters/elsewhere');
  // A cluster that does not ship is not checked.
  assert.equal(changed((ts) => void delete settings(ts, 'apps').MONITORING_SHIP_TO), []);
});

test.run();
