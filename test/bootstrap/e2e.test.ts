import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FaultSpec, Lab } from '../lab/lab.ts';
import type { RemoteFault } from '../lab/remote/remote-lab.ts';
import { GITHUB_TOKEN, labForWorld, makeWorld, PROXMOX_TOKEN, type World, type WorldLab } from './harness.ts';

// End to end on the simulated lab: a 1-node and a 5-node (3 control planes + 2 workers) cluster, cold start to Flux.

const APPLY_MS = 1500;

/** Commands that change the world; none may repeat on a re-run after success. */
const STATE_CHANGING = ['talosctl gen secrets', 'talosctl apply-config', 'talosctl bootstrap', 'terraform apply', 'helm upgrade', 'flux bootstrap', 'kubectl apply'];

interface Env {
  world: World;
  lab: Lab;
  env: Record<string, string>;
  run: WorldLab['run'];
  state(): { phases: Record<string, { status: string; error?: string }> };
  count(cmd: string, ok?: boolean): number;
  cleanup(): Promise<void>;
}

async function setup(fixture: string, extra: { latencyMs?: Record<string, number> } = {}, edit?: (c: Record<string, unknown>) => void): Promise<Env> {
  const world = await makeWorld(fixture, edit);
  const { lab, env, run } = labForWorld(world, extra);
  const stateFile = join(lab.stateDir, world.repo.config.cluster.name, 'bootstrap-state.json');
  return {
    world,
    lab,
    env,
    run,
    state: () => JSON.parse(readFileSync(stateFile, 'utf8')),
    count: (cmd, ok) => lab.calls({ cmd }).filter((c) => ok === undefined || (c.exitCode === 0) === ok).length,
    cleanup: async () => {
      lab.cleanup();
      await world.cleanup();
    },
  };
}

function healthy(lab: Lab, nodes: number): void {
  const s = lab.state() as unknown as { nodes: { name: string; role: string; k8s?: { ready?: boolean; labels?: Record<string, string> } }[] };
  assert.is(s.nodes.length, nodes);
  assert.ok(s.nodes.every((n) => n.k8s?.ready), 'every node Ready');
  // Workers keep the topology labels (Proxmox CSI places volumes by them): the Talos nodeLabels update their kubelet
  // makes is not rejected by NodeRestriction; the role label came from the bootstrap's admin kubeconfig.
  for (const n of s.nodes.filter((x) => x.role === 'worker')) {
    assert.ok(n.k8s?.labels?.['topology.kubernetes.io/zone'], `${n.name} has its topology zone label: ${JSON.stringify(n.k8s?.labels)}`);
    assert.is(n.k8s?.labels?.['node-role.kubernetes.io/worker'], '', `${n.name} has its role label`);
  }
}

for (const [fixture, nodes, cps] of [['one-node.yaml', 1, 1], ['five-node.yaml', 5, 3]] as const) {
  const t = suite(`bootstrap e2e ${fixture}`);
  let e: Env;
  t.before(async () => {
    e = await setup(fixture, { latencyMs: { 'talosctl apply-config': APPLY_MS } });
  });
  t.after(async () => e?.cleanup());

  t('a full bootstrap succeeds and leaves the lab healthy', async () => {
    const r = await e.run();
    assert.is(r.exitCode, 0, r.text);
    healthy(e.lab, nodes);
    assert.is(e.count('talosctl gen secrets'), 1);
    assert.is(e.count('talosctl bootstrap', true), 1);
    assert.is(e.count('talosctl apply-config', true), nodes);
    assert.ok(e.lab.calls({ cmd: 'talosctl apply-config' }).every((c) => c.argv.includes('--insecure')));
    const st = e.state();
    for (const phase of ['preflight', 'infra', 'talos', 'cni', 'secrets', 'gitops', 'integrations', 'verify']) assert.is(st.phases[phase]?.status, 'done', phase);
    // Private state outside the repo, secrets 0600; the sealing cert committed and pushed.
    const dir = join(e.lab.stateDir, e.world.repo.config.cluster.name);
    assert.is(statSync(join(dir, 'talos', 'secrets.yaml')).mode & 0o777, 0o600);
    assert.is(statSync(join(dir, 'kubeconfig')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, 'kubeconfig'), 'utf8'), new RegExp(`server: https://${e.world.repo.config.network.vip.replace(/\./g, '\\.')}:6443`));
    assert.ok(existsSync(join(e.world.repo.root, 'kubernetes/clusters', e.world.repo.config.cluster.name, 'sealed-secrets-cert.pem')));
    assert.is(e.world.repo.head(), e.world.repo.remoteHead());
    assert.match(r.out.join('\n'), /PHASE\s+STATUS\s+DURATION\s+WHAT IT DID/);
    // The etcd bootstrap went to the first control plane, never the VIP.
    const boot = e.lab.calls({ cmd: 'talosctl bootstrap' })[0]!;
    assert.ok(boot.argv.includes(e.world.repo.config.nodes[0]!.ip));
    assert.is(e.lab.calls({ cmd: 'talosctl etcd members' }).length >= 1, true);
    assert.is(cps, e.world.repo.config.nodes.filter((n) => n.role === 'controlplane').length);
    // The Gateway API CRDs went in once, before Cilium (its operator looks for them only at start).
    const crds = e.lab.calls({ cmd: 'kubectl apply' }).filter((c) => c.argv.includes('--server-side'));
    assert.is(crds.length, 1);
    assert.ok(crds[0]!.start < e.lab.calls({ cmd: 'helm upgrade' })[0]!.start, 'CRDs before Cilium');
  });

  t('applying configs runs in parallel: N nodes take about as long as one', () => {
    const applies = e.lab.calls({ cmd: 'talosctl apply-config' });
    const span = Math.max(...applies.map((c) => c.end)) - Math.min(...applies.map((c) => c.start));
    assert.is(e.lab.maxConcurrency('talosctl apply-config'), nodes);
    // All applies overlap in time (each started before any finished), and together they take far less than the
    // sum of their latencies; on a loaded 2-core machine process start-up of the fake tools adds some time.
    assert.ok(Math.max(...applies.map((c) => c.start)) < Math.min(...applies.map((c) => c.end)), 'every apply-config overlaps the others');
    if (nodes > 1) assert.ok(span < nodes * APPLY_MS * 0.6, `apply-config span ${span}ms for ${nodes} nodes (sequential: >= ${nodes * APPLY_MS}ms)`);
  });

  t('a second run makes no state-changing call', async () => {
    const before = Object.fromEntries(STATE_CHANGING.map((c) => [c, e.count(c)]));
    const head = e.world.repo.remoteHead();
    const r = await e.run();
    assert.is(r.exitCode, 0, r.text);
    for (const c of STATE_CHANGING) assert.is(e.count(c), before[c], `${c} repeated`);
    assert.is(e.world.repo.remoteHead(), head, 'nothing pushed');
    assert.match(r.out.join('\n'), /talos\s+skipped/);
    if (nodes > 1) return; // the probe-only path below is the same for every size; once is enough (test time)
    // --from re-runs every phase after it through the probes: still nothing changes.
    const again = await e.run({ from: 'infra' });
    assert.is(again.exitCode, 0, again.text);
    for (const c of STATE_CHANGING.filter((x) => x !== 'terraform apply')) assert.is(e.count(c), before[c], `${c} repeated with --from infra`);
    assert.is(e.count('terraform apply'), before['terraform apply'], 'terraform plan showed no changes, so no apply');
  });

  t.run();
}

// ---- failures: each phase stops the run with a clear message; the next run resumes without repeating -----------
// One chain per cluster size: run k fails in phase k (an injected fault), run k+1 resumes there, finishes that phase
// and fails in the next one; the last run finishes. Cheap (about one bootstrap) and it checks every resume point.

interface FailureCase {
  phase: string;
  fault?: FaultSpec;
  /** A fault of the remote fakes behind SSH (pveum on the Proxmox host). */
  remoteFault?: RemoteFault;
  /** Instead of a fault: break something in the world; it is repaired before the next run. */
  breakIt?: (e: Env) => void;
  repair?: (e: Env) => void;
  message: RegExp;
}

const failures: FailureCase[] = [
  {
    phase: 'preflight',
    breakIt: (e) => writeFileSync(join(e.world.repo.root, 'stray.txt'), 'uncommitted\n'),
    repair: (e) => writeFileSync(join(e.world.repo.root, '.git/info/exclude'), 'node_modules\nstray.txt\n'),
    message: /git working tree is not clean \(stray\.txt\)[\s\S]*next: /,
  },
  { phase: 'infra', fault: { kind: 'command', cmd: 'terraform apply', exitCode: 1, stderr: 'Error: injected provider failure', times: 1 }, message: /terraform -chdir=terraform\/00-persistent-auth apply[\s\S]*injected provider failure[\s\S]*next: / },
  { phase: 'talos', fault: { kind: 'command', cmd: 'talosctl bootstrap', exitCode: 1, stderr: 'error executing bootstrap: rpc error: code = Internal desc = injected', times: 1 }, message: /talosctl --endpoints \S+ --nodes \S+ bootstrap[\s\S]*injected[\s\S]*next: / },
  { phase: 'cni', fault: { kind: 'command', cmd: 'helm upgrade', exitCode: 1, stderr: 'Error: UPGRADE FAILED: injected', times: 1 }, message: /helm upgrade --install cilium[\s\S]*UPGRADE FAILED[\s\S]*next: / },
  { phase: 'secrets', fault: { kind: 'command', cmd: 'kubectl apply', exitCode: 1, stderr: 'error: injected apply failure', times: 1 }, message: /kubectl apply -f -[\s\S]*injected apply failure[\s\S]*next: / },
  { phase: 'gitops', fault: { kind: 'command', cmd: 'flux bootstrap', exitCode: 1, stderr: '✗ injected bootstrap failure', times: 1 }, message: /flux bootstrap github[\s\S]*injected bootstrap failure[\s\S]*next: / },
  {
    phase: 'integrations',
    remoteFault: { cmd: 'pveum user token add', exitCode: 255, stderr: 'injected: proxy loop detected', times: 1 },
    message: /pveum user token add[\s\S]*injected: proxy loop detected/,
  },
  { phase: 'verify', fault: { kind: 'command', cmd: 'flux check', exitCode: 1, stderr: '✗ source-controller: deployment not ready', times: 1 }, message: /flux check[\s\S]*deployment not ready[\s\S]*next: / },
];

/** Destructive steps and how many successful calls a whole bootstrap makes of each. */
const ONCE = ['talosctl gen secrets', 'talosctl bootstrap', 'flux bootstrap'];

for (const [fixture, nodes] of [['one-node.yaml', 1], ['five-node.yaml', 5]] as const) {
  const f = suite(`bootstrap e2e failures, ${fixture}`);
  f('a failure in each phase stops the run with a clear message; the next run resumes there without repeating', async () => {
    // With a proxmoxCsi section, so the integrations phase has work: the CSI token over SSH (pveum fake), sealed and pushed.
    const e = await setup(fixture, {}, (c) => void (c.proxmoxCsi = {}));
    try {
      let previous: string | undefined;
      for (const c of failures) {
        if (c.fault) e.lab.injectFault(c.fault);
        if (c.remoteFault) e.world.remote.injectFault(c.remoteFault);
        c.breakIt?.(e);
        const r = await e.run();
        assert.is(r.exitCode, 1, `${c.phase}: ${r.text}`);
        assert.match(r.text, new RegExp(`bootstrap stopped in phase ${c.phase}:`), c.phase);
        assert.match(r.text, c.message, c.phase);
        assert.match(r.text, new RegExp(`resumes at ${c.phase}`));
        const st = e.state();
        assert.is(st.phases[c.phase]?.status, 'failed', c.phase);
        // Stopped at once: nothing after the failing phase ran (verify is the last phase).
        if (c.phase !== 'verify') assert.is(st.phases.verify?.status ?? 'pending', 'pending', `${c.phase}: verify must not run`);
        // The phase that failed last time has been resumed and finished in this run.
        if (previous) assert.is(st.phases[previous]?.status, 'done', `${previous} resumed`);
        if (previous && previous !== 'preflight') assert.match(r.log.join('\n'), new RegExp(`resuming at phase ${previous} \\(failed last run\\)`));
        for (const cmd of ONCE) assert.ok(e.count(cmd, true) <= 1, `${cmd} ran twice (after ${c.phase})`);
        assert.ok(e.count('talosctl apply-config', true) <= nodes, `apply-config repeated (after ${c.phase})`);
        e.lab.clearFaults();
        e.world.remote.clearFaults();
        c.repair?.(e);
        previous = c.phase;
      }
      const last = await e.run();
      assert.is(last.exitCode, 0, last.text);
      healthy(e.lab, nodes);
      for (const cmd of ONCE) assert.is(e.count(cmd, true), 1, cmd);
      assert.is(e.count('talosctl apply-config', true), nodes);
      for (const [phase, rec] of Object.entries(e.state().phases)) assert.is(rec.status, 'done', phase);
      // The CSI token was created once, sealed into the tree, committed and pushed to the branch Flux reads.
      assert.is(e.world.remote.calls({ cmd: 'pveum user token add' }).filter((x) => x.exitCode === 0).length, 1);
      const sealed = join(e.world.repo.root, 'kubernetes/clusters', e.world.repo.config.cluster.name, 'secrets/proxmox-csi-plugin.sealed.yaml');
      assert.ok(existsSync(sealed));
      assert.is(e.world.repo.head(), e.world.repo.remoteHead());
    } finally {
      await e.cleanup();
    }
  });
  f.run();
}

// ---- Ctrl-C: the state stays consistent and the next run resumes ---------------------------------------------------

const sig = suite('bootstrap e2e Ctrl-C');
sig('SIGINT during the talos phase records it as interrupted; the next run resumes and finishes', async () => {
  const e = await setup('one-node.yaml', { latencyMs: { 'talosctl apply-config': 3000 } });
  try {
    const { spawn } = await import('node:child_process');
    const stateFile = join(e.lab.stateDir, e.world.repo.config.cluster.name, 'bootstrap-state.json');
    const child = spawn(process.execPath, ['--import', 'tsx', join(e.world.repo.root, 'scripts/bootstrap.ts'), '--config', e.world.repo.configFile], {
      cwd: e.world.repo.root,
      env: { ...process.env, ...e.env, GITHUB_TOKEN, PROXMOX_VE_API_TOKEN: PROXMOX_TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    // Wait until apply-config is under way, then press Ctrl-C.
    for (let i = 0; i < 600 && e.lab.calls({ cmd: 'talosctl apply-config' }).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const code = await exited;
    assert.is(code, 130, stderr);
    assert.match(stderr, /interrupted \(SIGINT\) during phase talos/);
    const st = JSON.parse(readFileSync(stateFile, 'utf8'));
    assert.is(st.phases.talos.status, 'interrupted');
    assert.is(st.phases.infra.status, 'done');
    await new Promise((r) => setTimeout(r, 3500)); // the in-flight talosctl finishes on its own
    e.lab.setLatency({});
    const r = await e.run();
    assert.is(r.exitCode, 0, r.text);
    assert.match(r.log.join('\n'), /resuming at phase talos \(interrupted last run\)/);
    assert.is(e.count('talosctl gen secrets'), 1);
    assert.is(e.count('talosctl apply-config', true), 1);
    assert.is(e.count('talosctl bootstrap', true), 1);
    healthy(e.lab, 1);
  } finally {
    await e.cleanup();
  }
});
sig.run();
