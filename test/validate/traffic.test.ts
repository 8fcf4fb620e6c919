import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostnameMatches } from '../../scripts/lib/validate/traffic.ts';
import { BASE, only, show, validateWith } from './fixture.ts';

// The front door: HTTPRoutes attach to a Gateway listener that exists and admits them, inside the cluster's zone; every
// address DNS names is pinned inside the LB IPAM pool, by one owner. Each check with a tree that breaks it.

const SETTINGS = `${BASE['kubernetes/clusters/test/cluster-settings.yaml']}  DNS_ZONE: k8s.example.org
  LB_CIDR: 10.0.10.192/27
  LB_IP_INGRESS: 10.0.10.201
  LB_IP_DNS: 10.0.10.200
`;

const GATEWAY = `apiVersion: v1
kind: Namespace
metadata:
  name: gateway
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: main
  namespace: gateway
spec:
  gatewayClassName: cilium
  addresses:
    - type: IPAddress
      value: \${LB_IP_INGRESS}
  listeners:
    - name: http
      protocol: HTTP
      port: 80
      allowedRoutes:
        namespaces:
          from: Same
    - name: https
      protocol: HTTPS
      port: 443
      hostname: "*.\${DNS_ZONE}"
      tls:
        certificateRefs:
          - name: wildcard-tls
      allowedRoutes:
        namespaces:
          from: Selector
          selector:
            matchLabels:
              gateway.home-ops/routes: allowed
`;

const route = (o: { gateway?: string; section?: string; host?: string } = {}) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: podinfo
  namespace: podinfo
spec:
  parentRefs:
    - name: ${o.gateway ?? 'main'}
      namespace: gateway
      sectionName: ${o.section ?? 'https'}
  hostnames:
    - ${o.host ?? 'podinfo.${DNS_ZONE}'}
  rules:
    - backendRefs:
        - name: podinfo
          port: 9898
`;

const dnsService = (ip = '${LB_IP_DNS}', extra = '') => `apiVersion: v1
kind: Service
metadata:
  name: powerdns
  namespace: podinfo
  annotations:
    lbipam.cilium.io/ips: ${ip}
${extra}spec:
  type: LoadBalancer
  selector:
    app: powerdns
  ports:
    - name: dns
      port: 53
      protocol: UDP
`;

const NAMESPACE_LABELLED = `apiVersion: v1
kind: Namespace
metadata:
  name: podinfo
  labels:
    gateway.home-ops/routes: allowed
`;

const KZ = 'kubernetes/apps/app/kustomization.yaml';

function tree(files: Record<string, string | null>): Record<string, string | null> {
  const extra = Object.keys(files).filter((f) => f.startsWith('kubernetes/apps/app/') && files[f] !== null).map((f) => f.slice('kubernetes/apps/app/'.length));
  return {
    'kubernetes/clusters/test/cluster-settings.yaml': SETTINGS,
    'kubernetes/apps/app/namespace.yaml': NAMESPACE_LABELLED,
    [KZ]: BASE[KZ]!.replace('  - helmrelease.yaml', ['  - helmrelease.yaml', ...extra.filter((f) => f !== 'namespace.yaml' && f !== 'helmrelease.yaml').map((f) => `  - ${f}`)].join('\n')),
    ...files,
  };
}

const GOOD = { 'kubernetes/apps/app/gateway.yaml': GATEWAY, 'kubernetes/apps/app/route.yaml': route(), 'kubernetes/apps/app/dns.yaml': dnsService() };

test('a Gateway, a route on its HTTPS listener and a pinned DNS Service pass', async () => {
  const r = await validateWith(tree(GOOD));
  assert.equal([...only(r.findings, 'routes'), ...only(r.findings, 'addresses'), ...only(r.findings, 'schema')], [], show(r.findings));
});

test('routes: a parent Gateway that does not exist is named', async () => {
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/route.yaml': route({ gateway: 'front' }) }));
  const f = only(r.findings, 'routes');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'HTTPRoute podinfo/podinfo');
  assert.is(f[0]!.file, 'kubernetes/apps/app/route.yaml');
  assert.match(f[0]!.message, 'parentRef Gateway gateway/front: no such Gateway in the tree (Gateways: gateway/main)');
});

test('routes: a listener that does not exist is named with the ones that do', async () => {
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/route.yaml': route({ section: 'websecure' }) }));
  const f = only(r.findings, 'routes');
  assert.is(f.length, 1, show(r.findings));
  assert.match(f[0]!.message, 'sectionName websecure: the Gateway has no such listener (listeners: http, https)');
});

test('routes: a hostname outside the cluster zone is reported', async () => {
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/route.yaml': route({ host: 'podinfo.example.com' }) }));
  const f = only(r.findings, 'routes');
  assert.ok(f.some((x) => x.message.includes('hostname podinfo.example.com is outside the cluster\'s zone k8s.example.org')), show(r.findings));
  // …and it does not match the wildcard listener either.
  assert.ok(f.some((x) => x.message.includes('matches no hostname of listener https')), show(r.findings));
});

test('routes: a namespace the listener does not admit is reported (missing label; plain-HTTP listener is Same only)', async () => {
  const unlabelled = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/namespace.yaml': BASE['kubernetes/apps/app/namespace.yaml']! }));
  const f = only(unlabelled.findings, 'routes');
  assert.is(f.length, 1, show(unlabelled.findings));
  assert.match(f[0]!.message, 'listener https of Gateway gateway/main does not admit routes from namespace podinfo');
  const http = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/route.yaml': route({ section: 'http' }) }));
  assert.match(only(http.findings, 'routes')[0]?.message ?? '', 'listener http of Gateway gateway/main does not admit routes from namespace podinfo', show(http.findings));
});

test('addresses: a Gateway address outside the pool is reported', async () => {
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/gateway.yaml': GATEWAY.replace('${LB_IP_INGRESS}', '10.0.10.50') }));
  const f = only(r.findings, 'addresses');
  assert.ok(f.some((x) => x.object === 'Gateway gateway/main' && x.message.includes('pins 10.0.10.50, outside the LB IPAM pool 10.0.10.192/27')), show(r.findings));
  // …and the ingress address DNS names is then pinned nowhere.
  assert.ok(f.some((x) => x.message.includes('10.0.10.201 (LB_IP_INGRESS in cluster-settings) is named by DNS but pinned on no Service or Gateway')), show(r.findings));
});

test('addresses: an address DNS names that nothing pins is reported', async () => {
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/dns.yaml': null }));
  const f = only(r.findings, 'addresses');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, 'kubernetes/clusters/test/cluster-settings.yaml');
  assert.match(f[0]!.message, '10.0.10.200 (LB_IP_DNS in cluster-settings) is named by DNS but pinned on no Service or Gateway');
});

test('addresses: two owners of one address are reported unless they share an LB IPAM sharing key', async () => {
  const second = dnsService().replace('name: powerdns\n', 'name: powerdns-api\n');
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/dns2.yaml': second }));
  const f = only(r.findings, 'addresses');
  assert.is(f.length, 1, show(r.findings));
  assert.match(f[0]!.message, '10.0.10.200 is pinned by Service podinfo/powerdns and Service podinfo/powerdns-api');
  const key = '    lbipam.cilium.io/sharing-key: powerdns\n';
  const shared = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/dns.yaml': dnsService(undefined, key), 'kubernetes/apps/app/dns2.yaml': dnsService(undefined, key).replace('name: powerdns\n', 'name: powerdns-api\n') }));
  assert.equal(only(shared.findings, 'addresses'), [], show(shared.findings));
});

test('addresses: a pin inside a chart\'s values (HelmRelease) counts, and one outside the pool is reported with its values path', async () => {
  const hr = (ip: string) => BASE['kubernetes/apps/app/helmrelease.yaml']!.replace('  values:\n', `  values:\n    service:\n      annotations:\n        lbipam.cilium.io/ips: ${ip}\n`);
  const inPool = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/dns.yaml': null, 'kubernetes/apps/app/helmrelease.yaml': hr('${LB_IP_DNS}') }));
  assert.equal(only(inPool.findings, 'addresses'), [], show(inPool.findings));
  const outside = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/dns.yaml': null, 'kubernetes/apps/app/helmrelease.yaml': hr('10.0.11.200') }));
  const f = only(outside.findings, 'addresses');
  assert.ok(f.some((x) => x.object === 'HelmRelease podinfo/podinfo' && x.message === 'pins 10.0.11.200, outside the LB IPAM pool 10.0.10.192/27 (LB_CIDR): LB IPAM never assigns it and the Service stays pending'), show(outside.findings));
  assert.ok(f.some((x) => x.message.startsWith('10.0.10.200 (LB_IP_DNS in cluster-settings) is named by DNS but pinned on no Service or Gateway')), show(outside.findings));
});

test('schema: Gateway API objects are checked against @kubernetes-models/gateway-api', async () => {
  const r = await validateWith(tree({ ...GOOD, 'kubernetes/apps/app/route.yaml': route().replace('  hostnames:', '  hostname:') }));
  const f = only(r.findings, 'schema');
  assert.ok(f.some((x) => x.object === 'HTTPRoute podinfo/podinfo' && x.message.includes('spec.hostname: unknown field')), show(r.findings));
});

test('listener hostname matching follows the Gateway API wildcard rule', () => {
  assert.ok(hostnameMatches('*.k8s.example.org', 'git.k8s.example.org'));
  assert.ok(hostnameMatches('*.k8s.example.org', 'a.b.k8s.example.org'));
  assert.not.ok(hostnameMatches('*.k8s.example.org', 'k8s.example.org'));
  assert.ok(hostnameMatches('k8s.example.org', 'k8s.example.org'));
  assert.ok(hostnameMatches(undefined, 'anything.example'));
});

test.run();
