import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { renderAll } from '../../scripts/lib/configure/render.ts';
import { mergeConfigs, mergePatch, splitDocuments } from '../../scripts/lib/talos/merge.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';
import { checkTalos } from '../../scripts/lib/validate/talos.ts';
import { TalosSchema } from '../../scripts/lib/validate/talos-schema.ts';
import { makeTree, show } from './fixture.ts';

// Talos' own config schema (schemas/talos.dev/v1.11, vendored from siderolabs/talos v1.11.6) against one accepted and
// one broken fixture per machine option (test/fixtures/talos/{accept,reject}), and against the patches `configure`
// renders for a config using every option.

const dir = join(REPO_ROOT, 'test', 'fixtures', 'talos');
const schema = TalosSchema.load(REPO_ROOT, 'v1.11.6')!;
const docsOf = (text: string) => parseAllDocuments(text).map((d) => (Array.isArray(d) ? d : d).toJS() as Record<string, unknown>).filter(Boolean);
const problemsOf = (text: string) => docsOf(text).flatMap((d) => schema.check(d));

const accept = readdirSync(join(dir, 'accept')).sort();
const reject = readdirSync(join(dir, 'reject')).sort();

test('every machine option has an accepted and a rejected fixture', () => {
  assert.equal(accept, reject);
  for (const option of ['install-disk-selector', 'dual-stack', 'encryption-nodeid', 'encryption-tpm', 'mtu-bond-vlan', 'kernel-args']) {
    assert.ok(accept.includes(`${option}.yaml`), option);
  }
});

for (const file of accept) {
  test(`accepted: ${file}`, () => {
    const text = readFileSync(join(dir, 'accept', file), 'utf8');
    assert.ok(docsOf(text).length >= 1);
    assert.equal(problemsOf(text), []);
  });
}

for (const file of reject) {
  test(`rejected: ${file} names each wrong field`, () => {
    const text = readFileSync(join(dir, 'reject', file), 'utf8');
    const expects = [...text.matchAll(/^# expect: (.*)$/gm)].map((m) => m[1]!);
    assert.ok(expects.length > 0, `${file} declares no "# expect:" line`);
    const problems = problemsOf(text);
    for (const e of expects) assert.ok(problems.some((p) => p.includes(e)), `${file}: no problem contains\n  ${e}\ngot:\n  ${problems.join('\n  ')}`);
    assert.is(problems.length, expects.length, problems.join('\n'));
  });
}

test('an unknown field lists the fields allowed where it sits', () => {
  const [p] = schema.check({ machine: { install: { diskSelector: { vendor: 'x' } } } });
  assert.match(p!, /allowed here: size, name, model, serial, modalias, uuid, wwid, type, busPath/);
});

test('an endpoint is a URL string (Talos reads v1alpha1.Endpoint from a string), not an object', () => {
  assert.equal(schema.check({ machine: { logging: { destinations: [{ endpoint: 'tcp://127.0.0.1:6050/', format: 'json_lines' }] } } }), []);
  assert.is(schema.check({ machine: { logging: { destinations: [{ endpoint: { host: '127.0.0.1' }, format: 'json_lines' }] } } }).length, 1);
});

const metal = parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/machine-options.yaml'), 'utf8'), 'machine-options.yaml');

function renderedTree(edit?: (files: Map<string, string>) => void) {
  const files = renderAll(metal);
  edit?.(files);
  const overrides: Record<string, string | null> = {
    'talos/generated/test/common.yaml': null,
    'talos/generated/test/controlplane.yaml': null,
    'talos/generated/test/nodes/cp-1.yaml': null,
  };
  for (const [k, v] of files) if (k.startsWith('talos/generated/')) overrides[k] = v;
  return makeTree(overrides);
}

test('the patches rendered from a config with every option pass, patch by patch and merged per node', () => {
  const t = renderedTree();
  try {
    const f: Finding[] = [];
    assert.is(checkTalos(t.root, f), 5);
    assert.equal(f, [], show(f));
  } finally {
    t.cleanup();
  }
});

test('a broken rendered patch is reported in its file and in the merged node config; the VIP must sit on the address link', () => {
  const t = renderedTree((files) => {
    const node = 'talos/generated/metal/nodes/metal-cp-1.yaml';
    files.set(node, files.get(node)!.replace('diskSelector:', 'diskSelectors:'));
    const cp = 'talos/generated/metal/controlplane.yaml';
    files.set(cp, files.get(cp)!.replace('- vlanId: 20', '- vlanId: 21'));
  });
  try {
    const f: Finding[] = [];
    checkTalos(t.root, f);
    const lines = f.map((x) => `${x.file}: ${x.message}`);
    assert.ok(lines.some((l) => l.startsWith('talos/generated/metal/nodes/metal-cp-1.yaml: machine.install.diskSelectors: unknown field in Talos v1.11; did you mean "diskSelector"?')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('talos/generated/metal/nodes/metal-cp-1.yaml: merged with common.yaml and controlplane.yaml: machine.install.diskSelectors: unknown field')), lines.join('\n'));
    assert.ok(lines.includes("talos/generated/metal/nodes/metal-cp-1.yaml: merged with controlplane.yaml, the API VIP sits on bond0.21 but the node's addresses on bond0.20; both must name the same link (talos.bond / talos.vlan)"), lines.join('\n'));
    // The worker merges with worker.yaml, which holds no VIP.
    assert.not.ok(lines.some((l) => l.includes('metal-worker-1')), lines.join('\n'));
  } finally {
    t.cleanup();
  }
});

test('a patch without its Talos header, or for a Talos minor with no vendored schema, is an error that says what to do', () => {
  const t = renderedTree((files) => {
    files.set('talos/generated/metal/worker.yaml', files.get('talos/generated/metal/worker.yaml')!.replace('# Talos: v1.11.6\n', ''));
    files.set('talos/generated/metal/common.yaml', files.get('talos/generated/metal/common.yaml')!.replace('# Talos: v1.11.6', '# Talos: v1.99.0'));
  });
  try {
    const f: Finding[] = [];
    checkTalos(t.root, f);
    const lines = f.map((x) => `${x.file}: ${x.message}`);
    assert.ok(lines.includes('talos/generated/metal/worker.yaml: has no "# Talos: vX.Y.Z" header line, so no schema to check it against: run `task configure`'), lines.join('\n'));
    assert.ok(lines.includes('talos/generated/metal/common.yaml: no Talos config schema for v1.99.0: vendor siderolabs/talos website/content/v1.99/schemas/config.schema.json as schemas/talos.dev/v1.99/config.schema.json (see schemas/README.md)'), lines.join('\n'));
  } finally {
    t.cleanup();
  }
});

test('strategic merge follows Talos: interfaces by name, vlans by id, pod and Service subnets replaced, other lists appended', () => {
  const merged = mergePatch(
    { machine: { network: { interfaces: [{ interface: 'eth0', vlans: [{ vlanId: 20, vip: { ip: '10.0.0.10' } }] }] }, certSANs: ['a'] }, cluster: { network: { podSubnets: ['10.244.0.0/16'] } } },
    { machine: { network: { interfaces: [{ interface: 'eth0', mtu: 9000, vlans: [{ vlanId: 20, addresses: ['10.0.0.11/24'] }, { vlanId: 30 }] }, { interface: 'eth1' }] }, certSANs: ['b'] }, cluster: { network: { podSubnets: ['10.245.0.0/16'] } } },
  );
  assert.equal(merged, {
    machine: {
      network: { interfaces: [{ interface: 'eth0', mtu: 9000, vlans: [{ vlanId: 20, vip: { ip: '10.0.0.10' }, addresses: ['10.0.0.11/24'] }, { vlanId: 30 }] }, { interface: 'eth1' }] },
      certSANs: ['a', 'b'],
    },
    cluster: { network: { podSubnets: ['10.245.0.0/16'] } },
  });
  const docs = mergeConfigs([
    splitDocuments([{ machine: {} }, { apiVersion: 'v1alpha1', kind: 'VolumeConfig', name: 'STATE', encryption: { provider: 'luks2' } }]),
    splitDocuments([{ apiVersion: 'v1alpha1', kind: 'VolumeConfig', name: 'STATE', encryption: { keys: [{ slot: 0, nodeID: {} }] } }]),
  ]);
  assert.equal(docs.documents, [{ apiVersion: 'v1alpha1', kind: 'VolumeConfig', name: 'STATE', encryption: { provider: 'luks2', keys: [{ slot: 0, nodeID: {} }] } }]);
});

test.run();
