import ipaddr from 'ipaddr.js';
import { FLUX_NAMESPACE } from '../flux/kustomizations.ts';
import type { AppliedObject, ClusterTree } from './flux.ts';
import { apiGroup, describe, namespaceOf, type Finding, type K8sObject } from './model.ts';

// The front door, checked offline:
//   - routes: every HTTPRoute's parent Gateway and listener exist, the listener admits the route's namespace, and each
//     hostname is in the cluster's zone (DNS_ZONE) and matches the listener's hostname;
//   - addresses: every address pinned on a Service or Gateway lies in the LB IPAM pool (LB_CIDR), no two owners pin
//     one address, and every address DNS names (the LB_IP_* settings, and the config's A records in the pool) is
//     pinned somewhere — an unpinned one goes to whichever Service asks first.
// Both read the cluster's own settings from the cluster-settings ConfigMap the tree applies.

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const LBIPAM_IPS = 'lbipam.cilium.io/ips';
export const LBIPAM_SHARING_KEY = 'lbipam.cilium.io/sharing-key';

export function clusterSettingsOf(tree: ClusterTree): Record<string, string> {
  const cm = tree.objects.find((a) => a.obj.kind === 'ConfigMap' && a.obj.metadata?.name === 'cluster-settings' && (a.obj.metadata?.namespace ?? FLUX_NAMESPACE) === FLUX_NAMESPACE);
  return ((cm?.obj as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<string, string>;
}

const isGatewayKind = (o: K8sObject, kind: string) => o.kind === kind && apiGroup(String(o.apiVersion ?? '')) === GATEWAY_GROUP;

interface Listener {
  name?: string;
  hostname?: string;
  allowedRoutes?: { namespaces?: { from?: string; selector?: { matchLabels?: Record<string, string> } } };
}

interface ParentRef {
  group?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  sectionName?: string;
}

/** Does a route hostname fall under a listener hostname (Gateway API: "*.a.b" matches one or more labels before a.b)? */
export function hostnameMatches(listener: string | undefined, host: string): boolean {
  if (!listener) return true;
  if (listener.startsWith('*.')) return host.endsWith(listener.slice(1)) && host.length > listener.length - 1;
  if (host.startsWith('*.')) return listener.endsWith(host.slice(1));
  return listener === host;
}

function inZone(host: string, zone: string): boolean {
  const h = host.replace(/^\*\./, '').replace(/\.$/, '');
  const z = zone.replace(/\.$/, '');
  return h === z || h.endsWith(`.${z}`);
}

export function checkRoutes(tree: ClusterTree, findings: Finding[]): void {
  const zone = clusterSettingsOf(tree).DNS_ZONE;
  const gateways = new Map<string, AppliedObject>();
  for (const a of tree.objects) if (isGatewayKind(a.obj, 'Gateway')) gateways.set(`${namespaceOf(a.obj)}/${a.obj.metadata?.name}`, a);
  const namespaceLabels = new Map<string, Record<string, string>>();
  for (const a of tree.objects) if (a.obj.kind === 'Namespace' && a.obj.apiVersion === 'v1') namespaceLabels.set(a.obj.metadata?.name ?? '', { 'kubernetes.io/metadata.name': a.obj.metadata?.name ?? '', ...(a.obj.metadata?.labels ?? {}) });

  for (const a of tree.objects) {
    if (!isGatewayKind(a.obj, 'HTTPRoute')) continue;
    const o = a.obj;
    const ns = namespaceOf(o);
    const at = { check: 'routes' as const, ...(a.file ? { file: a.file } : {}), object: describe(o) };
    const spec = (o.spec ?? {}) as { parentRefs?: ParentRef[]; hostnames?: string[] };
    const hostnames = spec.hostnames ?? [];
    if (zone) {
      for (const h of hostnames) if (!inZone(h, zone)) findings.push({ ...at, message: `hostname ${h} is outside the cluster's zone ${zone} (DNS_ZONE): external-dns will not publish it and the certificate does not cover it` });
    }
    if (!spec.parentRefs?.length) findings.push({ ...at, message: 'has no parentRefs: it attaches to no Gateway and serves nothing' });
    for (const ref of spec.parentRefs ?? []) {
      if ((ref.kind ?? 'Gateway') !== 'Gateway' || (ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP) continue;
      const gwId = `${ref.namespace ?? ns}/${ref.name ?? ''}`;
      const gw = gateways.get(gwId);
      if (!gw) {
        findings.push({ ...at, message: `parentRef Gateway ${gwId}: no such Gateway in the tree (Gateways: ${[...gateways.keys()].join(', ') || 'none'})` });
        continue;
      }
      const listeners = ((gw.obj.spec ?? {}) as { listeners?: Listener[] }).listeners ?? [];
      const chosen = ref.sectionName ? listeners.filter((l) => l.name === ref.sectionName) : listeners;
      if (ref.sectionName && chosen.length === 0) {
        findings.push({ ...at, message: `parentRef Gateway ${gwId} sectionName ${ref.sectionName}: the Gateway has no such listener (listeners: ${listeners.map((l) => l.name).join(', ')})` });
        continue;
      }
      const admitting = chosen.filter((l) => admits(l, ns, namespaceOf(gw.obj), namespaceLabels.get(ns)));
      const where = ref.sectionName ? `listener ${ref.sectionName} of Gateway ${gwId}` : `no listener of Gateway ${gwId}`;
      if (admitting.length === 0) {
        findings.push({ ...at, message: `${ref.sectionName ? `${where} does not` : where} admit${ref.sectionName ? '' : 's'} routes from namespace ${ns} (allowedRoutes.namespaces); label the namespace or attach elsewhere` });
        continue;
      }
      for (const h of hostnames) {
        if (!admitting.some((l) => hostnameMatches(l.hostname, h))) {
          findings.push({ ...at, message: `hostname ${h} matches no hostname of ${ref.sectionName ? `listener ${ref.sectionName}` : 'the listeners'} of Gateway ${gwId} (${admitting.map((l) => l.hostname ?? '(any)').join(', ')}): the route would not attach` });
        }
      }
    }
  }
}

function admits(l: Listener, routeNs: string, gatewayNs: string, labels: Record<string, string> | undefined): boolean {
  const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return routeNs === gatewayNs;
  if (from === 'Selector') {
    const want = l.allowedRoutes?.namespaces?.selector?.matchLabels ?? {};
    return !!labels && Object.entries(want).every(([k, v]) => labels[k] === v);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

interface Pin {
  ip: string;
  owner: string;
  sharingKey?: string;
  file?: string;
  object: string;
}

function isIPv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s);
}

/** Pins in a Service-like map (a Service, or a chart's service values): the LB IPAM annotation or loadBalancerIP. */
export function pinsOf(node: Record<string, unknown>): { ips: string[]; sharingKey?: string } | undefined {
  const ann = node.annotations as Record<string, unknown> | undefined;
  const spec = (node.spec ?? node) as Record<string, unknown>;
  const ips: string[] = [];
  if (ann && typeof ann[LBIPAM_IPS] === 'string') ips.push(...(ann[LBIPAM_IPS] as string).split(',').map((s) => s.trim()).filter(Boolean));
  if (typeof spec.loadBalancerIP === 'string') ips.push(spec.loadBalancerIP);
  if (!ips.length) return undefined;
  const key = ann?.[LBIPAM_SHARING_KEY];
  return { ips, ...(typeof key === 'string' ? { sharingKey: key } : {}) };
}

function collectPins(a: AppliedObject): Pin[] {
  const o = a.obj;
  const object = describe(o);
  const base = { object, ...(a.file ? { file: a.file } : {}) };
  if (isGatewayKind(o, 'Gateway')) {
    const addrs = ((o.spec ?? {}) as { addresses?: { type?: string; value?: string }[] }).addresses ?? [];
    return addrs.filter((x) => (x.type ?? 'IPAddress') === 'IPAddress' && x.value).map((x) => ({ ...base, ip: x.value!, owner: `Gateway ${namespaceOf(o)}/${o.metadata?.name}` }));
  }
  if (o.kind === 'Service' && o.apiVersion === 'v1') {
    const p = pinsOf({ annotations: o.metadata?.annotations, spec: o.spec });
    return p ? p.ips.map((ip) => ({ ...base, ip, owner: object, ...(p.sharingKey ? { sharingKey: p.sharingKey } : {}) })) : [];
  }
  if (o.kind === 'HelmRelease') {
    // Charts render Services from values: any map in the values carrying the LB IPAM annotation pins an address.
    const out: Pin[] = [];
    const walk = (v: unknown, path: string) => {
      if (!v || typeof v !== 'object') return;
      if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}[${i}]`));
      const m = v as Record<string, unknown>;
      const ann = m.annotations as Record<string, unknown> | undefined;
      if (ann && typeof ann[LBIPAM_IPS] === 'string') {
        const p = pinsOf(m)!;
        for (const ip of p.ips) out.push({ ...base, ip, owner: `${object} (values ${path})`, ...(p.sharingKey ? { sharingKey: `${object}/${p.sharingKey}` } : {}) });
      }
      for (const [k, x] of Object.entries(m)) walk(x, path ? `${path}.${k}` : k);
    };
    walk((o.spec as { values?: unknown } | undefined)?.values, '');
    return out;
  }
  return [];
}

/** Addresses the cluster's DNS names, by the setting or config field that names them. */
export type NamedAddresses = Map<string, string>;

export function checkAddresses(tree: ClusterTree, findings: Finding[], extraNamed: NamedAddresses = new Map()): void {
  const settings = clusterSettingsOf(tree);
  const pool = settings.LB_CIDR;
  let cidr: [ipaddr.IPv4, number] | undefined;
  try {
    cidr = pool ? (ipaddr.IPv4.parseCIDR(pool) as [ipaddr.IPv4, number]) : undefined;
  } catch {
    cidr = undefined;
  }
  const pins = tree.objects.flatMap(collectPins);
  const byIp = new Map<string, Pin[]>();
  for (const p of pins) {
    const at = { check: 'addresses' as const, ...(p.file ? { file: p.file } : {}), object: p.object };
    if (!isIPv4(p.ip)) {
      findings.push({ ...at, message: `pins "${p.ip}", which is not an IPv4 address` });
      continue;
    }
    if (!cidr) findings.push({ ...at, message: `pins ${p.ip} but the cluster has no LB IPAM pool (LB_CIDR, network.loadBalancerCidr)` });
    else if (!ipaddr.IPv4.parse(p.ip).match(cidr)) findings.push({ ...at, message: `pins ${p.ip}, outside the LB IPAM pool ${pool} (LB_CIDR): LB IPAM never assigns it and the Service stays pending` });
    byIp.set(p.ip, [...(byIp.get(p.ip) ?? []), p]);
  }
  for (const [ip, list] of byIp) {
    const owners = new Set(list.map((p) => p.sharingKey ?? `unshared:${p.owner}`));
    if (owners.size > 1) {
      const first = list[0]!;
      findings.push({
        check: 'addresses',
        ...(first.file ? { file: first.file } : {}),
        object: first.object,
        message: `${ip} is pinned by ${list.map((p) => p.owner).join(' and ')}: one address, one owner (or the same ${LBIPAM_SHARING_KEY})`,
      });
    }
  }
  const named: NamedAddresses = new Map(extraNamed);
  for (const [k, v] of Object.entries(settings)) if (/^LB_IP_[A-Z0-9_]+$/.test(k)) named.set(v, named.get(v) ?? `${k} in cluster-settings`);
  const settingsFile = tree.objects.find((a) => a.obj.kind === 'ConfigMap' && a.obj.metadata?.name === 'cluster-settings')?.file;
  for (const [ip, what] of named) {
    if (!byIp.has(ip)) {
      findings.push({
        check: 'addresses',
        ...(settingsFile ? { file: settingsFile } : {}),
        message: `${ip} (${what}) is named by DNS but pinned on no Service or Gateway: pin it (Gateway spec.addresses, or the ${LBIPAM_IPS} annotation) or LB IPAM hands it to whichever Service asks first`,
      });
    }
  }
}
