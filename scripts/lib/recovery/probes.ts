import { controlPlanes } from '../config/nodes.ts';
import type { NodeConfig } from '../config/schema.ts';
import { formatArgv, type RunResult } from '../core/runner.ts';
import * as kustomizations from '../flux/kustomizations.ts';
import * as helm from '../helm/helm.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import * as kubeNodes from '../kubernetes/nodes.ts';
import * as workloads from '../kubernetes/workloads.ts';
import * as talosctl from '../talos/talosctl.ts';
import * as talosEtcd from '../talos/etcd.ts';
import * as nodeHealth from '../talos/health.ts';
import { etcdView, nodeModes } from '../day2/cluster.ts';
import type { Day2Context } from '../day2/steps.ts';
import type { NodeRead } from '../talos/modes.ts';
import type { ClusterFacts, NodeFacts } from './diagnose.ts';

// The recovery probes: every read the diagnosis needs, all read-only, each kept with its output for the report.
// Kubernetes reads go through the VIP when it answers, else through the first control plane whose API answers
// (`kubectl --server https://IP:6443`), so a dead VIP does not blind the rest of the diagnosis.

export interface ProbeRecord {
  title: string;
  command: string;
  exitCode: number;
  output: string;
  ms: number;
}

export interface Gathered {
  facts: ClusterFacts;
  records: ProbeRecord[];
}

const MAX_OUTPUT = 4000;

export async function gatherFacts(ctx: Day2Context): Promise<Gathered> {
  const c = ctx.config;
  const records: ProbeRecord[] = [];
  const run = async (title: string, argv: string[], timeoutMs = 30_000): Promise<RunResult> => {
    const res = await ctx.runner.probe(argv, { timeoutMs });
    const output = (res.stdout + (res.stderr ? `${res.stdout ? '\n' : ''}${res.stderr}` : '')).trim();
    records.push({
      title,
      command: formatArgv(argv),
      exitCode: res.exitCode,
      output: output.length > MAX_OUTPUT ? `${output.slice(0, MAX_OUTPUT)}\n… (${output.length - MAX_OUTPUT} more characters)` : output,
      ms: res.durationMs,
    });
    return res;
  };

  // Talos: mode of every node, then services and versions of the configured ones. Every read is recorded.
  const read: NodeRead = (argv, title) => run(title, argv);
  const modes = await nodeModes(ctx, c.nodes, true, read);
  const cps = controlPlanes(c);
  const facts: NodeFacts[] = await Promise.all(
    c.nodes.map(async (n: NodeConfig): Promise<NodeFacts> => {
      const mode = modes.get(n.name) ?? 'down';
      const base: NodeFacts = { name: n.name, ip: n.ip, role: n.role, talos: mode };
      if (mode !== 'configured') return base;
      // The services table is for the report's reader; the diagnosis reads etcd's own service below.
      const [version] = await Promise.all([run(`${n.name}: Talos version`, talosctl.versionArgv(n.ip)), run(`${n.name}: services`, nodeHealth.servicesArgv(n.ip))]);
      const v = version.ok ? talosctl.parseServerVersion(version.stdout) : undefined;
      return { ...base, ...(v ? { version: v } : {}) };
    }),
  );

  // etcd: each control plane's service, the member list, the status table.
  const etcd = await etcdView(ctx, cps, modes, true, read);
  for (const n of facts) {
    const s = etcd.services.get(n.name);
    if (s) n.etcd = s;
  }
  if (etcd.from) {
    await run(`etcd status (from ${etcd.from.name})`, talosEtcd.etcdStatusArgv(etcd.from.ip));
  }

  // The API: VIP, then each configured control plane directly.
  const vipUrl = kubectl.apiServerUrl(c.network.vip);
  const vip = await run(`API through the VIP ${c.network.vip}`, kubectl.readyzArgv(vipUrl), 20_000);
  for (const n of facts.filter((x) => x.role === 'controlplane' && x.talos === 'configured')) {
    n.api = (await run(`API on ${n.name}`, kubectl.readyzArgv(kubectl.apiServerUrl(n.ip)), 20_000)).ok;
  }
  const direct = facts.find((n) => n.api);
  const server = vip.ok ? vipUrl : direct ? kubectl.apiServerUrl(direct.ip) : undefined;
  const out: ClusterFacts = {
    cluster: c.cluster.name,
    vip: c.network.vip,
    nodes: facts,
    ...(etcd.members ? { etcdMembers: etcd.members } : {}),
    ...(etcd.from ? { etcdFrom: etcd.from.name } : {}),
    vipApi: vip.ok,
    ...(server ? { apiVia: vip.ok ? 'vip' : direct!.ip } : {}),
  };
  if (!server) return { facts: out, records };

  // Kubernetes, through whichever server answered.
  const nodes = await run('Kubernetes nodes', kubectl.withServer(kubeNodes.nodesArgv(), server));
  if (nodes.ok) {
    const reasons = kubeNodes.nodeNotReadyReasons(nodes.stdout);
    out.k8sNodes = kubeNodes.parseNodes(nodes.stdout).map((n) => ({ name: n.name, ready: n.ready, ...(reasons[n.name] ? { reason: reasons[n.name] } : {}) }));
  }
  const pods = await run('pods (all namespaces)', kubectl.withServer(workloads.podsArgv(), server));
  if (pods.ok) out.pods = workloads.parsePods(pods.stdout);
  const ds = await run('Cilium daemonset', kubectl.withServer(workloads.daemonSetArgv('cilium', helm.CILIUM_NAMESPACE), server));
  const release = await run('Cilium helm release', [
    ...helm.listArgv(helm.CILIUM_RELEASE, helm.CILIUM_NAMESPACE),
    ...(vip.ok ? [] : ['--kube-apiserver', server]),
  ]);
  if (ds.ok) {
    const rel = release.ok ? helm.parseList(release.stdout).find((r) => r.name === helm.CILIUM_RELEASE) : undefined;
    const daemonSet = workloads.parseDaemonSet(ds.stdout);
    out.cilium = {
      ...(daemonSet ? { daemonSet } : {}),
      ...(release.ok ? (rel ? { helmStatus: `${rel.status} (${rel.chart})` } : {}) : { helmStatus: 'unknown (helm could not ask the API)' }),
    };
  }
  const ks = await run('Flux Kustomizations', kubectl.withServer(kustomizations.kustomizationsArgv(), server));
  if (ks.ok) {
    out.kustomizations = kustomizations.dependencyOrder(kustomizations.parseKustomizations(ks.stdout));
    const deps = await run('Flux controllers', kubectl.withServer(workloads.deploymentsArgv(kustomizations.FLUX_NAMESPACE), server));
    if (deps.ok) out.fluxControllersDown = workloads.unreadyDeployments(deps.stdout).map((d) => d.name);
  }
  return { facts: out, records };
}
