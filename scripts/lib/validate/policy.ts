import type { ClusterTree } from './flux.ts';
import { apiGroup, describe, namespaceOf, type Finding, type K8sObject } from './model.ts';

// Network policy, checked against what each namespace says it needs. A platform Namespace declares its dependencies in
// the annotation network.home-ops/needs (comma-separated):
//   dns                   egress to kube-dns (kube-system, port 53)
//   kube-apiserver        egress to the API server (entity kube-apiserver)
//   <namespace>:<port|*>  egress to pods of that namespace, and — when that namespace is policy-managed too — an
//                         ingress rule there admitting this namespace (both ends are default-deny)
//   fqdn:<name>:<port>    egress toFQDNs matchName
//   cidr:<cidr>:<port>    egress toCIDR
//   entity:<entity>:<port> egress toEntities (world, ingress = through the Gateway, …)
//   from:<entity>:<port>  ingress fromEntities (ingress = the Gateway's Envoy, kube-apiserver = webhooks, world, host)
// The check: every policy-managed namespace has a default-deny CiliumNetworkPolicy; every declared need is allowed
// (a missing allow names both ends and the side that lacks the rule); and nothing else is open — an allow rule no
// need explains is reported too. Once one Namespace declares needs, every Namespace the tree creates must.

export const NEEDS_ANNOTATION = 'network.home-ops/needs';
const NS_LABEL = 'k8s:io.kubernetes.pod.namespace';

type Peer = { kind: 'ns' | 'entity' | 'fqdn' | 'cidr'; value: string };
interface Edge {
  ns: string;
  dir: 'egress' | 'ingress';
  peer: Peer;
  /** '*' = any port */
  port: string;
  file?: string;
  object: string;
}

interface Rule {
  toEndpoints?: { matchLabels?: Record<string, string> }[];
  fromEndpoints?: { matchLabels?: Record<string, string> }[];
  toEntities?: string[];
  fromEntities?: string[];
  toFQDNs?: { matchName?: string; matchPattern?: string }[];
  toCIDR?: string[];
  fromCIDR?: string[];
  toPorts?: { ports?: { port?: string | number }[] }[];
}

const isCnp = (o: K8sObject) => o.kind === 'CiliumNetworkPolicy' && apiGroup(String(o.apiVersion ?? '')) === 'cilium.io';

function portsOf(r: Rule): string[] {
  const ps = (r.toPorts ?? []).flatMap((tp) => (tp.ports ?? []).map((p) => String(p.port ?? '*')));
  return ps.length ? ps : ['*'];
}

function isEmptyRule(r: Rule): boolean {
  return Object.keys(r).length === 0;
}

/** The edges one policy opens, and whether it is a default-deny (empty endpointSelector, empty rules both ways). */
function edgesOf(o: K8sObject, file: string | undefined): { edges: Edge[]; defaultDeny: boolean } {
  const ns = namespaceOf(o);
  const spec = (o.spec ?? {}) as { endpointSelector?: { matchLabels?: object; matchExpressions?: unknown[] }; ingress?: Rule[]; egress?: Rule[] };
  const sel = spec.endpointSelector ?? {};
  const selectsAll = Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
  const object = describe(o);
  const edges: Edge[] = [];
  const add = (dir: Edge['dir'], peer: Peer, r: Rule) => {
    for (const port of portsOf(r)) edges.push({ ns, dir, peer, port, object, ...(file ? { file } : {}) });
  };
  for (const r of spec.egress ?? []) {
    for (const e of r.toEndpoints ?? []) add('egress', { kind: 'ns', value: e.matchLabels?.[NS_LABEL] ?? ns }, r);
    for (const e of r.toEntities ?? []) add('egress', { kind: 'entity', value: e }, r);
    for (const f of r.toFQDNs ?? []) add('egress', { kind: 'fqdn', value: f.matchName ?? f.matchPattern ?? '' }, r);
    for (const c of r.toCIDR ?? []) add('egress', { kind: 'cidr', value: c }, r);
  }
  for (const r of spec.ingress ?? []) {
    for (const e of r.fromEndpoints ?? []) add('ingress', { kind: 'ns', value: e.matchLabels?.[NS_LABEL] ?? ns }, r);
    for (const e of r.fromEntities ?? []) add('ingress', { kind: 'entity', value: e }, r);
    for (const c of r.fromCIDR ?? []) add('ingress', { kind: 'cidr', value: c }, r);
  }
  const denyIn = (spec.ingress ?? []).length > 0 && (spec.ingress ?? []).every(isEmptyRule);
  const denyOut = (spec.egress ?? []).length > 0 && (spec.egress ?? []).every(isEmptyRule);
  return { edges, defaultDeny: selectsAll && denyIn && denyOut };
}

interface Need {
  ns: string;
  dir: 'egress' | 'ingress';
  peer: Peer;
  port: string;
  text: string;
}

/** Parses one namespace's needs; unknown forms come back as errors. */
export function parseNeeds(ns: string, text: string): { needs: Need[]; errors: string[] } {
  const needs: Need[] = [];
  const errors: string[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    // A port may arrive quoted from a substituted setting (DB_BACKUP_PORT is "443", a string for Cilium's schema).
    const parts = raw.split(':').map((x) => x.replace(/^"(.*)"$/, '$1'));
    const need = (dir: Need['dir'], peer: Peer, port: string) => needs.push({ ns, dir, peer, port, text: raw });
    if (raw === 'dns') need('egress', { kind: 'ns', value: 'kube-system' }, '53');
    else if (raw === 'kube-apiserver') need('egress', { kind: 'entity', value: 'kube-apiserver' }, '*');
    else if (parts.length === 3 && ['fqdn', 'cidr', 'entity'].includes(parts[0]!)) need('egress', { kind: parts[0] as Peer['kind'], value: parts[1]! }, parts[2]!);
    else if (parts.length === 3 && parts[0] === 'from') need('ingress', { kind: 'entity', value: parts[1]! }, parts[2]!);
    else if (parts.length === 2 && /^[a-z0-9-]+$/.test(parts[0]!) && /^(\d+|\*)$/.test(parts[1]!)) need('egress', { kind: 'ns', value: parts[0]! }, parts[1]!);
    else errors.push(`"${raw}" is not a need (dns, kube-apiserver, <namespace>:<port|*>, fqdn:<name>:<port>, cidr:<cidr>:<port>, entity:<entity>:<port>, from:<entity>:<port>)`);
  }
  return { needs, errors };
}

const peerText = (p: Peer) => (p.kind === 'ns' ? p.value : `${p.kind} ${p.value}`);
const samePeer = (a: Peer, b: Peer) => a.kind === b.kind && a.value === b.value;
const portCovers = (rule: string, want: string) => rule === '*' || rule === want;

export function checkPolicies(tree: ClusterTree, findings: Finding[]): void {
  const namespaces = tree.objects.filter((a) => a.obj.kind === 'Namespace' && a.obj.apiVersion === 'v1');
  const declared = namespaces.filter((a) => typeof a.obj.metadata?.annotations?.[NEEDS_ANNOTATION] === 'string');
  const policies = tree.objects.filter((a) => isCnp(a.obj));
  if (declared.length === 0 && policies.length === 0) return;

  const managed = new Set(declared.map((a) => a.obj.metadata!.name!));
  const needs: Need[] = [];
  for (const a of namespaces) {
    const name = a.obj.metadata?.name ?? '';
    const at = { check: 'policy' as const, ...(a.file ? { file: a.file } : {}), object: describe(a.obj) };
    const text = a.obj.metadata?.annotations?.[NEEDS_ANNOTATION];
    if (typeof text !== 'string') {
      findings.push({ ...at, message: `declares no ${NEEDS_ANNOTATION}: every namespace the platform creates starts from deny-all and says what it needs (an empty string for nothing)` });
      continue;
    }
    const parsed = parseNeeds(name, text);
    for (const e of parsed.errors) findings.push({ ...at, message: `${NEEDS_ANNOTATION}: ${e}` });
    needs.push(...parsed.needs);
  }

  const edges: Edge[] = [];
  const denied = new Set<string>();
  for (const a of policies) {
    const r = edgesOf(a.obj, a.file);
    edges.push(...r.edges);
    if (r.defaultDeny) denied.add(namespaceOf(a.obj));
  }
  for (const a of declared) {
    const name = a.obj.metadata!.name!;
    if (!denied.has(name)) {
      findings.push({ check: 'policy', ...(a.file ? { file: a.file } : {}), object: describe(a.obj), message: `has no default-deny CiliumNetworkPolicy (endpointSelector: {}, ingress: [{}], egress: [{}]): its pods are open to everything` });
    }
  }

  // Each need, at both ends.
  const required: Need[] = [];
  for (const n of needs) {
    required.push(n);
    if (n.dir === 'egress' && n.peer.kind === 'ns' && managed.has(n.peer.value)) {
      required.push({ ns: n.peer.value, dir: 'ingress', peer: { kind: 'ns', value: n.ns }, port: n.port, text: `${n.ns}: ${n.text}` });
    }
  }
  const nsFile = (ns: string) => namespaces.find((a) => a.obj.metadata?.name === ns)?.file;
  for (const r of required) {
    const ok = edges.some((e) => e.ns === r.ns && e.dir === r.dir && samePeer(e.peer, r.peer) && portCovers(e.port, r.port));
    if (ok) continue;
    const [from, to] = r.dir === 'egress' ? [r.ns, peerText(r.peer)] : [peerText(r.peer), r.ns];
    const file = nsFile(r.ns);
    findings.push({
      check: 'policy',
      ...(file ? { file } : {}),
      object: `Namespace ${r.ns}`,
      message: `${from} → ${to} port ${r.port} (need "${r.text}"): no ${r.dir} rule in namespace ${r.ns} ${r.dir === 'egress' ? 'allows it' : 'admits it'}, so the default-deny drops it`,
    });
  }
  // Nothing else open.
  for (const e of edges) {
    const explained = required.some((r) => r.ns === e.ns && r.dir === e.dir && samePeer(e.peer, r.peer) && (e.port === r.port || (e.port === '*' && r.port === '*')));
    if (explained) continue;
    const [from, to] = e.dir === 'egress' ? [e.ns, peerText(e.peer)] : [peerText(e.peer), e.ns];
    findings.push({
      check: 'policy',
      ...(e.file ? { file: e.file } : {}),
      object: e.object,
      message: `opens ${from} → ${to} port ${e.port} (${e.dir}), which no declared need explains: add it to ${NEEDS_ANNOTATION} of Namespace ${e.dir === 'egress' ? e.ns : e.peer.kind === 'ns' ? e.peer.value : e.ns} or remove the rule`,
    });
  }
}
