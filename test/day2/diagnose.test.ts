import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { KustomizationState } from '../../scripts/lib/flux/kustomizations.ts';
import { diagnose, type ClusterFacts, type NodeFacts } from '../../scripts/lib/recovery/diagnose.ts';
import { renderReport, renderSummary } from '../../scripts/lib/recovery/report.ts';

// The diagnosis rules against hand-made probe results: one healthy cluster, then each fault the lab can inject.

const CPS = ['cp-1', 'cp-2', 'cp-3'];
const WORKERS = ['w-1', 'w-2'];

function ks(name: string, dependsOn: string[] = [], state: Partial<KustomizationState> = {}): KustomizationState {
  return { id: `flux-system/${name}`, name, dependsOn: dependsOn.map((d) => `flux-system/${d}`), ready: 'True', suspended: false, deferred: false, ...state };
}

function healthy(): ClusterFacts {
  const nodes: NodeFacts[] = [
    ...CPS.map((name, i) => ({ name, ip: `10.0.0.1${i + 1}`, role: 'controlplane' as const, talos: 'configured' as const, version: 'v1.11.6', etcd: { state: 'Running', health: 'OK' }, api: true })),
    ...WORKERS.map((name, i) => ({ name, ip: `10.0.0.2${i + 1}`, role: 'worker' as const, talos: 'configured' as const, version: 'v1.11.6' })),
  ];
  return {
    cluster: 'lab',
    vip: '10.0.0.10',
    nodes,
    etcdMembers: CPS.map((h, i) => ({ id: `a${i}c021e76e707db`, hostname: h, learner: false })),
    etcdFrom: 'cp-1',
    vipApi: true,
    apiVia: 'vip',
    k8sNodes: [...CPS, ...WORKERS].map((name) => ({ name, ready: true })),
    pods: { total: 20, problems: [] },
    cilium: { daemonSet: { desired: 5, ready: 5, available: 5 }, helmStatus: 'deployed (cilium-1.18.3)' },
    kustomizations: [ks('flux-system'), ks('infrastructure', ['flux-system']), ks('apps', ['infrastructure'])],
    fluxControllersDown: [],
  };
}

function first(f: ClusterFacts) {
  const [finding] = diagnose(f);
  assert.ok(finding, 'always at least one finding');
  return finding!;
}

test('a healthy cluster: one "healthy" finding pointing at talosctl health', () => {
  const all = diagnose(healthy());
  assert.is(all.length, 1);
  assert.is(all[0]!.id, 'healthy');
  assert.match(all[0]!.next[0]!, /talosctl -e 10\.0\.0\.11 -n 10\.0\.0\.11 health/);
});

test('VIP down: the API answers on the control planes but not the VIP → kubeconfig sub-action', () => {
  const f = healthy();
  f.vipApi = false;
  f.apiVia = '10.0.0.11';
  const d = first(f);
  assert.is(d.id, 'vip-down');
  assert.match(d.title, /10\.0\.0\.10/);
  assert.is(d.next[0], 'task cluster:emergency-recovery -- kubeconfig   (kubeconfig pointed at 10.0.0.11 until the VIP is back)');
  assert.ok(d.next.some((n) => n.includes('kubeconfig --vip')));
});

test('etcd member lost (quorum intact): names the node and the rejoin sub-action', () => {
  const f = healthy();
  f.etcdMembers = f.etcdMembers!.filter((m) => m.hostname !== 'cp-2');
  f.nodes.find((n) => n.name === 'cp-2')!.etcd = { state: 'Failed', health: 'Fail' };
  const d = first(f);
  assert.is(d.id, 'etcd-member-lost');
  assert.match(d.title, /cp-2/);
  assert.match(d.title, /quorum intact: 2\/3/);
  assert.is(d.next[0], 'task cluster:emergency-recovery -- etcd:rejoin --node cp-2');
});

test('etcd quorum lost: two of three members down → restore from a snapshot', () => {
  const f = healthy();
  for (const name of ['cp-2', 'cp-3']) f.nodes.find((n) => n.name === name)!.etcd = { state: 'Failed', health: 'Fail' };
  delete f.etcdMembers; // the member list needs quorum
  for (const n of f.nodes) if (n.role === 'controlplane') n.api = false;
  f.vipApi = false;
  delete f.apiVia;
  delete f.k8sNodes;
  delete f.kustomizations;
  delete f.cilium;
  delete f.pods;
  const all = diagnose(f);
  assert.is(all[0]!.id, 'etcd-quorum-lost');
  assert.match(all[0]!.next[0]!, /etcd:restore/);
  assert.not.ok(all.some((x) => x.id === 'api-down'), 'the API being down is a symptom of the lost quorum, not a second fault');
});

test('CNI gone: no Cilium daemonset, nodes NotReady with NetworkPluginNotReady → cilium sub-action', () => {
  const f = healthy();
  f.cilium = {};
  f.k8sNodes = f.k8sNodes!.map((n) => ({ ...n, ready: false, reason: 'KubeletNotReady: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady' }));
  f.kustomizations = f.kustomizations!.map((k) => ({ ...k, ready: 'Unknown' as const, reason: 'Progressing' }));
  const d = first(f);
  assert.is(d.id, 'cni-gone');
  assert.is(d.next[0], 'task cluster:emergency-recovery -- cilium');
  assert.ok(d.evidence.includes('daemonset kube-system/cilium: absent'));
  assert.ok(d.evidence.includes('helm release cilium: absent'));
});

test('nodes NotReady for another reason are not blamed on the CNI', () => {
  const f = healthy();
  f.k8sNodes = f.k8sNodes!.map((n) => (n.name === 'w-2' ? { ...n, ready: false, reason: 'NodeStatusUnknown: Kubelet stopped posting node status.' } : n));
  const d = first(f);
  assert.is(d.id, 'nodes-not-ready');
  assert.match(d.next[0]!, /talosctl -e 10\.0\.0\.22 -n 10\.0\.0\.22 service kubelet/);
});

test('Flux stuck: the root cause is named, not the dependants waiting for it', () => {
  const f = healthy();
  f.kustomizations = [
    ks('flux-system'),
    ks('infrastructure', ['flux-system'], { ready: 'False', reason: 'HealthCheckFailed', message: "health check failed after 4m0s: timeout waiting for: [HelmRelease/flux-system/infrastructure status: 'InProgress']" }),
    ks('apps', ['infrastructure'], { ready: 'False', reason: 'DependencyNotReady', message: "dependency 'flux-system/infrastructure' is not ready" }),
  ];
  const d = first(f);
  assert.is(d.id, 'flux-stuck');
  assert.match(d.title, /flux-system\/infrastructure is stuck \(1 more wait for it\)/);
  assert.is(d.next[0], 'flux logs --kind=Kustomization --name=infrastructure --namespace=flux-system');
  assert.ok(d.next.some((n) => n.includes('flux reconcile kustomization infrastructure --namespace flux-system --with-source')));
});

test('suspended Kustomizations are reported with resume-all, and are not "stuck"', () => {
  const f = healthy();
  f.kustomizations = f.kustomizations!.map((k) => ({ ...k, suspended: true, ready: 'Unknown' as const }));
  const all = diagnose(f);
  assert.equal(all.map((x) => x.id), ['flux-suspended']);
  assert.is(all[0]!.next[0], 'task cluster:emergency-recovery -- flux resume-all');
});

test('nodes in maintenance mode (after a reset) → task bootstrap; unreachable nodes come first', () => {
  const f = healthy();
  for (const n of f.nodes) {
    n.talos = 'maintenance';
    delete n.etcd;
    delete n.api;
  }
  f.vipApi = false;
  for (const k of ['etcdMembers', 'apiVia', 'k8sNodes', 'pods', 'cilium', 'kustomizations'] as const) delete f[k];
  const d = first(f);
  assert.is(d.id, 'cluster-reset');
  assert.is(d.next[0], 'task bootstrap');

  const g = healthy();
  g.nodes.find((n) => n.name === 'w-1')!.talos = 'down';
  assert.is(first(g).id, 'nodes-down');
  assert.match(first(g).title, /w-1/);
});

test('report and summary: the likely fault first, every probe with its command and output', () => {
  const f = healthy();
  f.vipApi = false;
  const findings = diagnose(f);
  const md = renderReport(f, findings, [{ title: 'API through the VIP', command: 'kubectl --server https://10.0.0.10:6443 get --raw /readyz', exitCode: 1, output: 'connection refused', ms: 12 }], new Date('2026-01-01T00:00:00Z'));
  assert.match(md, /^# Emergency recovery report: cluster lab/);
  assert.match(md, /## Likely fault: the API VIP 10\.0\.0\.10 does not answer/);
  assert.match(md, /`kubectl --server https:\/\/10\.0\.0\.10:6443 get --raw \/readyz`/);
  assert.match(md, /connection refused/);
  assert.match(md, /\| cp-1 \| 10\.0\.0\.11 \| controlplane \| configured \| v1\.11\.6 \| Running\/OK \| ready \|/);
  const summary = renderSummary(findings, '/tmp/r.md');
  assert.match(summary, /likely fault: .*\[vip-down\]/);
  assert.match(summary, /report: \/tmp\/r\.md/);
});

test.run();
