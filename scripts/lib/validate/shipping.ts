import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cidrWithin } from '../config/rules.ts';
import type { AppliedObject, ClusterTree } from './flux.ts';
import { describe, namespaceOf, type Finding } from './model.ts';
import { clusterSettingsOf, pinsOf } from './traffic.ts';

// Metrics and logs shipped across clusters, checked on both trees: a cluster whose config ships (monitoring.shipTo →
// MONITORING_SHIP_TO, MONITORING_SHIP_ADDRESS) writes to the receiving cluster's pinned address, so that cluster's tree
// must have LoadBalancer Services for VictoriaMetrics (:8428) and VictoriaLogs (:9428) pinned on exactly that address,
// whose loadBalancerSourceRanges admit the shipping cluster's node network (NODE_CIDR). Each finding names the
// shipping cluster's settings file and config field, and the receiving cluster's Service, file and config field.

/** What the shipping agents write to on the receiving cluster. */
export const SHIPPED = [
  { port: 8428, what: 'VictoriaMetrics remote write (vmagent)' },
  { port: 9428, what: 'VictoriaLogs insert (Fluent Bit)' },
] as const;

interface Receiver {
  a: AppliedObject;
  ips: string[];
  ranges: string[];
}

function receiversOn(tree: ClusterTree, port: number): Receiver[] {
  const out: Receiver[] = [];
  for (const a of tree.objects) {
    const o = a.obj;
    if (o.kind !== 'Service' || o.apiVersion !== 'v1' || namespaceOf(o) !== 'monitoring') continue;
    const spec = (o.spec ?? {}) as { type?: string; ports?: { port?: number }[]; loadBalancerSourceRanges?: unknown };
    if (spec.type !== 'LoadBalancer' || !(spec.ports ?? []).some((p) => p.port === port)) continue;
    const ips = pinsOf({ annotations: o.metadata?.annotations, spec: o.spec })?.ips ?? [];
    const ranges = Array.isArray(spec.loadBalancerSourceRanges) ? spec.loadBalancerSourceRanges.map(String) : [];
    out.push({ a, ips, ranges });
  }
  return out;
}

/** cidrWithin for ranges read from a tree, where a malformed one admits nothing. */
function within(inner: string, outer: string): boolean {
  try {
    return cidrWithin(inner, outer);
  } catch {
    return false;
  }
}

export function checkShipping(trees: ClusterTree[], root: string, findings: Finding[]): void {
  const byName = new Map(trees.map((t) => [t.cluster, t]));
  for (const t of trees) {
    const s = clusterSettingsOf(t);
    const target = s.MONITORING_SHIP_TO;
    const address = s.MONITORING_SHIP_ADDRESS;
    if (!target || !address) continue;
    const settingsFile = t.objects.find((a) => a.obj.kind === 'ConfigMap' && a.obj.metadata?.name === 'cluster-settings')?.file ?? `kubernetes/clusters/${t.cluster}/cluster-settings.yaml`;
    const ours = `cluster ${t.cluster}'s monitoring.shipTo.address ${address} (MONITORING_SHIP_ADDRESS in ${settingsFile})`;
    const at = { check: 'shipping' as const, file: settingsFile };
    const receiving = byName.get(target);
    if (!receiving) {
      // Validating one cluster alone (--cluster) does not load the other; a receiver with no tree at all is an error.
      if (!existsSync(join(root, 'kubernetes', 'clusters', target))) {
        findings.push({ ...at, message: `cluster ${t.cluster} ships its metrics and logs to cluster ${target} (monitoring.shipTo.cluster), which has no tree kubernetes/clusters/${target}: render it with \`task configure -- --config <${target}'s config>\` or fix shipTo.cluster` });
      }
      continue;
    }
    const theirSettings = `kubernetes/clusters/${target}/cluster-settings.yaml`;
    for (const { port, what } of SHIPPED) {
      const receivers = receiversOn(receiving, port);
      if (receivers.length === 0) {
        findings.push({
          ...at,
          message: `${ours} ships ${what} to cluster ${target}, whose tree has no LoadBalancer Service in namespace monitoring on port ${port}: give ${target}'s config network.loadBalancerIps.monitoring and monitoring.receiveFrom (${theirSettings}: LB_IP_MONITORING, MONITORING_SOURCE_RANGES), or remove shipTo`,
        });
        continue;
      }
      const pinned = receivers.filter((r) => r.ips.includes(address));
      if (pinned.length === 0) {
        const r = receivers[0]!;
        findings.push({
          ...at,
          object: describe(r.a.obj),
          message: `${ours} is not where cluster ${target} receives ${what}: ${describe(r.a.obj)} (${r.a.file ?? 'its tree'}) is pinned on ${r.ips.join(', ') || 'no address'} (${target}'s network.loadBalancerIps.monitoring, LB_IP_MONITORING in ${theirSettings}); make the two the same address`,
        });
        continue;
      }
      const nodeCidr = s.NODE_CIDR;
      for (const r of pinned) {
        if (nodeCidr && !r.ranges.some((range) => within(nodeCidr, range))) {
          findings.push({
            check: 'shipping',
            ...(r.a.file ? { file: r.a.file } : {}),
            object: describe(r.a.obj),
            message: `cluster ${target} refuses cluster ${t.cluster}'s ${what}: its loadBalancerSourceRanges [${r.ranges.join(', ')}] (${target}'s monitoring.receiveFrom, MONITORING_SOURCE_RANGES in ${theirSettings}) do not include ${t.cluster}'s node network ${nodeCidr} (network.nodeCidr, NODE_CIDR in ${settingsFile}); add it to receiveFrom`,
          });
        }
      }
    }
  }
}
