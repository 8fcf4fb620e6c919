import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { JsonOutputError, parseJsonList } from '../../scripts/lib/core/json.ts';
import { retry } from '../../scripts/lib/core/retry.ts';
import {
  approvalCommands,
  autoApproverPolicy,
  normalizePrefix,
  parseHeadscaleVersion,
  parseNodes,
  parseRoutes,
  planFromNodes,
  planFromRoutes,
  selectNodes,
  selectorFromConfig,
} from '../../scripts/lib/headscale/cli.ts';
import { apiBaseUrl } from '../../scripts/lib/github/github.ts';
import {
  canonicalContent,
  desiredDelegation,
  desiredZoneRRsets,
  diffRRsets,
  parseDig,
  parseListZone,
  relativeName,
  replaceRRsetArgv,
  rrset,
} from '../../scripts/lib/powerdns/records.ts';
import { csiSettings, inspectSealedSecret, parseRoles, parseTokenAdd, parseTokens, proxmoxApiUrl, settingsHash, SETTINGS_LABEL } from '../../scripts/lib/proxmox/pveum.ts';
import { diskOfHandle, isCsiVolume, parsePvHandles, parseResources, parseVolumes, planOrphans, referencedVolumes } from '../../scripts/lib/proxmox/volumes.ts';
import { remoteCommand, sshLine } from '../../scripts/lib/ssh/client.ts';
import { checkHostKey, entryMatches, hostKeyAlgorithms, hostLookupName, keyTypeOf, parseKnownHosts } from '../../scripts/lib/ssh/known-hosts.ts';

// Pure functions of the integrations: parsers, plans and diffs (no servers).

const example = () => parseConfigText(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8'));

// --- known_hosts -----------------------------------------------------------------------------------------------------

const blob = (type: string, body = randomBytes(32)) => {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, body]);
};

test('known_hosts: plain, [host]:port, wildcard, negation, hashed and @revoked entries', () => {
  const k1 = blob('ssh-ed25519');
  const k2 = blob('ssh-rsa');
  const k3 = blob('ssh-ed25519');
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update('[vps.example.org]:2222').digest();
  const text = [
    '# comment',
    `pve.home.arpa,10.0.10.2 ssh-ed25519 ${k1.toString('base64')}`,
    `*.lab.arpa,!evil.lab.arpa ssh-rsa ${k2.toString('base64')} some comment`,
    `|1|${salt.toString('base64')}|${hash.toString('base64')} ssh-ed25519 ${k3.toString('base64')}`,
    `@revoked * ssh-rsa ${blob('ssh-rsa', Buffer.from('revoked')).toString('base64')}`,
    'garbage',
  ].join('\n');
  const e = parseKnownHosts(text);
  assert.is(e.length, 4);
  assert.is(hostLookupName('PVE.home.arpa', 22), 'pve.home.arpa');
  assert.is(hostLookupName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  assert.is(checkHostKey(e, 'pve.home.arpa', 22, k1).status, 'ok');
  assert.is(checkHostKey(e, '10.0.10.2', 22, k1).status, 'ok');
  assert.is(checkHostKey(e, 'pve.home.arpa', 2222, k1).status, 'unknown'); // another port is another name
  assert.is(checkHostKey(e, 'pve.home.arpa', 22, k3).status, 'changed');
  assert.is(checkHostKey(e, 'node1.lab.arpa', 22, k2).status, 'ok');
  assert.is(checkHostKey(e, 'evil.lab.arpa', 22, k2).status, 'unknown');
  assert.is(checkHostKey(e, 'vps.example.org', 2222, k3).status, 'ok');
  assert.is(checkHostKey(e, 'vps.example.org', 22, k3).status, 'unknown');
  assert.is(checkHostKey(e, 'anything', 22, blob('ssh-rsa', Buffer.from('revoked'))).status, 'revoked');
  assert.ok(entryMatches(e[0]!, '10.0.10.2'));
  assert.is(keyTypeOf(k2), 'ssh-rsa');
  assert.equal(hostKeyAlgorithms(['ssh-rsa', 'ssh-ed25519']), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
  assert.equal(hostKeyAlgorithms([]), []);
});

// --- quoting ---------------------------------------------------------------------------------------------------------

test('remote commands: safe arguments stay bare, everything else is POSIX-quoted', () => {
  assert.is(remoteCommand(['pveum', 'acl', 'modify', '/', '--users', 'kubernetes-csi@pve', '--roles', 'CSI']), 'pveum acl modify / --users kubernetes-csi@pve --roles CSI');
  assert.is(remoteCommand(['headscale', 'nodes', 'approve-routes', '--routes', '10.0.10.0/24,::/0']), 'headscale nodes approve-routes --routes 10.0.10.0/24,::/0');
  assert.is(remoteCommand(['pveum', 'user', 'add', 'u@pve', '--comment', "it's a test"]), `pveum user add u@pve --comment "it's a test"`);
  assert.is(remoteCommand(['echo', '$(reboot)', 'a;b', '']), "echo \\$\\(reboot\\) a\\;b ''");
  assert.is(remoteCommand(['A=b', 'x']), 'A\\=b x'); // a command word, not an assignment
  assert.is(sshLine({ host: 'h', port: 22, user: 'root' }, ['true']), 'ssh root@h -- true');
  assert.is(sshLine({ host: 'h', port: 2222, user: 'root' }, ['true']), 'ssh -p 2222 root@h -- true');
});

// --- headscale -------------------------------------------------------------------------------------------------------

test('headscale version: both output forms; generation from the number', () => {
  assert.equal(parseHeadscaleVersion('v0.25.1\n')?.generation, 'routes');
  assert.equal(parseHeadscaleVersion('v0.22.3')?.generation, 'routes');
  const v = parseHeadscaleVersion('headscale version v0.26.1\ncommit: abc\nbuild time: x\n');
  assert.equal([v?.major, v?.minor, v?.patch, v?.generation], [0, 26, 1, 'nodes']);
  assert.is(parseHeadscaleVersion('headscale version v0.28.0-beta.1')?.generation, 'nodes');
  assert.is(parseHeadscaleVersion('dev'), undefined);
});

const nodesJson = `[
\t{"id": 1, "name": "infra-cp-1", "user": {"id": 1, "name": "infra"}, "given_name": "infra-cp-1",
\t "approved_routes": ["0.0.0.0/0", "::/0"], "available_routes": ["10.0.10.0/24", "10.0.10.192/27", "0.0.0.0/0", "::/0"], "tags": ["tag:x"]},
\t{"id": 2, "name": "infra-worker-1", "user": {"id": 1, "name": "infra"}, "given_name": "infra-worker-1-ab12"},
\t{"id": 3, "name": "laptop", "user": {"id": "2", "name": "alice"}, "given_name": "laptop", "forced_tags": ["tag:x"], "available_routes": ["10.0.10.0/24"]}
]`;

test('headscale ≥0.26: selection and plan keep existing approvals and add only allowed advertised routes', () => {
  const nodes = parseNodes(nodesJson);
  assert.equal(nodes[2]!.tags, ['tag:x']);
  const config = example(); // headscale.user: infra; nodes default to the cluster's names
  const sel = selectorFromConfig(config);
  assert.equal(selectNodes(nodes, sel).map((n) => n.id), [1, 2]); // worker matched by name despite the given_name suffix
  assert.equal(selectNodes(nodes, { tag: 'tag:x' }).map((n) => n.id), [1, 3]);
  const plan = planFromNodes(selectNodes(nodes, sel), config.headscale!.routes);
  assert.equal(plan.nodes[0]!.approve, ['10.0.10.0/24', '10.0.10.192/27']);
  assert.equal([...plan.nodes[0]!.otherApproved].sort(), ['0.0.0.0/0', '::/0']);
  assert.equal(plan.unadvertised, []);
  const cmds = approvalCommands(plan, 'nodes');
  assert.is(cmds.length, 1);
  assert.equal(cmds[0]!.slice(0, 5), ['headscale', 'nodes', 'approve-routes', '--identifier', '1']);
  assert.equal(cmds[0]![6]!.split(',').sort(), ['0.0.0.0/0', '10.0.10.0/24', '10.0.10.192/27', '::/0']);
  assert.equal(parseNodes('null\n'), []);
});

test('headscale ≤0.25: routes (node or machine key) → enable only allowed, advertised, disabled routes', () => {
  const routes = parseRoutes(
    JSON.stringify([
      { id: 7, machine: { id: 1, name: 'infra-cp-1', given_name: 'infra-cp-1', user: { id: '1', name: 'infra' } }, prefix: '10.0.10.0/24', advertised: true },
      { id: 8, node: { id: 1, name: 'infra-cp-1', given_name: 'infra-cp-1', user: { id: 1, name: 'infra' } }, prefix: '10.0.10.192/27', advertised: true, enabled: true },
      { id: 9, node: { id: 1, name: 'infra-cp-1', given_name: 'infra-cp-1' }, prefix: '172.16.0.0/12', advertised: true },
      { id: 10, node: { id: 3, name: 'laptop', given_name: 'laptop' }, prefix: '10.0.10.0/24', advertised: true },
    ]),
  );
  const selected = parseNodes(nodesJson).filter((n) => n.id !== 3);
  const plan = planFromRoutes(selected, routes, ['10.0.10.0/24', '10.0.10.192/27']);
  assert.equal(approvalCommands(plan, 'routes'), [['headscale', 'routes', 'enable', '--route', '7']]);
  assert.equal(plan.nodes[0]!.notAllowed, ['172.16.0.0/12']);
  assert.equal(plan.nodes[0]!.alreadyApproved, ['10.0.10.192/27']);
});

test('prefixes are compared in network form', () => {
  assert.is(normalizePrefix('10.0.10.7/24'), '10.0.10.0/24');
  assert.is(normalizePrefix('fd00:0:0:0::1/64'), 'fd00::/64');
  assert.is(normalizePrefix('not-a-prefix'), 'not-a-prefix');
});

test('autoApprovers snippet: tag approvers with the user as tag owner (v2 "user@"), or the user itself', () => {
  const c = example();
  const v2 = JSON.parse(autoApproverPolicy({ ...c, headscale: { ...c.headscale!, tag: 'tag:cluster-router' } }).replace(/^\/\/.*\n/gm, ''));
  assert.equal(v2, {
    tagOwners: { 'tag:cluster-router': ['infra@'] },
    autoApprovers: { routes: { '10.0.10.0/24': ['tag:cluster-router'], '10.0.10.192/27': ['tag:cluster-router'] } },
  });
  const v1 = JSON.parse(autoApproverPolicy(c, 'routes').replace(/^\/\/.*\n/gm, ''));
  assert.equal(v1, { autoApprovers: { routes: { '10.0.10.0/24': ['infra'], '10.0.10.192/27': ['infra'] } } });
});

// --- Proxmox ---------------------------------------------------------------------------------------------------------

test('pveum parsers: roles (sorted comma privs), tokens (privsep string or number), token add', () => {
  assert.equal(parseRoles('[{"privs":"VM.Audit,Datastore.Audit","roleid":"CSI","special":0}]'), [{ roleid: 'CSI', privs: ['Datastore.Audit', 'VM.Audit'], special: false }]);
  assert.equal(parseTokens('[{"privsep":0,"tokenid":"csi"},{"privsep":"1","tokenid":"x"}]'), [
    { tokenid: 'csi', privsep: false },
    { tokenid: 'x', privsep: true },
  ]);
  assert.equal(parseTokenAdd('{"full-tokenid":"u@pve!csi","info":{"privsep":"0"},"value":"abc-123"}\n'), { fullTokenId: 'u@pve!csi', value: 'abc-123' });
  try {
    parseTokenAdd('{"value": "secret-xyz", oops');
    assert.unreachable();
  } catch (err) {
    assert.not.match((err as Error).message, /secret-xyz/);
  }
});

test('CSI settings and the sealed Secret check (missing, stale by label, valid)', () => {
  const c = example();
  assert.is(proxmoxApiUrl(c), 'https://pve.home.arpa:8006/api2/json');
  const s = csiSettings(c);
  assert.equal(s, { url: 'https://pve.home.arpa:8006/api2/json', insecure: true, tokenId: 'kubernetes-csi@pve!csi', region: 'infra' });
  const sealed = (label: string) =>
    `apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: proxmox-csi-plugin, namespace: csi-proxmox}\nspec:\n  encryptedData: {config.yaml: AgB}\n  template:\n    metadata:\n      labels: {${SETTINGS_LABEL}: "${label}"}\n`;
  assert.equal(inspectSealedSecret(undefined, s), { state: 'missing' });
  assert.equal(inspectSealedSecret(sealed(settingsHash(s)), s), { state: 'ok' });
  assert.is(inspectSealedSecret(sealed('0000'), s).state, 'stale');
  assert.is(inspectSealedSecret('kind: Secret\n', s).state, 'invalid');
});

test('volumes: CSI names, attached disks from VM configs, PV handles, and the orphan plan', () => {
  assert.ok(isCsiVolume('local-lvm:vm-9999-pvc-5bc58ec7-da55-48d2-9dc5-75d4d6629a4e'));
  assert.ok(isCsiVolume('local:9999/vm-9999-pvc-abc.raw'));
  assert.not.ok(isCsiVolume('local-lvm:vm-100-disk-0'));
  assert.equal(referencedVolumes({ name: 'x', scsi0: 'local-lvm:vm-1-disk-0,size=8G', scsi1: 'local-lvm:vm-9999-pvc-a,size=1G', ide2: 'none,media=cdrom', net0: 'virtio=AA,bridge=vmbr0', unused0: 'local:9999/vm-9999-pvc-b.raw' }), [
    'local-lvm:vm-1-disk-0',
    'local-lvm:vm-9999-pvc-a',
    'local:9999/vm-9999-pvc-b.raw',
  ]);
  assert.is(diskOfHandle('Region-1/pve-1/local-lvm/vm-9999-pvc-5bc'), 'local-lvm:vm-9999-pvc-5bc');
  assert.is(diskOfHandle('cluster/atlas/local/9999/vm-9999-pvc-x.raw'), 'local:9999/vm-9999-pvc-x.raw');
  const plan = planOrphans({
    volumes: [
      { volid: 's:vm-9999-pvc-a', vmid: 9999, size: 1, protected: false },
      { volid: 's:vm-9999-pvc-b', vmid: 9999, size: 1, protected: false },
      { volid: 's:vm-5-pvc-c', vmid: 5, size: 1, protected: false },
      { volid: 's:vm-9999-pvc-d', vmid: 9999, size: 1, protected: false },
    ],
    vms: [{ vmid: 5, node: 'pve', type: 'qemu', name: 'x' }],
    attached: new Set(['s:vm-9999-pvc-b']),
    pvDisks: new Set(['s:vm-9999-pvc-d']),
  });
  assert.equal(plan.orphans.map((v) => v.volid), ['s:vm-9999-pvc-a']);
  assert.equal(plan.kept.map((k) => k.reason), ['attached to an existing VM', 'belongs to existing VM 5', 'a PersistentVolume of this cluster']);
});

test('JSON listings: empty or null is no entries; unparsable or not a list is an error naming the command', () => {
  assert.equal(parseJsonList('', 'pvesm list'), []);
  assert.equal(parseJsonList(' null\n', 'headscale nodes list -o json'), []);
  assert.equal(parseJsonList('[{"a":1}]', 'x'), [{ a: 1 }]);
  assert.throws(() => parseJsonList('{"a":1}', 'pvesm list'), (e: Error) => e instanceof JsonOutputError && e.message === 'pvesm list did not print a JSON list');
  assert.throws(() => parseVolumes("storage 'x' does not exist"), /^cannot parse the JSON of pvesh get …\/storage\/…\/content: storage 'x' does not exist$/);
  assert.throws(() => parseResources('{}'), /^pvesh get \/cluster\/resources did not print a JSON list$/);
  assert.throws(() => parsePvHandles('error: no kubeconfig'), /^cannot parse the JSON of kubectl get pv -o json: error: no kubeconfig$/);
  assert.throws(() => parseRoles('nope'), (e: Error) => e.name === 'PveParseError' && /^cannot parse the JSON of pveum role list: nope$/.test(e.message));
  assert.throws(() => parseNodes('{"id":1}'), (e: Error) => e.name === 'HeadscaleParseError' && e.message === 'headscale nodes list -o json did not print a JSON list');
});

// --- PowerDNS --------------------------------------------------------------------------------------------------------

test('canonical record contents match what PowerDNS stores', () => {
  assert.is(canonicalContent('AAAA', '2001:DB8:0:0::1'), '2001:db8::1');
  assert.is(canonicalContent('CNAME', 'Ingress.K8s.example.org'), 'ingress.k8s.example.org.');
  assert.is(canonicalContent('MX', '10  mail.example.org'), '10 mail.example.org.');
  assert.is(canonicalContent('SRV', '0 5 443 api.example.org'), '0 5 443 api.example.org.');
  assert.is(canonicalContent('TXT', 'v=spf1 "x" -all'), '"v=spf1 \\"x\\" -all"');
  assert.is(canonicalContent('TXT', '"already quoted"'), '"already quoted"');
  assert.is(canonicalContent('CAA', '0 issue letsencrypt.org'), '0 issue "letsencrypt.org"');
});

test('desired rrsets: config records, apex NS and glue; the delegation in the parent', () => {
  // The example has a vps section: the apex NS and the delegation name the VPS's nameserver, "*" points at the VPS
  // (without one: the in-cluster nameserver and its glue, expose-pure.test.ts).
  const c = example();
  const zone = desiredZoneRRsets(c);
  assert.equal(zone.map((r) => `${r.name} ${r.type} ${r.ttl} ${r.records.join(',')}`), [
    'api.k8s.example.org. A 300 10.0.10.10',
    'k8s.example.org. NS 3600 ns1.example.org.',
    '*.k8s.example.org. A 300 203.0.113.10',
  ]);
  assert.equal(desiredDelegation(c).map((r) => `${r.name} ${r.type} ${r.records.join(',')}`), ['k8s.example.org. NS ns1.example.org.', 'ns1.example.org. A 203.0.113.10']);
  assert.equal(replaceRRsetArgv(['docker', 'exec', 'pdns', 'pdnsutil'], 'example.org', desiredDelegation(c)[0]!), [
    'docker', 'exec', 'pdns', 'pdnsutil', 'replace-rrset', 'example.org', 'k8s', 'NS', '3600', 'ns1.example.org.',
  ]);
  assert.is(relativeName('example.org.', 'example.org'), '@');
  assert.throws(() => relativeName('other.net.', 'example.org'), /not inside zone/);
});

test('diff: create, replace (ttl, content, disabled), unchanged; records not in the config are ignored', () => {
  const want = [rrset('a.z.', 'A', 300, ['10.0.0.1']), rrset('b.z.', 'A', 300, ['10.0.0.2']), rrset('c.z.', 'TXT', 60, ['hi']), rrset('d.z.', 'A', 300, ['1.1.1.1'])];
  const have = [
    { name: 'a.z.', type: 'A', ttl: 300, records: ['10.0.0.1'] },
    { name: 'b.z.', type: 'A', ttl: 600, records: ['10.0.0.2'] },
    { name: 'c.z.', type: 'TXT', ttl: 60, records: ['"hi"'], disabled: true },
    { name: 'other.z.', type: 'A', ttl: 300, records: ['9.9.9.9'] },
  ];
  const d = diffRRsets(want, have);
  assert.equal(d.unchanged.map((r) => r.name), ['a.z.']);
  assert.equal(d.changes.map((c) => `${c.kind} ${c.desired.name}`), ['replace b.z.', 'replace c.z.', 'create d.z.']);
});

test('pdnsutil list-zone and dig output parsers', () => {
  const zone = parseListZone('$ORIGIN .\nexample.test\t3600\tIN\tNS\tns1.example.test.\nk8s.example.test\t3600\tIN\tNS\tns1.k8s.example.test.\nk8s.example.test\t3600\tIN\tNS\tns2.k8s.example.test.\nt.example.test\t60\tIN\tTXT\t"a b"\n');
  assert.equal(zone.find((r) => r.name === 'k8s.example.test.')!.records, ['ns1.k8s.example.test.', 'ns2.k8s.example.test.']);
  assert.equal(zone.find((r) => r.type === 'TXT')!.records, ['"a b"']);
  assert.equal(parseDig('k8s.example.test.\t3600\tIN\tNS\tns1.k8s.example.test.\nns1.k8s.example.test. 3600 IN A 127.0.0.1\n'), [
    { name: 'k8s.example.test.', ttl: 3600, type: 'NS', content: 'ns1.k8s.example.test.' },
    { name: 'ns1.k8s.example.test.', ttl: 3600, type: 'A', content: '127.0.0.1' },
  ]);
});

test('GitHub API base URL: GITHUB_API_URL when set, else api.github.com', () => {
  assert.is(apiBaseUrl({ GITHUB_API_URL: 'https://ghe.example.com/api/v3/' }), 'https://ghe.example.com/api/v3');
  assert.is(apiBaseUrl({}), 'https://api.github.com');
});

test('retry: backs off on retryable failures; a non-retryable one after them reports the attempts really made', async () => {
  const warnings: string[] = [];
  const log = { warn: (m: string) => void warnings.push(m) };
  const transient = Object.assign(new Error('connect ECONNREFUSED'), { transient: true });
  const fatal = new Error('handshake failed');
  const seen: number[] = [];
  let failed: { err: unknown; attempts: number } | undefined;
  try {
    await retry(
      { attempts: 4, backoffMs: 5, log, what: 'ssh root@pve', retryable: (e) => (e as { transient?: boolean }).transient === true, fail: (err, attempts) => ((failed = { err, attempts }), err) },
      async (attempt) => {
        seen.push(attempt);
        throw attempt === 1 ? transient : fatal;
      },
    );
    assert.unreachable();
  } catch (err) {
    assert.is(err, fatal);
  }
  assert.equal(seen, [1, 2]);
  assert.equal(failed, { err: fatal, attempts: 2 });
  assert.equal(warnings, ['ssh root@pve: connect ECONNREFUSED; retrying in 5ms (attempt 2/4)']);
  // Every attempt transient: fail gets the configured bound; success returns the value.
  let bound = 0;
  await retry({ attempts: 3, backoffMs: 1, log, what: 'x', retryable: () => true, fail: (e, n) => ((bound = n), e) }, async () => {
    throw transient;
  }).catch(() => undefined);
  assert.is(bound, 3);
  assert.is(await retry({ attempts: 3, backoffMs: 1, log, what: 'x', retryable: () => true }, async (a) => (a < 2 ? Promise.reject(transient) : a)), 2);
});

test.run();
