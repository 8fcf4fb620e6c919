import { parseObject } from './kubectl.ts';

// The Gateway API CRDs Cilium's Gateway controller needs. The bootstrap applies them before Cilium: the operator
// checks for them once at start and leaves its Gateway controller off when they are missing (Cilium 1.18
// Documentation/network/servicemesh/gateway-api/gateway-api.rst, "Prerequisites": Gateway API v1.3.0, the standard
// CRDs below plus the experimental TLSRoute).
//
//   gatewayApiCrdUrls()             the CRD files of that release (raw.githubusercontent.com, one per CRD)
//   applyGatewayApiCrdsArgv()       kubectl apply --server-side -f URL...   (idempotent; server-side: the CRDs are large)
//   getGatewayApiCrdsArgv()         kubectl get customresourcedefinitions NAME... -o json --ignore-not-found
//   missingGatewayApiCrds(stdout)   the CRDs absent or at another bundle version

export const GATEWAY_API_VERSION = 'v1.3.0';
export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
const BUNDLE_VERSION_ANNOTATION = 'gateway.networking.k8s.io/bundle-version';

export const GATEWAY_API_CRDS: { plural: string; channel: 'standard' | 'experimental' }[] = [
  { plural: 'gatewayclasses', channel: 'standard' },
  { plural: 'gateways', channel: 'standard' },
  { plural: 'httproutes', channel: 'standard' },
  { plural: 'referencegrants', channel: 'standard' },
  { plural: 'grpcroutes', channel: 'standard' },
  { plural: 'tlsroutes', channel: 'experimental' },
];

export function gatewayApiCrdName(plural: string): string {
  return `${plural}.${GATEWAY_API_GROUP}`;
}

export function gatewayApiCrdUrls(version = GATEWAY_API_VERSION): string[] {
  return GATEWAY_API_CRDS.map(
    (c) => `https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/${version}/config/crd/${c.channel}/${GATEWAY_API_GROUP}_${c.plural}.yaml`,
  );
}

export function applyGatewayApiCrdsArgv(version = GATEWAY_API_VERSION): string[] {
  return ['kubectl', 'apply', '--server-side', ...gatewayApiCrdUrls(version).flatMap((u) => ['-f', u])];
}

export function getGatewayApiCrdsArgv(): string[] {
  return ['kubectl', 'get', 'customresourcedefinitions', ...GATEWAY_API_CRDS.map((c) => gatewayApiCrdName(c.plural)), '-o', 'json', '--ignore-not-found'];
}

/** CRD names that are missing or carry another bundle version than `version`. */
export function missingGatewayApiCrds(stdout: string, version = GATEWAY_API_VERSION): string[] {
  const parsed = parseObject(stdout) as { kind?: string; items?: unknown[] } | undefined;
  const items = (parsed?.kind === 'List' ? (parsed.items ?? []) : parsed ? [parsed] : []) as { metadata?: { name?: string; annotations?: Record<string, string> } }[];
  const have = new Map(items.map((i) => [i.metadata?.name ?? '', i.metadata?.annotations?.[BUNDLE_VERSION_ANNOTATION]]));
  return GATEWAY_API_CRDS.map((c) => gatewayApiCrdName(c.plural)).filter((n) => have.get(n) !== version);
}
