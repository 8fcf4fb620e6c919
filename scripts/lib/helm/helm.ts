import { isDeepStrictEqual } from 'node:util';
import type { ClusterConfig } from '../config/load.ts';

// helm argv builders, output parsers and the Cilium values: small pure functions, no I/O.
//
//   upgradeInstallArgv(HelmRelease)     helm upgrade --install R CHART --repo URL --version V -n NS -f VALUES
//   listArgv(release, ns)               helm list -n NS --filter ^R$ -o json
//   getValuesArgv(release, ns)          helm get values R -n NS -o json        (user-supplied values only)
//   parseList(stdout)                   → [{ name, status, chart, app_version }]
//   chartVersion("cilium-1.18.3", "cilium") → "1.18.3"
//   sameValues(a, b)                    deep equality after a JSON round trip (key order and undefined don't matter)
//   ciliumRelease(config, valuesFile)   the Cilium release the bootstrap installs
//   ciliumValues(config)                the Talos-specific Cilium values (Gateway API, L2 announcements, Hubble), a pure function of the config

export interface HelmRelease {
  release: string;
  chart: string;
  repo: string;
  version: string;
  namespace: string;
  valuesFile: string;
}

export function upgradeInstallArgv(r: HelmRelease): string[] {
  return [
    'helm', 'upgrade', '--install', r.release, r.chart,
    '--repo', r.repo,
    '--version', r.version,
    '--namespace', r.namespace,
    '--values', r.valuesFile,
  ];
}

export function listArgv(release: string, namespace: string): string[] {
  return ['helm', 'list', '--namespace', namespace, '--filter', `^${release}$`, '--output', 'json'];
}

export function getValuesArgv(release: string, namespace: string): string[] {
  return ['helm', 'get', 'values', release, '--namespace', namespace, '--output', 'json'];
}

export function versionArgv(): string[] {
  return ['helm', 'version', '--short'];
}

export interface ListedRelease {
  name: string;
  namespace?: string;
  status: string;
  chart: string;
  app_version?: string;
}

export function parseList(stdout: string): ListedRelease[] {
  const parsed = JSON.parse(stdout.trim() || '[]') as unknown;
  return Array.isArray(parsed) ? (parsed as ListedRelease[]) : [];
}

/** `helm list` shows the chart as "<name>-<version>". */
export function chartVersion(chart: string, name: string): string | undefined {
  return chart.startsWith(`${name}-`) ? chart.slice(name.length + 1) : undefined;
}

export function sameValues(a: unknown, b: unknown): boolean {
  const norm = (v: unknown) => JSON.parse(JSON.stringify(v ?? {})) as unknown;
  return isDeepStrictEqual(norm(a), norm(b));
}

// ---------------------------------------------------------------------------------------------------------------
// Cilium on Talos (siderolabs/talos v1.11 "Deploying Cilium CNI"; tool-facts §4)

export const CILIUM_REPO = 'https://helm.cilium.io';
export const CILIUM_NAMESPACE = 'kube-system';
export const CILIUM_RELEASE = 'cilium';

export function ciliumRelease(c: ClusterConfig, valuesFile: string): HelmRelease {
  return {
    release: CILIUM_RELEASE,
    chart: 'cilium',
    repo: CILIUM_REPO,
    version: c.versions.cilium,
    namespace: CILIUM_NAMESPACE,
    valuesFile,
  };
}

export function ciliumValues(c: ClusterConfig): Record<string, unknown> {
  return {
    cluster: { name: c.cluster.name, id: c.cluster.id },
    // Node pod CIDRs come from the controller manager (cluster.network.podSubnets in the Talos patch).
    ipam: { mode: 'kubernetes' },
    // Dual-stack (the config's ipv6 section): pods get an IPv6 address from the node's IPv6 pod CIDR too.
    ...(c.ipv6 ? { ipv6: { enabled: true } } : {}),
    // ClusterMesh (the config's clusterMesh section): this cluster's clustermesh-apiserver on its LoadBalancer address,
    // and the peers' apiservers (read from their configs) to connect to.
    ...(c.clusterMesh
      ? {
          clustermesh: {
            useAPIServer: true,
            apiserver: { service: { type: 'LoadBalancer', loadBalancerIP: c.clusterMesh.apiServerIp } },
            config: { enabled: true, clusters: c.clusterMesh.remotes.map((r) => ({ name: r.name, ips: [r.apiServerIp], port: 2379 })) },
          },
        }
      : {}),
    // The Talos patch disables kube-proxy; Cilium replaces it and reaches the API through KubePrism, which every node
    // runs on localhost:7445 — so Cilium needs neither the VIP nor a working Service network to start.
    kubeProxyReplacement: true,
    k8sServiceHost: 'localhost',
    k8sServicePort: 7445,
    // Talos forbids SYS_MODULE and mounts cgroup v2 itself.
    securityContext: {
      capabilities: {
        ciliumAgent: ['CHOWN', 'KILL', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'SYS_ADMIN', 'SYS_RESOURCE', 'DAC_OVERRIDE', 'FOWNER', 'SETGID', 'SETUID'],
        cleanCiliumState: ['NET_ADMIN', 'SYS_ADMIN', 'SYS_RESOURCE'],
      },
    },
    cgroup: { autoMount: { enabled: false }, hostRoot: '/sys/fs/cgroup' },
    // The operator's two default replicas repel each other: on a one-node cluster the second would stay Pending.
    operator: { replicas: Math.min(2, c.nodes.length) },
    // The front door: Cilium's Gateway API controller (CRDs applied just before, see kubernetes/gateway-api.ts).
    gatewayAPI: { enabled: true },
    // LoadBalancer addresses: LB IPAM (always on; the pool is kubernetes/infrastructure/cilium-lb) announced over ARP
    // by one node per Service, chosen through a Lease per Service (Documentation/network/l2-announcements.rst).
    l2announcements: { enabled: true, leaseDuration: '15s', leaseRenewDeadline: '5s', leaseRetryPeriod: '2s' },
    externalIPs: { enabled: true },
    // Every announced Service renews its Lease each leaseRenewDeadline; the docs size the client rate limit as
    // #services / leaseRenewDeadline on top of the agent's own traffic (default 10 QPS): here every pool address.
    k8sClientRateLimit: ciliumRateLimit(c),
    // Flow visibility (policy drops included): `hubble observe` through the relay, or the UI.
    hubble: {
      enabled: true,
      relay: { enabled: true },
      ui: { enabled: true },
      // With monitoring: Hubble's flow metrics on each agent (port hubble-metrics, 9965), scraped by vmagent.
      ...(c.monitoring ? { metrics: { enabled: ['dns', 'drop', 'tcp', 'flow', 'port-distribution', 'icmp', 'httpV2'] } } : {}),
    },
    // With monitoring: the agent's and operator's own metrics (agent port "prometheus", 9962).
    ...(c.monitoring ? { prometheus: { enabled: true }, operator: { replicas: Math.min(2, c.nodes.length), prometheus: { enabled: true } } } : {}),
  };
}

/** Client rate limit sized for L2 announcement Leases of every address in the pool (5 s renew deadline). */
export function ciliumRateLimit(c: ClusterConfig): { qps: number; burst: number } {
  const prefix = c.network.loadBalancerCidr ? Number(c.network.loadBalancerCidr.split('/')[1]) : 32;
  const services = 2 ** (32 - prefix);
  const qps = 10 + Math.ceil(services / 5);
  return { qps, burst: 2 * qps };
}

export function parseHelmVersion(stdout: string): string | undefined {
  return /\bv\d+\.\d+\.\d+/.exec(stdout)?.[0];
}
