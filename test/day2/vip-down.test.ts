import { existsSync, readdirSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EXIT_REFUSED } from '../../scripts/lib/core/cli.ts';
import { clusterPaths } from '../../scripts/lib/core/paths.ts';
import { safeResetScript } from '../../scripts/lib/day2/scripts.ts';
import { emergencyRecoveryScript } from '../../scripts/lib/recovery/script.ts';
import type { Lab } from '../lab/lab.ts';
import { CLUSTER, ip, nodeOf, run, runningLab } from './harness.ts';

// The VIP down, every control plane's API up — a typical state to reach for safe-reset in. Flux is reached the way
// the recovery diagnosis reaches the API (through a control plane), and suspended before any node is reset.

const KUSTOMIZATIONS = [{ name: 'infrastructure', dependsOn: ['flux-system'] }, { name: 'apps', dependsOn: ['infrastructure'] }];
const paths = (lab: Lab) => clusterPaths(CLUSTER, { HOME_OPS_STATE_DIR: lab.stateDir });
const suspended = (lab: Lab) => Object.fromEntries(lab.state().flux!.kustomizations.map((k) => [k.name, k.suspended]));

test('VIP down: safe-reset suspends Flux through a control plane before the reset; resume-all resumes it the same way', async () => {
  const lab = runningLab({ kustomizations: KUSTOMIZATIONS, faults: [{ kind: 'vip-down' }] });
  try {
    const r = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-worker-2']);
    assert.is(r.code, 0, r.text);
    assert.not.match(r.text, /a dead API reconciles nothing/);
    assert.match(r.text, /reaching Flux through infra-cp-1's API \(https:\/\/10\.0\.10\.11:6443\)/);
    assert.equal(suspended(lab), { 'flux-system': true, infrastructure: true, apps: true });
    const suspend = lab.calls().filter((c) => c.cmd.startsWith('flux suspend') && c.exitCode === 0);
    const reset = lab.calls({ cmd: 'talosctl reset' });
    assert.equal(reset.map((c) => nodeOf(c.argv)), [ip('infra-worker-2')]);
    assert.ok(suspend.length > 0 && suspend.every((c) => c.end <= reset[0]!.start), 'Flux suspended before the reset');
    assert.equal(readdirSync(paths(lab).dir).filter((f) => f.endsWith('.tmp')), [], 'the temporary kubeconfig is removed');
    assert.ok(existsSync(`${paths(lab).dir}/flux-suspended.json`));

    const resume = await run(lab, emergencyRecoveryScript, ['flux', 'resume-all']);
    assert.is(resume.code, 0, resume.text);
    assert.equal(suspended(lab), { 'flux-system': false, infrastructure: false, apps: false });
  } finally {
    lab.cleanup();
  }
});

test('VIP down and Flux not listable where the API answers: refused before any reset, Flux named as still running', async () => {
  // The first two kubectl reads go through (the list through the dead VIP, infra-cp-1's /readyz); every later one fails:
  // infra-cp-1's API answers, but Flux's objects cannot be listed there.
  const lab = runningLab({
    kustomizations: KUSTOMIZATIONS,
    faults: [{ kind: 'vip-down' }, { kind: 'command', cmd: 'kubectl get', skip: 2, exitCode: 1, stderr: 'Error from server (InternalError): etcdserver: request timed out' }],
  });
  try {
    const r = await run(lab, safeResetScript, ['--confirm', CLUSTER, '--nodes', 'infra-worker-2']);
    assert.is(r.code, EXIT_REFUSED, r.text);
    assert.match(r.stderr, /the API answers on infra-cp-1 \(https:\/\/10\.0\.10\.11:6443\), but Flux's objects could not be listed there: Flux keeps running and was not suspended/);
    assert.is(lab.calls({ cmd: 'talosctl reset' }).length, 0, 'no node reset');
    assert.equal(suspended(lab), { 'flux-system': false, infrastructure: false, apps: false });
  } finally {
    lab.cleanup();
  }
});

test.run();
