import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseNeeds } from '../../scripts/lib/validate/policy.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { BASE, only, show, validateWith } from './fixture.ts';

// Default-deny with explicit allows: each need a Namespace declares is allowed at both ends, and nothing else is open.

const ns = (name: string, needs: string | null) => `apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
${needs === null ? '' : `  annotations:\n    network.home-ops/needs: "${needs}"\n`}`;

const deny = (n: string) => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: default-deny
  namespace: ${n}
spec:
  endpointSelector: {}
  ingress:
    - {}
  egress:
    - {}
`;

const DNS_RULE = `    - toEndpoints:
        - matchLabels:
            k8s:io.kubernetes.pod.namespace: kube-system
            k8s-app: kube-dns
      toPorts:
        - ports:
            - port: "53"
              protocol: ANY
`;

const APP_ALLOW = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: allow-needs
  namespace: podinfo
spec:
  endpointSelector: {}
  ingress:
    - fromEntities:
        - ingress
      toPorts:
        - ports:
            - port: "9898"
              protocol: TCP
  egress:
${DNS_RULE}    - toEndpoints:
        - matchLabels:
            k8s:io.kubernetes.pod.namespace: db
      toPorts:
        - ports:
            - port: "5432"
              protocol: TCP
`;

const DB_ALLOW = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: allow-needs
  namespace: db
spec:
  endpointSelector: {}
  ingress:
    - fromEndpoints:
        - matchLabels:
            k8s:io.kubernetes.pod.namespace: podinfo
      toPorts:
        - ports:
            - port: "5432"
              protocol: TCP
  egress:
${DNS_RULE}`;

const KZ = 'kubernetes/apps/app/kustomization.yaml';
const CNP_SCHEMA = 'schemas/cilium.io/ciliumnetworkpolicy_v2.json';
const FILES = ['db-namespace.yaml', 'policies.yaml'];

function tree(o: { appNeeds?: string | null; dbNeeds?: string | null; policies?: string } = {}): Record<string, string | null> {
  return {
    'kubernetes/apps/app/namespace.yaml': ns('podinfo', o.appNeeds === undefined ? 'dns, db:5432, from:ingress:9898' : o.appNeeds),
    'kubernetes/apps/app/db-namespace.yaml': ns('db', o.dbNeeds === undefined ? 'dns' : o.dbNeeds),
    'kubernetes/apps/app/policies.yaml': o.policies ?? [deny('podinfo'), APP_ALLOW, deny('db'), DB_ALLOW].join('---\n'),
    [CNP_SCHEMA]: readFileSync(join(REPO_ROOT, CNP_SCHEMA), 'utf8'),
    [KZ]: BASE[KZ]!.replace('  - helmrelease.yaml', ['  - helmrelease.yaml', ...FILES.map((f) => `  - ${f}`)].join('\n')),
  };
}

test('declared needs allowed at both ends, with default-deny everywhere, pass (and the policies pass their schema)', async () => {
  const r = await validateWith(tree());
  assert.equal([...only(r.findings, 'policy'), ...only(r.findings, 'schema')], [], show(r.findings));
});

test('a need without its egress rule is reported naming both ends', async () => {
  const r = await validateWith(tree({ policies: [deny('podinfo'), APP_ALLOW.replace('k8s:io.kubernetes.pod.namespace: db', 'k8s:io.kubernetes.pod.namespace: cache'), deny('db'), DB_ALLOW].join('---\n') }));
  const f = only(r.findings, 'policy');
  const missing = f.find((x) => x.message.startsWith('podinfo → db port 5432'));
  assert.ok(missing, show(r.findings));
  assert.match(missing!.message, 'no egress rule in namespace podinfo allows it');
  assert.is(missing!.file, 'kubernetes/apps/app/namespace.yaml');
  // …and the rule that went elsewhere is open beyond the needs.
  assert.ok(f.some((x) => x.message.startsWith('opens podinfo → cache port 5432 (egress), which no declared need explains')), show(r.findings));
});

test('a need the destination namespace does not admit is reported there', async () => {
  const r = await validateWith(tree({ policies: [deny('podinfo'), APP_ALLOW, deny('db'), DB_ALLOW.replace('port: "5432"', 'port: "5433"')].join('---\n') }));
  const f = only(r.findings, 'policy');
  assert.ok(f.some((x) => x.object === 'Namespace db' && x.message === 'podinfo → db port 5432 (need "podinfo: db:5432"): no ingress rule in namespace db admits it, so the default-deny drops it'), show(r.findings));
});

test('an allow no need explains is reported (nothing else is open)', async () => {
  const open = APP_ALLOW + `    - toEntities:
        - world
`;
  const r = await validateWith(tree({ policies: [deny('podinfo'), open, deny('db'), DB_ALLOW].join('---\n') }));
  const f = only(r.findings, 'policy');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.object, 'CiliumNetworkPolicy podinfo/allow-needs');
  assert.match(f[0]!.message, 'opens podinfo → entity world port * (egress), which no declared need explains');
});

test('a namespace without default-deny, and one that declares no needs, are reported', async () => {
  const noDeny = await validateWith(tree({ policies: [deny('podinfo'), APP_ALLOW, DB_ALLOW].join('---\n') }));
  assert.ok(only(noDeny.findings, 'policy').some((x) => x.object === 'Namespace db' && x.message.startsWith('has no default-deny CiliumNetworkPolicy')), show(noDeny.findings));
  const undeclared = await validateWith(tree({ dbNeeds: null }));
  const f = only(undeclared.findings, 'policy');
  assert.ok(f.some((x) => x.object === 'Namespace db' && x.message.startsWith('declares no network.home-ops/needs')), show(undeclared.findings));
});

test('needs parse; an unknown form is an error naming the accepted ones', () => {
  const { needs, errors } = parseNeeds('gitea', 'dns, kube-apiserver, gitea:5432, harbor:*, fqdn:ghcr.io:443, from:ingress:3000, port 80');
  assert.equal(needs.map((n) => `${n.dir} ${n.peer.kind}:${n.peer.value}:${n.port}`), ['egress ns:kube-system:53', 'egress entity:kube-apiserver:*', 'egress ns:gitea:5432', 'egress ns:harbor:*', 'egress fqdn:ghcr.io:443', 'ingress entity:ingress:3000']);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, '"port 80" is not a need');
});

test.run();
