import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fluxSuspend from '../../scripts/lib/flux/suspend.ts';
import * as kustomizations from '../../scripts/lib/flux/kustomizations.ts';
import type { KustomizationState } from '../../scripts/lib/flux/kustomizations.ts';
import * as workloads from '../../scripts/lib/kubernetes/workloads.ts';
import * as kubeNodes from '../../scripts/lib/kubernetes/nodes.ts';
import * as kubectl from '../../scripts/lib/kubernetes/kubectl.ts';
import * as talosEtcd from '../../scripts/lib/talos/etcd.ts';
import * as talosUpgrade from '../../scripts/lib/talos/upgrade.ts';
import * as machineConfig from '../../scripts/lib/talos/machine-config.ts';
import * as talosctl from '../../scripts/lib/talos/talosctl.ts';
import * as nodeHealth from '../../scripts/lib/talos/health.ts';
import * as talosReset from '../../scripts/lib/talos/reset.ts';
import { parseAction } from '../../scripts/lib/recovery/run.ts';

// argv builders and output parsers of the day-2 commands (shapes from tool-facts §3 and §7).

const AT = ['talosctl', '--endpoints', '10.0.0.1', '--nodes', '10.0.0.1'];

test('reset wipes only STATE and EPHEMERAL by default, always reboots, never waits inside talosctl', () => {
  assert.equal(talosReset.resetArgv({ ip: '10.0.0.1', wipe: 'state-ephemeral', graceful: false }), [
    ...AT, 'reset', '--system-labels-to-wipe', 'STATE', '--system-labels-to-wipe', 'EPHEMERAL', '--graceful=false', '--reboot', '--wait=false',
  ]);
  assert.equal(talosReset.resetArgv({ ip: '10.0.0.1', wipe: 'ephemeral', graceful: false }).slice(5, 8), ['reset', '--system-labels-to-wipe', 'EPHEMERAL']);
  const full = talosReset.resetArgv({ ip: '10.0.0.1', wipe: 'all', graceful: true });
  assert.ok(full.includes('--wipe-mode') && !full.includes('--system-labels-to-wipe'));
  assert.ok(full.includes('--graceful=true'));
});

test('etcd, upgrade and apply argv name the node as endpoint (never the VIP)', () => {
  assert.equal(talosEtcd.etcdSnapshotArgv('10.0.0.1', '/s/x.db'), [...AT, 'etcd', 'snapshot', '/s/x.db']);
  assert.equal(talosEtcd.bootstrapRecoverArgv('10.0.0.1', '/s/x.db'), [...AT, 'bootstrap', '--recover-from=/s/x.db']);
  assert.equal(talosEtcd.bootstrapRecoverArgv('10.0.0.1', '/s/db', true).slice(-1), ['--recover-skip-hash-check']);
  assert.equal(talosEtcd.etcdRemoveMemberArgv('10.0.0.1', 'a49c021e76e707db'), [...AT, 'etcd', 'remove-member', 'a49c021e76e707db']);
  assert.equal(talosUpgrade.upgradeArgv('10.0.0.1', 'factory.talos.dev/metal-installer/abc:v1.11.6'), [...AT, 'upgrade', '--image', 'factory.talos.dev/metal-installer/abc:v1.11.6', '--wait=false']);
  assert.equal(talosUpgrade.upgradeK8sArgv('10.0.0.1', '1.34.2', true), [...AT, 'upgrade-k8s', '--to', '1.34.2', '--dry-run']);
  assert.equal(machineConfig.applyConfigArgv({ ip: '10.0.0.1', file: '/s/worker.yaml', patch: 'talos/generated/c/nodes/w.yaml', mode: 'auto' }), [
    ...AT, 'apply-config', '--file', '/s/worker.yaml', '--config-patch', '@talos/generated/c/nodes/w.yaml', '--mode', 'auto',
  ]);
});

test('installer image: schematic from Terraform, version from the config, host from the factory URL', () => {
  const id = 'a'.repeat(64);
  assert.is(talosUpgrade.installerImage('https://factory.talos.dev', id, 'v1.11.6'), `factory.talos.dev/metal-installer/${id}:v1.11.6`);
  assert.is(talosUpgrade.installerImage('https://factory.example.org:8443/', id, 'v1.12.0'), `factory.example.org:8443/metal-installer/${id}:v1.12.0`);
  assert.throws(() => talosUpgrade.installerImage('https://factory.talos.dev', 'abc', 'v1.11.6'), /schematic/);
  assert.throws(() => talosUpgrade.installerImage('https://factory.talos.dev', id, '1.11.6'), /Talos version/);
  assert.is(talosUpgrade.imageTag(`factory.talos.dev/metal-installer/${id}:v1.11.5`), 'v1.11.5');
  assert.is(talosUpgrade.imageTag('registry:5000/installer'), undefined);
});

test('etcd members / status / service table / version / snapshot parsers', () => {
  const members = [
    'NODE         ID                 HOSTNAME     PEER URLS                 CLIENT URLS               LEARNER',
    '10.0.10.11   a49c021e76e707db   infra-cp-1   https://10.0.10.11:2380   https://10.0.10.11:2379   false',
    '10.0.10.11   b59c021e76e707db   infra-cp-2   https://10.0.10.12:2380   https://10.0.10.12:2379   true',
  ].join('\n');
  assert.equal(talosEtcd.parseEtcdMemberTable(members), [
    { id: 'a49c021e76e707db', hostname: 'infra-cp-1', learner: false },
    { id: 'b59c021e76e707db', hostname: 'infra-cp-2', learner: true },
  ]);
  assert.equal(talosEtcd.parseEtcdMemberTable(''), []);
  // A learner that has not started: empty HOSTNAME and CLIENT URLS cells (talosctl's tabwriter still pads them).
  const learner = [...members.split('\n').slice(0, 2), '10.0.10.11   c69c021e76e707db                https://10.0.10.13:2380                             true'].join('\n');
  assert.equal(talosEtcd.parseEtcdMemberTable(learner), [
    { id: 'a49c021e76e707db', hostname: 'infra-cp-1', learner: false },
    { id: 'c69c021e76e707db', hostname: '', learner: true },
  ]);
  const status = [
    'NODE         MEMBER             DB SIZE   IN USE            LEADER             RAFT INDEX   RAFT TERM   RAFT APPLIED INDEX   LEARNER   PROTOCOL   STORAGE   ERRORS',
    '10.0.10.11   a49c021e76e707db   4.5 MB    4.5 MB (100.00%)   a49c021e76e707db   56065        4           56065                false     3.6.0      3.6.0     ',
    '10.0.10.12   b59c021e76e707db   4.5 MB    4.5 MB (100.00%)   a49c021e76e707db   56065        4           56065                false     3.6.0      3.6.0     etcdserver: no leader',
  ].join('\n');
  assert.equal(talosEtcd.parseEtcdStatus(status), [
    { node: '10.0.10.11', member: 'a49c021e76e707db', leader: 'a49c021e76e707db', errors: '' },
    { node: '10.0.10.12', member: 'b59c021e76e707db', leader: 'a49c021e76e707db', errors: 'etcdserver: no leader' },
  ]);
  // Member ids are hex of any length (no zero padding).
  const short = 'NODE         MEMBER            DB SIZE   IN USE             LEADER            RAFT INDEX   RAFT TERM   RAFT APPLIED INDEX   LEARNER   PROTOCOL   STORAGE   ERRORS\n10.0.10.11   35ec08c4f061aa5   4.1 MB    4.1 MB (100.00%)   35ec08c4f061aa5   1001         2           1001                 false     3.6        3.6\n';
  assert.equal(talosEtcd.parseEtcdStatus(short), [{ node: '10.0.10.11', member: '35ec08c4f061aa5', leader: '35ec08c4f061aa5', errors: '' }]);
  const services = [
    'NODE         SERVICE      STATE     HEALTH   LAST CHANGE   LAST EVENT',
    '10.0.10.11   apid         Running   OK       1h2m ago      Health check successful',
    '10.0.10.11   etcd         Failed    Fail     5m ago        Failed to run: exit status 1',
    '10.0.10.11   kubelet      Running   OK       1h1m ago      Health check successful',
  ].join('\n');
  assert.equal(nodeHealth.parseServiceTable(services)[1], { node: '10.0.10.11', service: 'etcd', state: 'Failed', health: 'Fail' });
  const version = 'Client:\n\tTag:         v1.11.6\n\tSHA:         abc\nServer:\n\tNODE:        10.0.10.11\n\tTag:         v1.11.5\n\tSHA:         def\n';
  assert.is(talosctl.parseServerVersion(version), 'v1.11.5');
  assert.is(talosctl.parseServerVersion('Client:\n\tTag: v1.11.6\n'), undefined);
  assert.equal(talosEtcd.parseSnapshotSaved('etcd snapshot saved to "db.snapshot" (2015264 bytes)\nsnapshot info: hash c25fd181, revision 4193'), { file: 'db.snapshot', bytes: 2015264 });
  assert.is(talosEtcd.parseSnapshotSaved('error'), undefined);
});

test('flux suspend/resume argv; suspendable objects grouped per kind and namespace', () => {
  assert.equal(fluxSuspend.suspendArgv('kustomization', ['a', 'b'], 'flux-system'), ['flux', 'suspend', 'kustomization', 'a', 'b', '--namespace', 'flux-system']);
  assert.equal(fluxSuspend.resumeArgv('helmrelease', ['x'], 'apps'), ['flux', 'resume', 'helmrelease', 'x', '--namespace', 'apps', '--wait=false']);
  const list = JSON.stringify({
    items: [
      { metadata: { name: 'apps', namespace: 'flux-system' }, spec: {} },
      { metadata: { name: 'infra', namespace: 'flux-system' }, spec: { suspend: true } },
      { metadata: { name: 'team', namespace: 'team-a' }, spec: {} },
    ],
  });
  const objs = fluxSuspend.parseSuspendable('kustomization', list);
  assert.equal(objs.map((o) => `${o.namespace}/${o.name}:${o.suspended}`), ['flux-system/apps:false', 'flux-system/infra:true', 'team-a/team:false']);
  const groups = fluxSuspend.groupByNamespace([...objs, { kind: 'helmrelease', namespace: 'flux-system', name: 'podinfo', suspended: false }]);
  assert.equal(groups, [
    { kind: 'kustomization', namespace: 'flux-system', names: ['apps', 'infra'] },
    { kind: 'kustomization', namespace: 'team-a', names: ['team'] },
    { kind: 'helmrelease', namespace: 'flux-system', names: ['podinfo'] },
  ]);
});

test('flux root causes exclude dependants and suspended Kustomizations', () => {
  const k = (name: string, ready: KustomizationState['ready'], dependsOn: string[] = [], extra: Partial<KustomizationState> = {}): KustomizationState => ({
    id: `flux-system/${name}`, name, dependsOn: dependsOn.map((d) => `flux-system/${d}`), ready, suspended: false, deferred: false, ...extra,
  });
  const causes = kustomizations.rootCauses([
    k('flux-system', 'True'),
    k('infra', 'False', ['flux-system'], { reason: 'BuildFailed' }),
    k('apps', 'False', ['infra'], { reason: 'DependencyNotReady' }),
    k('paused', 'False', [], { suspended: true }),
  ]);
  assert.equal(causes.map((c) => c.name), ['infra']);
});

test('kubectl day-2 reads: --server insertion, pods, daemonset, deployments, kubelet versions', () => {
  assert.equal(kubectl.withServer(['kubectl', 'get', 'nodes'], 'https://10.0.0.1:6443'), ['kubectl', '--server', 'https://10.0.0.1:6443', 'get', 'nodes']);
  assert.equal(kubectl.withServer(['kubectl', 'get', 'nodes'], undefined), ['kubectl', 'get', 'nodes']);
  const pods = JSON.stringify({
    items: [
      { metadata: { namespace: 'kube-system', name: 'ok' }, status: { phase: 'Running', containerStatuses: [{ ready: true }] } },
      { metadata: { namespace: 'apps', name: 'crash' }, status: { phase: 'Running', containerStatuses: [{ ready: false, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } },
      { metadata: { namespace: 'apps', name: 'job' }, status: { phase: 'Succeeded' } },
      { metadata: { namespace: 'apps', name: 'pending' }, status: { phase: 'Pending' } },
    ],
  });
  const p = workloads.parsePods(pods);
  assert.is(p.total, 4);
  assert.equal(p.problems, [
    { namespace: 'apps', name: 'crash', phase: 'Running', reason: 'CrashLoopBackOff' },
    { namespace: 'apps', name: 'pending', phase: 'Pending' },
  ]);
  assert.is(workloads.parseDaemonSet(''), undefined);
  assert.equal(workloads.parseDaemonSet(JSON.stringify({ status: { desiredNumberScheduled: 3, numberReady: 2, numberAvailable: 2 } })), { desired: 3, ready: 2, available: 2 });
  const deps = JSON.stringify({ items: [{ metadata: { name: 'source-controller' }, spec: { replicas: 1 }, status: { readyReplicas: 1 } }, { metadata: { name: 'kustomize-controller' }, spec: { replicas: 1 }, status: {} }] });
  assert.equal(workloads.unreadyDeployments(deps).map((d) => d.name), ['kustomize-controller']);
  const nodes = JSON.stringify({ items: [{ metadata: { name: 'a' }, status: { nodeInfo: { kubeletVersion: 'v1.34.1' } } }, { metadata: { name: 'b' }, status: {} }] });
  assert.equal(kubeNodes.kubeletVersions(nodes), { a: 'v1.34.1', b: 'unknown' });
});

test('recovery actions accept "flux suspend-all", "flux:suspend-all", "etcd snapshot" …', () => {
  assert.is(parseAction([]), 'diagnose');
  assert.is(parseAction(['flux', 'suspend-all']), 'flux:suspend-all');
  assert.is(parseAction(['flux:resume-all']), 'flux:resume-all');
  assert.is(parseAction(['etcd', 'snapshot']), 'etcd:snapshot');
  assert.is(parseAction(['etcd:restore']), 'etcd:restore');
  assert.is(parseAction(['cilium']), 'cilium');
  assert.is(parseAction(['reset']), undefined);
});

test.run();
