import type { KustomizationState } from '../flux/kustomizations.ts';
import { rootCauses } from '../flux/kustomizations.ts';
import type { EtcdMember } from '../talos/etcd.ts';
import type { DaemonSetStatus, PodProblem } from '../kubernetes/workloads.ts';
import { isHealthyEtcdMember, quorumSize } from '../day2/selection.ts';
import type { NodeMode } from '../talos/modes.ts';

// The recovery diagnosis: probe results in, findings out (likely fault first, each with evidence and the next
// command). Pure, so every rule is unit-tested against the faults the lab can inject.

export interface NodeFacts {
  name: string;
  ip: string;
  role: 'controlplane' | 'worker';
  talos: NodeMode;
  version?: string;
  /** etcd service state and health (control planes). */
  etcd?: { state?: string; health?: string };
  /** kube-apiserver answers on https://IP:6443 (control planes). */
  api?: boolean;
}

export interface ClusterFacts {
  cluster: string;
  vip: string;
  nodes: NodeFacts[];
  /** `etcd members` from the first control plane that answered; undefined if none did. */
  etcdMembers?: EtcdMember[];
  /** Which control plane answered for the etcd member list. */
  etcdFrom?: string;
  /** The API answers through the VIP. */
  vipApi: boolean;
  /** The server kubectl probes went to ('vip', a node IP, or undefined when no API answered). */
  apiVia?: string;
  /** kubectl get nodes (undefined when no API answered). */
  k8sNodes?: { name: string; ready: boolean; reason?: string }[];
  pods?: { total: number; problems: PodProblem[] };
  cilium?: { daemonSet?: DaemonSetStatus; helmStatus?: string };
  /** Flux Kustomizations (undefined when the API or the CRDs are not there). */
  kustomizations?: KustomizationState[];
  /** Flux controllers in flux-system that are not Ready (deployment names). */
  fluxControllersDown?: string[];
}

export type FaultId =
  | 'nodes-down'
  | 'cluster-reset'
  | 'etcd-quorum-lost'
  | 'etcd-member-lost'
  | 'api-down'
  | 'vip-down'
  | 'cni-gone'
  | 'nodes-not-ready'
  | 'flux-stuck'
  | 'flux-suspended'
  | 'pods-failing'
  | 'healthy';

export interface Finding {
  id: FaultId;
  title: string;
  evidence: string[];
  /** Commands to run next, most useful first. */
  next: string[];
}

const task = (t: string, args = '') => `task ${t}${args ? ` -- ${args}` : ''}`;

function list(names: string[]): string {
  return names.join(', ');
}

/** The rules, from the most fundamental fault (nothing else can work without it) to the least. */
export function diagnose(f: ClusterFacts): Finding[] {
  const out: Finding[] = [];
  const cps = f.nodes.filter((n) => n.role === 'controlplane');
  const down = f.nodes.filter((n) => n.talos === 'down');
  const maintenance = f.nodes.filter((n) => n.talos === 'maintenance');
  const first = cps[0];

  // 1. Nodes that answer neither the maintenance service nor apid: nothing on them can be diagnosed further.
  if (down.length) {
    const all = down.length === f.nodes.length;
    out.push({
      id: 'nodes-down',
      title: all ? 'no node answers the Talos API: VMs off, network or firewall' : `${down.length} node(s) do not answer the Talos API: ${list(down.map((n) => n.name))}`,
      evidence: down.map((n) => `${n.name} (${n.ip}): no answer on :50000 (neither maintenance mode nor configured)`),
      next: [
        `check the VMs in Proxmox (qm status <vmid>) and start them; then ${task('cluster:emergency-recovery')}`,
        ...down.slice(0, 1).map((n) => `talosctl -e ${n.ip} -n ${n.ip} dmesg   (if apid answers with another certificate: wrong talosconfig)`),
      ],
    });
  }

  // 2. Every node that answers is in maintenance mode: the cluster was reset (or never bootstrapped).
  if (maintenance.length && maintenance.length === f.nodes.length - down.length && maintenance.length > 0) {
    out.push({
      id: 'cluster-reset',
      title: 'the nodes are in maintenance mode: the cluster is reset or was never bootstrapped',
      evidence: maintenance.map((n) => `${n.name} (${n.ip}): maintenance mode (no machine config)`),
      next: [task('bootstrap'), `to bring back the old etcd data afterwards: ${task('cluster:emergency-recovery', 'etcd:restore --snapshot <file>')}`],
    });
  } else if (maintenance.length) {
    out.push({
      id: 'cluster-reset',
      title: `${maintenance.length} node(s) in maintenance mode: ${list(maintenance.map((n) => n.name))}`,
      evidence: maintenance.map((n) => `${n.name} (${n.ip}): maintenance mode (no machine config)`),
      next: [`${task('bootstrap')}   (applies the machine config to nodes in maintenance mode; the rest is left alone)`],
    });
  }

  // 3/4. etcd: members against control planes, and each control plane's etcd service.
  const configuredCps = cps.filter((n) => n.talos === 'configured');
  if (configuredCps.length) {
    const members = f.etcdMembers ?? [];
    const memberNames = members.map((m) => m.hostname);
    const total = Math.max(cps.length, members.length);
    // Without a member list (the call failed), the service states alone decide.
    const healthy = configuredCps.filter((n) => isHealthyEtcdMember(n.name, n.etcd, f.etcdMembers === undefined ? undefined : memberNames));
    const lost = configuredCps.filter((n) => !healthy.includes(n));
    const need = quorumSize(total);
    if (healthy.length < need) {
      out.push({
        id: 'etcd-quorum-lost',
        title: `etcd has lost quorum: ${healthy.length} of ${total} members healthy, ${need} needed`,
        evidence: cps.map((n) => `${n.name}: etcd ${n.etcd?.state ?? 'unknown'}${n.etcd?.health ? `/${n.etcd.health}` : ''}${memberNames.includes(n.name) ? '' : ' (not a member)'}`),
        next: [
          `${task('cluster:emergency-recovery', 'etcd:restore')}   (newest snapshot; --snapshot FILE for another)`,
          `no snapshot? copy the raw database first: talosctl -e ${first?.ip} -n ${first?.ip} cp /var/lib/etcd/member/snap/db ./db`,
        ],
      });
    } else if (lost.length) {
      const listed = lost.filter((n) => memberNames.includes(n.name));
      out.push({
        id: 'etcd-member-lost',
        title: `etcd member lost on ${list(lost.map((n) => n.name))} (quorum intact: ${healthy.length}/${total})`,
        evidence: [
          `etcd members${f.etcdFrom ? ` (from ${f.etcdFrom})` : ''}: ${memberNames.length ? list(memberNames) : 'none listed'}`,
          ...lost.map((n) => `${n.name}: etcd service ${n.etcd?.state ?? 'unknown'}${n.etcd?.health ? `/${n.etcd.health}` : ''}${memberNames.includes(n.name) ? '' : ', not in the member list'}`),
        ],
        next: [
          ...lost.map((n) => task('cluster:emergency-recovery', `etcd:rejoin --node ${n.name}`)),
          ...(listed.length ? ['(rejoin removes the stale member entry first, then wipes only EPHEMERAL on that node; its machine config stays)'] : []),
        ],
      });
    }
  }

  // 5. The API: through the VIP, and on each control plane directly.
  const apiNodes = cps.filter((n) => n.api === true);
  if (configuredCps.length && !f.vipApi && apiNodes.length === 0 && !out.some((x) => x.id === 'etcd-quorum-lost')) {
    out.push({
      id: 'api-down',
      title: 'the Kubernetes API answers neither on the VIP nor on any control plane',
      evidence: [`https://${f.vip}:6443: no answer`, ...configuredCps.map((n) => `https://${n.ip}:6443: no answer`)],
      next: [
        ...configuredCps.slice(0, 1).map((n) => `talosctl -e ${n.ip} -n ${n.ip} service kube-apiserver && talosctl -e ${n.ip} -n ${n.ip} logs kube-apiserver`),
        ...configuredCps.slice(0, 1).map((n) => `talosctl -e ${n.ip} -n ${n.ip} health --wait-timeout 2m`),
      ],
    });
  } else if (!f.vipApi && apiNodes.length > 0) {
    out.push({
      id: 'vip-down',
      title: `the API VIP ${f.vip} does not answer, but ${list(apiNodes.map((n) => n.name))} serve${apiNodes.length === 1 ? 's' : ''} the API`,
      evidence: [`https://${f.vip}:6443: no answer`, ...apiNodes.map((n) => `https://${n.ip}:6443: ready`)],
      next: [
        `${task('cluster:emergency-recovery', 'kubeconfig')}   (kubeconfig pointed at ${apiNodes[0]!.ip} until the VIP is back)`,
        `talosctl -e ${apiNodes[0]!.ip} -n ${list(apiNodes.map((n) => n.ip)).replace(/, /g, ',')} get addresses   (which control plane holds ${f.vip}?)`,
        `when the VIP answers again: ${task('cluster:emergency-recovery', 'kubeconfig --vip')}`,
      ],
    });
  }

  // 6. The CNI: Cilium gone (release or DaemonSet missing), or nodes NotReady because the network plugin is not.
  if (f.k8sNodes) {
    const notReady = f.k8sNodes.filter((n) => !n.ready);
    const ds = f.cilium?.daemonSet;
    const ciliumMissing = f.cilium !== undefined && (ds === undefined || ds.desired === 0);
    const ciliumUnready = ds !== undefined && ds.desired > 0 && ds.ready < ds.desired;
    const networkReason = notReady.filter((n) => /network|cni/i.test(n.reason ?? ''));
    if (ciliumMissing || (notReady.length && (ciliumUnready || networkReason.length === notReady.length))) {
      out.push({
        id: 'cni-gone',
        title: ciliumMissing ? 'Cilium is not installed: every node stays NotReady without a CNI' : 'Cilium is not running on every node',
        evidence: [
          ds ? `daemonset kube-system/cilium: ${ds.ready}/${ds.desired} ready` : 'daemonset kube-system/cilium: absent',
          ...(f.cilium?.helmStatus ? [`helm release cilium: ${f.cilium.helmStatus}`] : ['helm release cilium: absent']),
          ...notReady.map((n) => `node ${n.name}: NotReady${n.reason ? ` (${n.reason})` : ''}`),
        ],
        next: [task('cluster:emergency-recovery', 'cilium'), 'kubectl -n kube-system get pods -l k8s-app=cilium -o wide'],
      });
    } else if (notReady.length) {
      out.push({
        id: 'nodes-not-ready',
        title: `${notReady.length} Kubernetes node(s) NotReady: ${list(notReady.map((n) => n.name))}`,
        evidence: notReady.map((n) => `node ${n.name}: NotReady${n.reason ? ` (${n.reason})` : ''}`),
        next: [
          ...notReady.slice(0, 1).map((n) => {
            const ip = f.nodes.find((x) => x.name === n.name)?.ip;
            return ip ? `talosctl -e ${ip} -n ${ip} service kubelet && talosctl -e ${ip} -n ${ip} logs kubelet` : `kubectl describe node ${n.name}`;
          }),
          'kubectl describe node <name>',
        ],
      });
    }
  }

  // 7. Flux: controllers, then Kustomizations that fail on their own (dependants waiting on them are symptoms).
  if (f.kustomizations) {
    const causes = rootCauses(f.kustomizations).filter((k) => k.ready === 'False');
    const controllers = f.fluxControllersDown ?? [];
    if (causes.length || controllers.length) {
      const waiting = f.kustomizations.filter((k) => !k.suspended && k.ready !== 'True' && !causes.includes(k));
      const firstCause = causes[0];
      const [ns, name] = firstCause ? firstCause.id.split('/') : ['flux-system', 'flux-system'];
      out.push({
        id: 'flux-stuck',
        title: controllers.length
          ? `Flux controllers not ready: ${list(controllers)}`
          : `Flux Kustomization ${firstCause!.id} is stuck${waiting.length ? ` (${waiting.length} more wait for it)` : ''}`,
        evidence: [
          ...controllers.map((c) => `deployment flux-system/${c}: not ready`),
          ...causes.map((k) => `kustomization ${k.id}: Ready=${k.ready}${k.reason ? ` ${k.reason}` : ''}${k.message ? `: ${k.message.split('\n')[0]}` : ''}`),
          ...waiting.map((k) => `kustomization ${k.id}: waiting (${k.reason ?? k.message ?? 'not ready'})`),
        ],
        next: controllers.length
          ? ['kubectl -n flux-system get pods', 'flux check', 'flux logs --level=error']
          : [
              `flux logs --kind=Kustomization --name=${name} --namespace=${ns}`,
              `fix the manifests in git and push, then: flux reconcile kustomization ${name} --namespace ${ns} --with-source`,
              `to stop Flux while you work: ${task('cluster:emergency-recovery', 'flux suspend-all')}`,
            ],
      });
    }
    const suspended = f.kustomizations.filter((k) => k.suspended);
    if (suspended.length) {
      out.push({
        id: 'flux-suspended',
        title: `${suspended.length} Flux Kustomization(s) suspended: git changes are not applied`,
        evidence: suspended.map((k) => `kustomization ${k.id}: suspended`),
        next: [task('cluster:emergency-recovery', 'flux resume-all')],
      });
    }
  }

  // 8. Pods: the long tail.
  if (f.pods && f.pods.problems.length) {
    const p = f.pods.problems;
    out.push({
      id: 'pods-failing',
      title: `${p.length} of ${f.pods.total} pods not running`,
      evidence: p.slice(0, 20).map((x) => `pod ${x.namespace}/${x.name}: ${x.phase}${x.reason ? ` (${x.reason})` : ''}`),
      next: p.slice(0, 1).map((x) => `kubectl -n ${x.namespace} describe pod ${x.name} && kubectl -n ${x.namespace} logs ${x.name} --all-containers --previous`),
    });
  }

  if (out.length === 0) {
    out.push({
      id: 'healthy',
      title: 'no fault found: Talos, etcd, the API (VIP), nodes, Cilium and Flux look healthy',
      evidence: [
        `${f.nodes.length} nodes configured`,
        `etcd members: ${(f.etcdMembers ?? []).map((m) => m.hostname).join(', ') || 'n/a'}`,
        ...(f.k8sNodes ? [`${f.k8sNodes.filter((n) => n.ready).length}/${f.k8sNodes.length} nodes Ready`] : []),
      ],
      next: first ? [`talosctl -e ${first.ip} -n ${first.ip} health   (the full Talos health check)`] : [],
    });
  }
  return out;
}
