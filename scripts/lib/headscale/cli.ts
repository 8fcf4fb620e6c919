import ipaddr from 'ipaddr.js';
import type { ClusterConfig } from '../config/load.ts';
import { parseJsonList } from '../core/json.ts';

// Headscale CLI argv builders, output parsers and the approval plan: pure functions (tool-facts.md §1).
//
// Two CLI generations, chosen from `headscale version`:
//   ≤0.25 ("routes"): headscale routes list -o json → [{id, node|machine, prefix, advertised, enabled}]
//                     headscale routes enable --route ROUTE_ID            (one route at a time)
//   ≥0.26 ("nodes"):  headscale nodes list -o json  → [{id, …, approved_routes, available_routes}]
//                     headscale nodes approve-routes --identifier ID --routes A,B
//                     (REPLACES the node's approved set: we always send approved ∪ new, never drop a route)
// Both:              headscale nodes list -o json (to select the cluster's nodes), headscale nodes delete -i ID --force
//
// Node selection (selectNodes): headscale.nodes (name or given name) if set; else headscale.tag if set; else the
// cluster's node names. headscale.user, when set, must match too. Routes: an advertised route is approved only when
// it equals (as a normalised prefix) one of headscale.routes (default nodeCidr + loadBalancerCidr).

export type Generation = 'routes' | 'nodes';

export interface HeadscaleVersion {
  text: string;
  major: number;
  minor: number;
  patch: number;
  generation: Generation;
}

export const versionArgv = (): string[] => ['headscale', 'version'];
export const nodesListArgv = (): string[] => ['headscale', 'nodes', 'list', '-o', 'json'];
export const routesListArgv = (): string[] => ['headscale', 'routes', 'list', '-o', 'json'];
/** Fallback detection for builds whose version is not a release number ("dev"): exit 0 only where `routes` exists. */
export const routesHelpArgv = (): string[] => ['headscale', 'routes', '--help'];
export const approveRoutesArgv = (nodeId: number, routes: string[]): string[] => [
  'headscale',
  'nodes',
  'approve-routes',
  '--identifier',
  String(nodeId),
  '--routes',
  routes.join(','),
];
export const enableRouteArgv = (routeId: number): string[] => ['headscale', 'routes', 'enable', '--route', String(routeId)];
export const deleteNodeArgv = (nodeId: number): string[] => ['headscale', 'nodes', 'delete', '--identifier', String(nodeId), '--force'];

/** "v0.25.1" (≤0.25) or "headscale version v0.26.1\ncommit: …" (newer); undefined when no release number is found. */
export function parseHeadscaleVersion(stdout: string): HeadscaleVersion | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)(?:[-+][\w.-]+)?/.exec(stdout);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { text: m[0], major, minor, patch, generation: generationOf(major, minor) };
}

export function generationOf(major: number, minor: number): Generation {
  return major > 0 || minor >= 26 ? 'nodes' : 'routes';
}

export interface HeadscaleNode {
  id: number;
  name: string;
  givenName: string;
  user: string | undefined;
  tags: string[];
  /** ≥0.26 only (empty on older servers). */
  approvedRoutes: string[];
  availableRoutes: string[];
}

export interface HeadscaleRoute {
  id: number;
  node: HeadscaleNode;
  prefix: string;
  advertised: boolean;
  enabled: boolean;
}

export class HeadscaleParseError extends Error {
  override name = 'HeadscaleParseError';
}

type Raw = Record<string, unknown>;
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function toNode(raw: Raw): HeadscaleNode {
  const user = raw.user as Raw | undefined;
  return {
    id: Number(raw.id),
    name: String(raw.name ?? ''),
    givenName: String(raw.given_name ?? raw.name ?? ''),
    user: typeof user?.name === 'string' ? user.name : undefined,
    // 0.22–0.27: forced_tags/valid_tags; 0.28+: tags.
    tags: [...new Set([...strings(raw.tags), ...strings(raw.forced_tags), ...strings(raw.valid_tags)])],
    approvedRoutes: strings(raw.approved_routes).map(normalizePrefix),
    availableRoutes: strings(raw.available_routes).map(normalizePrefix),
  };
}

export function parseNodes(stdout: string): HeadscaleNode[] {
  return parseJsonList(stdout, 'headscale nodes list -o json', HeadscaleParseError).map(toNode);
}

export function parseRoutes(stdout: string): HeadscaleRoute[] {
  return parseJsonList(stdout, 'headscale routes list -o json', HeadscaleParseError).map((raw) => {
    // 0.22 calls it "machine", 0.23–0.25 "node".
    const node = (raw.node ?? raw.machine ?? {}) as Raw;
    return { id: Number(raw.id), node: toNode(node), prefix: normalizePrefix(String(raw.prefix ?? '')), advertised: raw.advertised === true, enabled: raw.enabled === true };
  });
}

/** The network address form of a prefix ("10.0.10.0/24", "fd00::/64"); unparsable text is returned unchanged. */
export function normalizePrefix(prefix: string): string {
  try {
    const [addr, len] = ipaddr.parseCIDR(prefix);
    const bytes = addr.toByteArray();
    for (let i = 0; i < bytes.length; i++) {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
    }
    return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
  } catch {
    return prefix;
  }
}

export interface NodeSelector {
  names?: string[];
  tag?: string;
  user?: string;
}

export function selectorFromConfig(config: ClusterConfig): NodeSelector {
  const h = config.headscale;
  if (!h) return {};
  const sel: NodeSelector = {};
  if (h.nodes?.length) sel.names = h.nodes;
  else if (!h.tag) sel.names = config.nodes.map((n) => n.name);
  if (h.tag) sel.tag = h.tag;
  if (h.user) sel.user = h.user;
  return sel;
}

export function describeSelector(sel: NodeSelector): string {
  const parts: string[] = [];
  if (sel.names) parts.push(`named ${sel.names.join(', ')}`);
  if (sel.tag) parts.push(`tagged ${sel.tag}`);
  if (sel.user) parts.push(`of user ${sel.user}`);
  return parts.join(', ') || 'all';
}

export function nodeMatches(node: HeadscaleNode, sel: NodeSelector): boolean {
  if (sel.names && !sel.names.includes(node.givenName) && !sel.names.includes(node.name)) return false;
  if (sel.tag && !node.tags.includes(sel.tag)) return false;
  if (sel.user && node.user !== sel.user) return false;
  return true;
}

export function selectNodes(nodes: HeadscaleNode[], sel: NodeSelector): HeadscaleNode[] {
  return nodes.filter((n) => nodeMatches(n, sel));
}

/** One node's change: what it advertises, what is approved, what to approve now. */
export interface NodeRoutePlan {
  node: HeadscaleNode;
  /** Advertised and allowed, not yet approved: approved by this run. */
  approve: string[];
  /** Advertised, allowed and already approved: left alone. */
  alreadyApproved: string[];
  /** Advertised but not allowed by the config, not approved: never approved by us. */
  notAllowed: string[];
  /** Approved but not in the config (e.g. an exit node approved by hand): left as they are. */
  otherApproved: string[];
  /** ≥0.26: the full set sent to approve-routes (existing approvals are kept). ≤0.25: the route ids to enable. */
  approvedSet?: string[];
  routeIds?: number[];
}

export interface ApprovalPlan {
  nodes: NodeRoutePlan[];
  /** Allowed routes no selected node advertises. */
  unadvertised: string[];
}

const byPrefix = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** ≥0.26: from `nodes list`. */
export function planFromNodes(selected: HeadscaleNode[], allowedRoutes: string[]): ApprovalPlan {
  const allowed = new Set(allowedRoutes.map(normalizePrefix));
  const plans = selected.map((node): NodeRoutePlan => {
    const approved = new Set(node.approvedRoutes);
    const advertised = [...new Set(node.availableRoutes)];
    const approve = advertised.filter((p) => allowed.has(p) && !approved.has(p)).sort(byPrefix);
    return {
      node,
      approve,
      alreadyApproved: advertised.filter((p) => allowed.has(p) && approved.has(p)).sort(byPrefix),
      notAllowed: advertised.filter((p) => !allowed.has(p) && !approved.has(p)).sort(byPrefix),
      otherApproved: [...approved].filter((p) => !allowed.has(p)).sort(byPrefix),
      approvedSet: [...new Set([...node.approvedRoutes, ...approve])].sort(byPrefix),
    };
  });
  const advertisedAny = new Set(selected.flatMap((n) => n.availableRoutes));
  return { nodes: plans, unadvertised: [...allowed].filter((p) => !advertisedAny.has(p)).sort(byPrefix) };
}

/** ≤0.25: from `routes list` (route objects embed their node); `selected` decides which nodes count. */
export function planFromRoutes(selected: HeadscaleNode[], routes: HeadscaleRoute[], allowedRoutes: string[]): ApprovalPlan {
  const allowed = new Set(allowedRoutes.map(normalizePrefix));
  const plans = selected.map((node): NodeRoutePlan => {
    const own = routes.filter((r) => r.node.id === node.id && r.advertised);
    const toEnable = own.filter((r) => allowed.has(r.prefix) && !r.enabled).sort((a, b) => byPrefix(a.prefix, b.prefix));
    return {
      node,
      approve: toEnable.map((r) => r.prefix),
      alreadyApproved: own.filter((r) => allowed.has(r.prefix) && r.enabled).map((r) => r.prefix).sort(byPrefix),
      notAllowed: own.filter((r) => !allowed.has(r.prefix) && !r.enabled).map((r) => r.prefix).sort(byPrefix),
      otherApproved: routes.filter((r) => r.node.id === node.id && r.enabled && !allowed.has(r.prefix)).map((r) => r.prefix).sort(byPrefix),
      routeIds: toEnable.map((r) => r.id),
    };
  });
  const advertisedAny = new Set(routes.filter((r) => r.advertised && selected.some((n) => n.id === r.node.id)).map((r) => r.prefix));
  return { nodes: plans, unadvertised: [...allowed].filter((p) => !advertisedAny.has(p)).sort(byPrefix) };
}

/** The remote commands a plan needs, in order. */
export function approvalCommands(plan: ApprovalPlan, generation: Generation): string[][] {
  const out: string[][] = [];
  for (const p of plan.nodes) {
    if (!p.approve.length) continue;
    if (generation === 'nodes') out.push(approveRoutesArgv(p.node.id, p.approvedSet ?? p.approve));
    else for (const id of p.routeIds ?? []) out.push(enableRouteArgv(id));
  }
  return out;
}

/**
 * The same approvals as a Headscale policy (HuJSON) autoApprovers block, for users who prefer declarative approval.
 * Policy v2 (≥0.26) writes users as "name@"; v1 (≤0.25) as bare names.
 */
export function autoApproverPolicy(config: ClusterConfig, generation: Generation = 'nodes'): string {
  const h = config.headscale;
  if (!h) return '';
  const userRef = (u: string) => (generation === 'nodes' ? `${u}@` : u);
  const tag = h.tag ?? `tag:${config.cluster.name}-router`;
  const approver = h.tag || !h.user ? tag : userRef(h.user);
  const routes = Object.fromEntries(h.routes.map((r) => [normalizePrefix(r), [approver]]));
  const policy: Record<string, unknown> = {};
  if (approver.startsWith('tag:')) policy.tagOwners = { [tag]: h.user ? [userRef(h.user)] : ['autogroup:admin'] };
  policy.autoApprovers = { routes };
  const lines = [
    `// Headscale policy (${generation === 'nodes' ? 'v2, headscale ≥0.26' : 'v1, headscale ≤0.25'}): approve the cluster's subnet routes automatically.`,
    `// Merge into your policy file (policy.path) or: headscale policy set -f policy.hujson (database mode).`,
  ];
  if (approver.startsWith('tag:')) {
    lines.push(`// The nodes must advertise the tag: TS_EXTRA_ARGS=... --advertise-tags=${tag} (routes: TS_ROUTES=${h.routes.join(',')})`);
  }
  if (!h.tag && !h.user) lines.push(`// headscale.nodes selects nodes by name, which a policy cannot express: tag those nodes ${tag}.`);
  return `${lines.join('\n')}\n${JSON.stringify(policy, null, 2)}\n`;
}
