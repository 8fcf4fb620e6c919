import { execFileSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clusterPaths } from '../../scripts/lib/core/paths.ts';
import { upgradeNodeScript } from '../../scripts/lib/day2/scripts.ts';
import { emergencyRecoveryScript } from '../../scripts/lib/recovery/script.ts';
import type { Lab, LabOptions } from '../lab/lab.ts';
import { CLUSTER, config, ip, nextSteps, nodeOf, run, runningLab, taskCommand } from './harness.ts';

// The diagnosis names a fault and prints what to run next. For each fault the lab can inject, this runs exactly the
// `task …` line it printed first (plus the cluster name a person types at the prompt, and --wait-scale for the lab's
// clock) and diagnoses again: the cluster must be healthy.

const KUSTOMIZATIONS = [{ name: 'infrastructure', dependsOn: ['flux-system'] }, { name: 'apps', dependsOn: ['infrastructure'] }];

async function diagnose(lab: Lab) {
  const r = await run(lab, emergencyRecoveryScript, []);
  return { ...r, fault: /likely fault: .*\[([a-z-]+)\]/.exec(r.stdout)?.[1], steps: nextSteps(r.stdout) };
}

/** Runs a printed `task cluster:emergency-recovery -- …` line; returns its own printed output. */
async function runPrinted(lab: Lab, line: string) {
  const { task, args } = taskCommand(line);
  assert.is(task, 'cluster:emergency-recovery', line);
  const confirm = /^etcd:re/.test(args[0] ?? '') ? ['--confirm', CLUSTER] : [];
  const r = await run(lab, emergencyRecoveryScript, [...args, ...confirm, '--wait-scale', '0.05']);
  assert.is(r.code, 0, `${line}\n${r.text}`);
  return r;
}

interface Case {
  fault: string;
  lab?: Partial<LabOptions>;
  setup?: (lab: Lab) => Promise<void>;
  /** After the first printed step: what else has to happen before the cluster is healthy (e.g. the VIP returns). */
  then?: (lab: Lab, steps: string[]) => Promise<void>;
}

const CASES: Case[] = [
  {
    fault: 'flux-suspended',
    setup: async (lab) => {
      const env = { ...process.env, ...lab.env, KUBECONFIG: clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir }).kubeconfig };
      execFileSync('flux', ['suspend', 'kustomization', 'apps', '--namespace', 'flux-system'], { env });
    },
  },
  { fault: 'cni-gone', setup: async (lab) => lab.injectFault({ kind: 'cni-gone' }) },
  { fault: 'etcd-member-lost', setup: async (lab) => lab.injectFault({ kind: 'etcd-member-lost', node: 'infra-cp-3' }) },
  {
    fault: 'vip-down',
    lab: { faults: [{ kind: 'vip-down' }] },
    then: async (lab, steps) => {
      // The VIP comes back; the diagnosis printed what to run then.
      lab.clearFaults();
      const back = steps.find((s) => s.startsWith('when the VIP answers again: '));
      assert.ok(back, steps.join('\n'));
      await runPrinted(lab, back!.slice('when the VIP answers again: '.length));
    },
  },
  {
    fault: 'etcd-quorum-lost',
    setup: async (lab) => {
      await runPrinted(lab, 'task cluster:emergency-recovery -- etcd:snapshot');
      lab.injectFault({ kind: 'etcd-member-lost', node: 'infra-cp-2' });
      lab.injectFault({ kind: 'etcd-member-lost', node: 'infra-cp-3' });
    },
  },
];

for (const c of CASES) {
  test(`${c.fault}: the first printed step, run as printed, leaves a healthy cluster`, async () => {
    const lab = runningLab({ kustomizations: KUSTOMIZATIONS, ...c.lab });
    try {
      await c.setup?.(lab);
      const d = await diagnose(lab);
      assert.is(d.fault, c.fault, d.text);
      const first = d.steps.find((s) => s.startsWith('task '));
      assert.ok(first, `a task to run: ${d.steps.join(' | ')}`);
      await runPrinted(lab, first!);
      await c.then?.(lab, d.steps);
      const after = await diagnose(lab);
      assert.is(after.fault, 'healthy', after.text);
      assert.is(after.code, 0);
    } finally {
      lab.cleanup();
    }
  });
}

test('upgrade-node stopped by a failed health gate: "run the same command again" upgrades the rest, skipping the nodes done', async () => {
  // The third `talosctl health` (the gate after the second node) fails once.
  const lab = runningLab({
    talosVersion: 'v1.11.5',
    faults: [{ kind: 'command', cmd: 'talosctl health', skip: 2, times: 1, exitCode: 1, stderr: 'waiting for all k8s nodes to report ready: some nodes are not ready: [infra-cp-2]' }],
  });
  try {
    const args = ['--wait-scale', '0.02'];
    const first = await run(lab, upgradeNodeScript, args);
    assert.is(first.code, 1, first.text);
    assert.match(first.stderr, /the cluster is not healthy \(after infra-cp-2\): nothing more is changed\. .*then run the same command again — nodes already done are skipped/);
    const upgraded = () => lab.calls({ cmd: 'talosctl upgrade' }).filter((c) => c.cmd === 'talosctl upgrade').map((c) => nodeOf(c.argv));
    assert.equal(upgraded(), [ip('infra-cp-1'), ip('infra-cp-2')]);

    const again = await run(lab, upgradeNodeScript, args);
    assert.is(again.code, 0, again.text);
    assert.equal(upgraded(), ['infra-cp-1', 'infra-cp-2', 'infra-cp-3', 'infra-worker-1', 'infra-worker-2'].map(ip), 'each node upgraded once');
    assert.ok(lab.state().nodes.every((n) => n.talosVersion === config.versions.talos));
  } finally {
    lab.cleanup();
  }
});

test.run();
