import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkTalos } from '../../scripts/lib/validate/talos.ts';
import { checkTaskfiles } from '../../scripts/lib/validate/taskfile.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';
import { BASE, makeTree, show } from './fixture.ts';

function withTree<T>(overrides: Record<string, string | null>, fn: (root: string) => T): T {
  const t = makeTree(overrides);
  try {
    return fn(t.root);
  } finally {
    t.cleanup();
  }
}

test('every Taskfile target runs a script that exists', () => {
  withTree({}, (root) => {
    const f: Finding[] = [];
    assert.is(checkTaskfiles(root, f), 2);
    assert.equal(f, [], show(f));
  });
  withTree({ 'tasks/extra.yml': BASE['tasks/extra.yml']!.replace('scripts/hello.ts', 'scripts/helo.ts') }, (root) => {
    const f: Finding[] = [];
    checkTaskfiles(root, f);
    assert.is(f.length, 1, show(f));
    assert.is(f[0]!.file, 'tasks/extra.yml');
    assert.is(f[0]!.object, 'task extra:hello');
    assert.match(f[0]!.message, 'runs scripts/helo.ts, which does not exist');
  });
});

test('a missing included Taskfile and a target without commands are reported', () => {
  withTree({ 'Taskfile.yml': "version: '3'\nincludes:\n  gone: ./tasks/gone.yml\ntasks:\n  empty:\n    desc: nothing\n" }, (root) => {
    const f: Finding[] = [];
    checkTaskfiles(root, f);
    assert.equal(f.map((x) => `${x.object}: ${x.message}`), ['include gone: includes ./tasks/gone.yml, which does not exist', 'task empty: has no commands']);
  });
});

test('the rendered Talos patches keep CNI none, kube-proxy off, KubePrism, the VIP and per-node identity', () => {
  withTree({}, (root) => {
    const f: Finding[] = [];
    assert.is(checkTalos(root, f), 3);
    assert.equal(f, [], show(f));
  });
  withTree(
    {
      'talos/generated/test/common.yaml': BASE['talos/generated/test/common.yaml']!.replace('name: none', 'name: flannel').replace('disabled: true', 'disabled: false'),
      'talos/generated/test/controlplane.yaml': '# Talos: v1.11.6\nmachine:\n  network:\n    interfaces:\n      - interface: eth0\n',
      'talos/generated/test/nodes/cp-1.yaml': BASE['talos/generated/test/nodes/cp-1.yaml']!.replace('hostname: cp-1', 'hostname: cp-2'),
      // Restricted for kubelets (NodeRestriction) — next to an allowed topology label, which would be lost with it.
      'talos/generated/test/worker.yaml': '# Talos: v1.11.6\nmachine:\n  nodeLabels:\n    node-role.kubernetes.io/worker: ""\n    topology.kubernetes.io/zone: pve\n    node.kubernetes.io/pool: a\n',
      // A worker's own patch (its role from its header) too; a control plane's may (admin credentials).
      'talos/generated/test/nodes/w-1.yaml': '# Talos: v1.11.6\n# Node: w-1 (worker)\nmachine:\n  nodeLabels:\n    node-restriction.kubernetes.io/pool: a\n  network:\n    hostname: w-1\n    interfaces:\n      - interface: eth0\n        addresses: ["10.0.0.21/24"]\n',
    },
    (root) => {
      const f: Finding[] = [];
      checkTalos(root, f);
      assert.equal(f.map((x) => `${x.file}: ${x.message}`), [
        'talos/generated/test/common.yaml: cluster.network.cni.name must be "none" (the bootstrap installs Cilium)',
        'talos/generated/test/common.yaml: cluster.proxy.disabled must be true (Cilium replaces kube-proxy)',
        'talos/generated/test/worker.yaml: machine.nodeLabels has node-role.kubernetes.io/worker, which a kubelet may not set (NodeRestriction): on workers Talos applies nodeLabels with the kubelet\'s credentials and the whole label update is rejected. Remove it from the patch (the bootstrap sets node-role.kubernetes.io/worker with the admin kubeconfig)',
        'talos/generated/test/controlplane.yaml: machine.network.interfaces[].vip.ip must hold the API VIP',
        'talos/generated/test/nodes/cp-1.yaml: machine.network.hostname must be "cp-1" (the file\'s node)',
        'talos/generated/test/nodes/w-1.yaml: machine.nodeLabels has node-restriction.kubernetes.io/pool, which a kubelet may not set (NodeRestriction): on workers Talos applies nodeLabels with the kubelet\'s credentials and the whole label update is rejected. Remove it from the patch (the bootstrap sets node-role.kubernetes.io/worker with the admin kubeconfig)',
      ]);
    },
  );
});

test.run();
