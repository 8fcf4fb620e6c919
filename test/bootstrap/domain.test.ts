import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import * as kustomizations from '../../scripts/lib/flux/kustomizations.ts';
import * as fluxInstall from '../../scripts/lib/flux/install.ts';
import * as helm from '../../scripts/lib/helm/helm.ts';
import * as kubeconfig from '../../scripts/lib/kubernetes/kubeconfig.ts';
import * as kubeNodes from '../../scripts/lib/kubernetes/nodes.ts';
import * as kubectl from '../../scripts/lib/kubernetes/kubectl.ts';
import * as talosEtcd from '../../scripts/lib/talos/etcd.ts';
import * as machineConfig from '../../scripts/lib/talos/machine-config.ts';
import * as nodeHealth from '../../scripts/lib/talos/health.ts';
import * as talosctl from '../../scripts/lib/talos/talosctl.ts';
import * as talosModes from '../../scripts/lib/talos/modes.ts';
import { parseEtcdMemberTable } from '../../scripts/lib/talos/etcd.ts';
import * as gw from '../../scripts/lib/kubernetes/gateway-api.ts';
import * as tf from '../../scripts/lib/terraform/terraform.ts';
import { parsePveVersion, parseStorageContent } from '../../scripts/lib/proxmox/host.ts';
import { readInfrastructureOutputs } from '../../scripts/lib/terraform/layers.ts';
import type { Runner, RunOptions } from '../../scripts/lib/core/runner.ts';
import { Logger } from '../../scripts/lib/core/log.ts';

const config = (name: string) => parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid', name), 'utf8'), name);

// ---- talosctl -------------------------------------------------------------------------------------------------

test('talosctl gen config takes the rendered patches, the VIP endpoint and the install image', () => {
  const argv = machineConfig.genConfigArgv({
    clusterName: 'infra', vip: '10.0.10.10', secretsFile: '/s/secrets.yaml',
    commonPatch: 'talos/generated/infra/common.yaml', controlPlanePatch: 'talos/generated/infra/controlplane.yaml',
    workerPatch: 'talos/generated/infra/worker.yaml', installImage: 'factory.talos.dev/metal-installer/abc:v1.11.6',
    kubernetesVersion: '1.34.1', talosVersion: 'v1.11.6', outDir: '/s/talos',
  });
  assert.equal(argv.slice(0, 5), ['talosctl', 'gen', 'config', 'infra', 'https://10.0.10.10:6443']);
  const after = (flag: string) => argv[argv.indexOf(flag) + 1];
  assert.is(after('--with-secrets'), '/s/secrets.yaml');
  assert.is(after('--config-patch'), '@talos/generated/infra/common.yaml');
  assert.is(after('--config-patch-control-plane'), '@talos/generated/infra/controlplane.yaml');
  assert.is(after('--config-patch-worker'), '@talos/generated/infra/worker.yaml');
  assert.is(after('--install-image'), 'factory.talos.dev/metal-installer/abc:v1.11.6');
  assert.is(after('--talos-version'), 'v1.11');
  assert.is(after('-o'), '/s/talos');
  assert.ok(argv.includes('--force'));
});

test('talosctl apply-config is insecure (maintenance mode) with the per-node patch', () => {
  assert.equal(machineConfig.applyConfigInsecureArgv('10.0.0.5', '/s/worker.yaml', 'talos/generated/c/nodes/w1.yaml'), [
    'talosctl', 'apply-config', '--insecure', '--nodes', '10.0.0.5', '--file', '/s/worker.yaml', '--config-patch', '@talos/generated/c/nodes/w1.yaml',
  ]);
});

test('authenticated talosctl commands name the node as endpoint: never the VIP', () => {
  for (const argv of [talosEtcd.bootstrapArgv('10.0.0.1'), nodeHealth.serviceArgv('10.0.0.1', 'etcd'), talosEtcd.etcdMembersArgv('10.0.0.1'), machineConfig.kubeconfigArgv('10.0.0.1')]) {
    assert.equal(argv.slice(0, 5), ['talosctl', '--endpoints', '10.0.0.1', '--nodes', '10.0.0.1']);
  }
  const h = nodeHealth.healthArgv({ node: '10.0.0.1', controlPlanes: ['10.0.0.1'], workers: [], waitTimeout: '10m' });
  assert.not.ok(h.includes('--worker-nodes'), 'no empty --worker-nodes on a one-node cluster');
  assert.is(h[h.indexOf('--wait-timeout') + 1], '10m');
});

test('talosctl service/etcd members/resource stream parsers', () => {
  const service = 'NODE     10.0.10.11\nID       etcd\nSTATE    Preparing\nHEALTH   ?\nEVENTS   [Preparing]: Running pre state (10s ago)\n';
  assert.equal(nodeHealth.parseServiceInfo(service), { state: 'Preparing', health: '?' });
  const members = [
    'NODE         ID                 HOSTNAME     PEER URLS                 CLIENT URLS               LEARNER',
    '10.0.10.11   a49c021e76e707db   infra-cp-1   https://10.0.10.11:2380   https://10.0.10.11:2379   false',
    '10.0.10.11   b59c021e76e707db   infra-cp-2   https://10.0.10.12:2380   https://10.0.10.12:2379   false',
  ].join('\n');
  const hostnames = (out: string) => parseEtcdMemberTable(out).map((m) => m.hostname);
  assert.equal(hostnames(members), ['infra-cp-1', 'infra-cp-2']);
  assert.equal(hostnames('ID    HOSTNAME   PEER URLS        CLIENT URLS      LEARNER\nabc   cp1        https://x:2380   https://x:2379   false\n'), ['cp1']);
  assert.equal(hostnames(''), []);
  const stream = '{\n    "node": "10.0.0.1",\n    "spec": {"stage": "running", "x": "a}{b"}\n}\n{\n    "node": "10.0.0.2",\n    "spec": {"stage": "booting"}\n}\n';
  assert.is(talosctl.parseResourceStream(stream).length, 2);
  assert.is(talosModes.machineStage(stream), 'running');
});

test('talosctl bootstrap errors: already bootstrapped vs not ready yet vs real failure', () => {
  assert.ok(talosEtcd.isAlreadyBootstrapped('error executing bootstrap: rpc error: code = AlreadyExists desc = etcd data directory is not empty'));
  assert.ok(talosEtcd.isBootstrapNotReadyYet('rpc error: code = FailedPrecondition desc = bootstrap is not available yet'));
  assert.not.ok(talosEtcd.isAlreadyBootstrapped('rpc error: code = FailedPrecondition desc = bootstrap can only be performed on a control plane node'));
  assert.not.ok(talosEtcd.isBootstrapNotReadyYet('rpc error: code = FailedPrecondition desc = bootstrap can only be performed on a control plane node'));
  assert.is(talosctl.talosMinor('v1.11.6'), 'v1.11');
  assert.is(talosctl.parseClientVersion('Client:\n\tTalos v1.11.6\n'), 'v1.11.6');
});

// ---- terraform ------------------------------------------------------------------------------------------------

test('terraform argv: -chdir per layer, workspace per cluster, plan -out then apply of that plan', () => {
  assert.equal(tf.workspaceSelectArgv('01-infrastructure', 'infra'), ['terraform', '-chdir=terraform/01-infrastructure', 'workspace', 'select', '-or-create', 'infra']);
  const plan = tf.planArgv('00-persistent-auth', '/r/terraform/generated/infra/00-persistent-auth.tfvars.json', '/s/p.tfplan');
  assert.ok(plan.includes('-detailed-exitcode') && plan.includes('-input=false'));
  assert.ok(plan.includes('-var-file=/r/terraform/generated/infra/00-persistent-auth.tfvars.json'));
  assert.ok(plan.includes('-out=/s/p.tfplan'));
  assert.equal(tf.applyPlanArgv('00-persistent-auth', '/s/p.tfplan').slice(-1), ['/s/p.tfplan']);
  assert.is(tf.planOutcome(0), 'no-changes');
  assert.is(tf.planOutcome(2), 'changes');
  assert.is(tf.planOutcome(1), 'error');
});

test('terraform outputs: values unwrapped; a missing output is named', () => {
  const out = tf.parseOutputs('{"installer_image":{"sensitive":false,"type":"string","value":"factory.talos.dev/metal-installer/abc:v1.11.6"},"schematic_id":{"sensitive":false,"type":"string","value":"abc"},"node_ips":{"sensitive":false,"type":["map","string"],"value":{"cp1":"10.0.0.1"}}}');
  assert.equal(tf.infrastructureOutputs(out), { schematicId: 'abc', installerImage: 'factory.talos.dev/metal-installer/abc:v1.11.6', nodeIps: { cp1: '10.0.0.1' } });
  assert.throws(() => tf.infrastructureOutputs({ schematic_id: 'abc' }), /no output "installer_image"/);
});

// ---- helm / cilium --------------------------------------------------------------------------------------------

test('cilium values turn on the Gateway controller, L2 announcements with a rate limit sized to the pool, and Hubble', () => {
  const five = helm.ciliumValues(config('five-node.yaml'));
  assert.equal(five.gatewayAPI, { enabled: true });
  assert.equal(five.l2announcements, { enabled: true, leaseDuration: '15s', leaseRenewDeadline: '5s', leaseRetryPeriod: '2s' });
  assert.equal(five.externalIPs, { enabled: true });
  // /27: 32 addresses, each a Lease renewed every 5 s → 7 QPS on top of the agent's own 10.
  assert.equal(five.k8sClientRateLimit, { qps: 17, burst: 34 });
  // Hubble's metrics only for the monitoring section's scrapes (the example has it on).
  const { metrics, ...hubble } = five.hubble as Record<string, unknown>;
  assert.equal(hubble, { enabled: true, relay: { enabled: true }, ui: { enabled: true } });
  assert.ok(Array.isArray((metrics as { enabled?: unknown }).enabled));
  assert.is((helm.ciliumValues(config('one-node.yaml')).hubble as Record<string, unknown>).metrics, undefined);
});

test('Gateway API CRDs: one kubectl call for the release Cilium 1.18 needs; present ones at another version count as missing', () => {
  const argv = gw.applyGatewayApiCrdsArgv();
  assert.equal(argv.slice(0, 3), ['kubectl', 'apply', '--server-side']);
  assert.is(argv.filter((a) => a === '-f').length, 6);
  assert.ok(argv.includes('https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.3.0/config/crd/experimental/gateway.networking.k8s.io_tlsroutes.yaml'));
  const crd = (plural: string, v: string) => ({ metadata: { name: `${plural}.gateway.networking.k8s.io`, annotations: { 'gateway.networking.k8s.io/bundle-version': v } } });
  const all = gw.GATEWAY_API_CRDS.map((c) => crd(c.plural, 'v1.3.0'));
  assert.equal(gw.missingGatewayApiCrds(JSON.stringify({ kind: 'List', items: all })), []);
  assert.equal(gw.missingGatewayApiCrds(''), gw.GATEWAY_API_CRDS.map((c) => gw.gatewayApiCrdName(c.plural)));
  const old = [...all.slice(0, 5), crd('tlsroutes', 'v1.2.1')];
  assert.equal(gw.missingGatewayApiCrds(JSON.stringify({ kind: 'List', items: old })), ['tlsroutes.gateway.networking.k8s.io']);
});

test('cilium values are the Talos ones and a pure function of the config', () => {
  const five = helm.ciliumValues(config('five-node.yaml'));
  assert.equal(five, helm.ciliumValues(config('five-node.yaml')));
  assert.is(five.kubeProxyReplacement, true);
  assert.is(five.k8sServiceHost, 'localhost');
  assert.is(five.k8sServicePort, 7445);
  assert.equal(five.cgroup, { autoMount: { enabled: false }, hostRoot: '/sys/fs/cgroup' });
  const caps = (five.securityContext as { capabilities: { ciliumAgent: string[] } }).capabilities.ciliumAgent;
  assert.ok(caps.includes('SYS_ADMIN') && !caps.includes('SYS_MODULE'));
  assert.equal((helm.ciliumValues(config('one-node.yaml')).operator as { replicas: number }).replicas, 1);
  const argv = helm.upgradeInstallArgv(helm.ciliumRelease(config('one-node.yaml'), '/s/v.yaml'));
  assert.equal(argv.slice(0, 5), ['helm', 'upgrade', '--install', 'cilium', 'cilium']);
  assert.is(argv[argv.indexOf('--repo') + 1], 'https://helm.cilium.io');
  assert.is(argv[argv.indexOf('--version') + 1], '1.18.3');
  assert.is(argv[argv.indexOf('--namespace') + 1], 'kube-system');
});

test('helm list/values parsing decides whether Cilium is current', () => {
  const list = helm.parseList('[{"name":"cilium","namespace":"kube-system","revision":"1","status":"deployed","chart":"cilium-1.18.3","app_version":"1.18.3"}]');
  assert.is(helm.chartVersion(list[0]!.chart, 'cilium'), '1.18.3');
  assert.is(helm.chartVersion('other-1.0.0', 'cilium'), undefined);
  assert.ok(helm.sameValues({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }));
  assert.not.ok(helm.sameValues({ a: 1 }, { a: 2 }));
  assert.equal(helm.parseList(''), []);
});

// ---- kubectl --------------------------------------------------------------------------------------------------

test('node readiness parsing and summary', () => {
  const nodes = kubeNodes.parseNodes(JSON.stringify({
    items: [
      { metadata: { name: 'cp1' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
      { metadata: { name: 'w1' }, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }] } },
    ],
  }));
  assert.equal(nodes, [{ name: 'cp1', ready: true }, { name: 'w1', ready: false, reason: 'KubeletNotReady' }]);
  assert.is(kubeNodes.readinessSummary(nodes, ['cp1', 'w1', 'w2']), '1/3 nodes Ready (not yet: w1, w2)');
});

test('kubeconfig server switch keeps everything else', () => {
  const kc = 'apiVersion: v1\nkind: Config\nclusters:\n  - name: infra\n    cluster:\n      server: https://10.0.10.10:6443\n      certificate-authority-data: QUJD\ncontexts: []\n';
  const first = kubeconfig.withKubeconfigServer(kc, 'https://10.0.10.11:6443');
  assert.is(kubeconfig.kubeconfigServer(first), 'https://10.0.10.11:6443');
  assert.match(first, /certificate-authority-data: QUJD/);
  assert.is(kubeconfig.kubeconfigServer(kubeconfig.withKubeconfigServer(first, 'https://10.0.10.10:6443')), 'https://10.0.10.10:6443');
  assert.throws(() => kubeconfig.withKubeconfigServer('apiVersion: v1\n', 'x'), /no clusters/);
  assert.equal(kubectl.readyzArgv('https://10.0.10.10:6443').slice(0, 3), ['kubectl', '--server', 'https://10.0.10.10:6443']);
});

// ---- flux -----------------------------------------------------------------------------------------------------

test('flux bootstrap github argv, with --hostname for GitHub Enterprise', () => {
  const argv = fluxInstall.bootstrapGithubArgv({ owner: 'me', repository: 'home-ops', branch: 'main', path: 'kubernetes/clusters/infra', personal: true, version: 'v2.7.3' });
  assert.equal(argv.slice(0, 3), ['flux', 'bootstrap', 'github']);
  assert.ok(argv.includes('--owner=me') && argv.includes('--personal') && argv.includes('--path=kubernetes/clusters/infra') && argv.includes('--version=v2.7.3'));
  assert.not.ok(argv.some((a) => a.startsWith('--hostname')));
  assert.is(fluxInstall.githubHostname('https://ghe.example.com/api/v3'), 'ghe.example.com');
  assert.is(fluxInstall.githubHostname('https://api.github.com'), undefined);
  assert.is(fluxInstall.githubHostname(undefined), undefined);
});

test('kustomizations: parsed, ordered by dependsOn, deferred by label', () => {
  const list = {
    items: [
      { metadata: { name: 'apps', namespace: 'flux-system' }, spec: { dependsOn: [{ name: 'infrastructure' }] }, status: { conditions: [{ type: 'Ready', status: 'False', reason: 'DependencyNotReady', message: "dependency 'flux-system/infrastructure' is not ready" }] } },
      { metadata: { name: 'storage', namespace: 'flux-system', labels: { [kustomizations.DEFER_LABEL]: 'verify' } }, spec: { dependsOn: [{ name: 'flux-system' }] } },
      { metadata: { name: 'infrastructure', namespace: 'flux-system' }, spec: { dependsOn: [{ name: 'flux-system' }] }, status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'Progressing' }] } },
      { metadata: { name: 'flux-system', namespace: 'flux-system' }, status: { conditions: [{ type: 'Ready', status: 'True', message: 'Applied revision: main@sha1:abc' }] } },
    ],
  };
  const ks = kustomizations.dependencyOrder(kustomizations.parseKustomizations(JSON.stringify(list)));
  assert.equal(ks.map((x) => x.name), ['flux-system', 'infrastructure', 'apps', 'storage']);
  assert.is(ks.find((x) => x.name === 'storage')!.deferred, true);
  assert.is(ks.find((x) => x.name === 'storage')!.message, 'waiting to be reconciled');
  assert.is(kustomizations.describe(ks[0]!), 'flux-system: Ready (Applied revision: main@sha1:abc)');
  // A cycle does not hang the ordering; its members come last.
  const cyc = kustomizations.dependencyOrder([{ id: 'a', dependsOn: ['b'] }, { id: 'b', dependsOn: ['a'] }, { id: 'c', dependsOn: [] }]);
  assert.equal(cyc.map((x) => x.id), ['c', 'a', 'b']);
});

test('flux sync matches our repository, branch and path only', () => {
  const repo = { spec: { url: 'ssh://git@github.com/Me/home-ops', ref: { branch: 'main' } } };
  const ks = { spec: { path: './kubernetes/clusters/infra' } };
  const want = { owner: 'me', repository: 'home-ops', branch: 'main', path: 'kubernetes/clusters/infra' };
  assert.ok(fluxInstall.syncMatches(repo, ks, want));
  assert.not.ok(fluxInstall.syncMatches(repo, ks, { ...want, branch: 'dev' }));
  assert.not.ok(fluxInstall.syncMatches(repo, { spec: { path: './other' } }, want));
  assert.not.ok(fluxInstall.syncMatches(undefined, ks, want));
});


test('terraform output of 01-infrastructure is read in the cluster\'s own workspace (TF_WORKSPACE), whoever asks', async () => {
  const c = config('five-node.yaml');
  const seen: { argv: string[]; opts: RunOptions }[] = [];
  const runner = {
    dryRun: false,
    planOnly: () => false,
    probe: async (argv: string[], opts: RunOptions) => {
      seen.push({ argv, opts });
      return { argv, exitCode: 0, stdout: '{}', stderr: '', durationMs: 0, ok: true, dryRun: false };
    },
  } as unknown as Runner;
  const res = await readInfrastructureOutputs({ runner, log: new Logger({ level: 'error' }), secrets: { PROXMOX_VE_API_TOKEN: 'tok' }, config: c });
  assert.ok(res.ok);
  assert.equal(seen[0]!.argv, tf.outputArgv('01-infrastructure'));
  assert.is(seen[0]!.opts.env?.TF_WORKSPACE, c.cluster.name);
  assert.is(seen[0]!.opts.env?.PROXMOX_VE_API_TOKEN, 'tok');
});

test('labels a kubelet may not set (NodeRestriction): role and restricted namespaces; topology and node.kubernetes.io are fine', () => {
  for (const l of ['node-role.kubernetes.io/worker', 'node-restriction.kubernetes.io/x', 'kubernetes.io/foo', 'foo.k8s.io/bar', 'example.node-restriction.kubernetes.io/y']) {
    assert.ok(kubeNodes.kubeletMayNotSet(l), l);
  }
  for (const l of ['topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'node.kubernetes.io/instance-type', 'node.kubernetes.io/pool', 'kubelet.kubernetes.io/x', 'kubernetes.io/hostname', 'example.com/role', 'plain']) {
    assert.not.ok(kubeNodes.kubeletMayNotSet(l), l);
  }
  const list = JSON.stringify({ items: [{ metadata: { name: 'w1', labels: { a: '1' } } }, { metadata: { name: 'w2', labels: { [kubeNodes.WORKER_ROLE_LABEL]: '' } } }] });
  assert.equal(kubeNodes.missingLabel(kubeNodes.nodeLabels(list), ['w1', 'w2', 'w3'], kubeNodes.WORKER_ROLE_LABEL), ['w1']);
  assert.equal(kubeNodes.labelNodeArgv('w1', kubeNodes.WORKER_ROLE_LABEL), ['kubectl', 'label', 'node', 'w1', 'node-role.kubernetes.io/worker=']);
});

test('Proxmox host facts: pveversion line and storage content list', () => {
  assert.equal(parsePveVersion('pve-manager/8.4.1/2a5fa54a8503f96d (running kernel: 6.8.12-9-pve)\n'), [8, 4, 1]);
  assert.equal(parsePveVersion('pve-manager/9.1/abc'), [9, 1, 0]);
  assert.is(parsePveVersion('bash: pveversion: command not found'), undefined);
  assert.equal(parseStorageContent('{"content":"iso,vztmpl, backup","storage":"local"}'), ['iso', 'vztmpl', 'backup']);
  assert.equal(parseStorageContent('{"storage":"x"}'), []);
});

test('machine config drift: versions read from the file, patches and VIP from the record', () => {
  const file = 'machine:\n  kubelet:\n    image: ghcr.io/siderolabs/kubelet:v1.34.0\n  install:\n    image: factory.talos.dev/metal-installer/abc:v1.11.6\n';
  assert.equal(machineConfig.machineConfigVersions(file), { kubernetes: '1.34.0', talos: 'v1.11.6' });
  const want = { clusterName: 'c', vip: '10.0.0.10', talosVersion: 'v1.11.6', kubernetesVersion: '1.34.1', patches: { 'p.yaml': 'a' } };
  assert.equal(machineConfig.genConfigDrift(want, { text: file }), ['generated for Kubernetes 1.34.0, versions.kubernetes is 1.34.1']);
  const record = { clusterName: 'c', vip: '10.0.0.9', talosVersion: 'v1.11.6', kubernetesVersion: '1.34.1', installImage: 'x', patches: { 'p.yaml': machineConfig.sha256('b') } };
  assert.equal(machineConfig.genConfigDrift(want, { text: file, record }), ['generated for the VIP 10.0.0.9, network.vip is 10.0.0.10', 'p.yaml changed since']);
  assert.equal(machineConfig.genConfigDrift({ ...want, vip: '10.0.0.9', patches: { 'p.yaml': 'b' } }, { text: file, record }), []);
});

test.run();
