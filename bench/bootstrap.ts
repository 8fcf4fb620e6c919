// Benchmark: a cold `task bootstrap` on the simulated lab with realistic per-command latencies and boot/reconcile
// times, for 1, 5 and 20 nodes. Reports the wall time against the lab's critical path (the longest chain of
// unavoidable waits: VM boot, install + reboot, etcd bootstrap, API, kubelet, CNI, Flux, Kustomizations, plus the
// latencies of the commands on that chain). Target: wall time within 10% of the critical path.
//
//   npx tsx bench/bootstrap.ts [--scale 1] [--sizes 1,5,20] [--trace]
//
// --scale multiplies every lab timing and latency (1 = realistic: about 10 minutes per size). A smaller scale is a
// quick check, but it overstates the ratio: each fake tool is a Node process (~0.25 s to start; a real talosctl or
// kubectl starts in a few ms) and that cost does not scale. --trace prints every command the run made (start, duration).

import { parseArgs } from 'node:util';
import { REALISTIC_TIMINGS, scaleTimings } from '../test/lab/lab.ts';
import { labForWorld, makeWorld } from '../test/bootstrap/harness.ts';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' }, sizes: { type: 'string', default: '1,5,20' }, trace: { type: 'boolean', default: false } } });
const scale = Number(values.scale);
const FIXTURE: Record<string, string> = { '1': 'one-node.yaml', '5': 'five-node.yaml', '20': 'twenty-node.yaml' };

/** Per-command latencies of the real tools on a home lab (ms): API round trips, Terraform provider calls, downloads. */
const REALISTIC_LATENCY_MS: Record<string, number> = {
  'terraform init': 3000,
  'terraform workspace': 800,
  'terraform plan': 4000,
  'terraform apply': 10000, // provider API calls; the VMs' boot is the lab's vmBoot
  'terraform output': 800,
  'talosctl gen': 600,
  'talosctl apply-config': 1500,
  'talosctl bootstrap': 800,
  'talosctl kubeconfig': 500,
  talosctl: 300,
  'helm upgrade': 8000,
  helm: 600,
  'flux bootstrap': 20000,
  flux: 800,
  kubectl: 250,
  kubeseal: 300,
};
const scaledLatency = Object.fromEntries(Object.entries(REALISTIC_LATENCY_MS).map(([k, v]) => [k, Math.round(v * scale)]));

interface Row {
  nodes: number;
  wallMs: number;
  criticalMs: number;
  ratio: number;
  exitCode: number;
}

const rows: Row[] = [];
for (const size of values.sizes!.split(',')) {
  const world = await makeWorld(FIXTURE[size]!);
  const { lab, run } = labForWorld(world, { timings: scaleTimings(REALISTIC_TIMINGS, 1 / scale), latencyMs: scaledLatency });
  try {
    const started = Date.now();
    const r = await run({ waitScale: 1 });
    const wallMs = Date.now() - started;
    const critical = lab.criticalPath();
    rows.push({ nodes: world.repo.config.nodes.length, wallMs, criticalMs: critical.totalMs, ratio: wallMs / critical.totalMs, exitCode: r.exitCode });
    if (r.exitCode !== 0) console.error(r.text);
    if (values.trace) {
      for (const c of lab.calls()) console.error(`${String(c.start - started).padStart(8)} ms  +${String(c.end - c.start).padStart(6)} ms  ${c.cmd}`);
    }
    console.error(`${size} nodes: critical path ${critical.steps.map((s) => `${s.name}=${s.ms}`).join(' + ')}`);
  } finally {
    lab.cleanup();
    await world.cleanup();
  }
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
console.log(`scale ${scale} (1 = realistic timings)`);
console.log('nodes  wall     critical  ratio  within 10%');
for (const r of rows) {
  console.log(`${String(r.nodes).padEnd(5)}  ${fmt(r.wallMs).padEnd(7)}  ${fmt(r.criticalMs).padEnd(8)}  ${r.ratio.toFixed(3)}  ${r.exitCode === 0 && r.ratio <= 1.1 ? 'yes' : 'NO'}${r.exitCode ? ` (exit ${r.exitCode})` : ''}`);
}
process.exitCode = rows.every((r) => r.exitCode === 0 && r.ratio <= 1.1) ? 0 : 1;
