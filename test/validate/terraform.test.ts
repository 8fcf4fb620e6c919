import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkValue, parseType } from '../../scripts/lib/validate/terraform.ts';
import { onPath } from '../../scripts/lib/validate/kustomize.ts';
import { makeTree, only, show, validate, validateWith } from './fixture.ts';

const MAIN = 'terraform/00-persistent-auth/main.tf';
const TFVARS = 'terraform/generated/test/00-persistent-auth.tfvars.json';

test('type expressions parse and check values', () => {
  const t = parseType('${object({\n    cidr = string\n    ports = list(number)\n    tags = optional(map(string), {})\n    on = bool\n  })}');
  assert.equal(checkValue({ cidr: '10.0.0.0/24', ports: [1, 2], on: true }, t, 'network'), []);
  assert.equal(checkValue({ cidr: 1, ports: ['x'], on: true, extra: 1 }, t, 'network'), [
    'network.extra is not an attribute of the variable\'s type',
    'network.cidr must be a string',
    'network.ports[0] must be a number',
  ]);
  assert.equal(checkValue({ ports: [] }, t, 'n'), ['n.cidr is missing', 'n.on is missing']);
  assert.equal(checkValue({ a: { vm_id: '1' } }, parseType('map(object({ vm_id = number }))'), 'nodes'), ['nodes["a"].vm_id must be a number']);
});

test('an HCL syntax error names the file', async () => {
  const r = await validateWith({ [MAIN]: 'resource "x" "y" {\n  a = \n}\n' });
  const f = only(r.findings, 'terraform').filter((x) => x.message.startsWith('HCL syntax'));
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, MAIN);
  assert.match(f[0]!.message, 'Invalid expression');
});

test('terraform fmt -check reports unformatted files (terraform must be installed)', async () => {
  if (!onPath('terraform')) {
    const msg = 'terraform is not on PATH: the fmt check cannot be tested (install terraform; .ci/run notes it)';
    if (process.env.CI === 'true') assert.unreachable(msg);
    console.warn(`\n  WARNING: ${msg}\n`);
    return;
  }
  const t = makeTree({ 'terraform/01-infrastructure/ugly.tf': 'locals {\n      a=1\n}\n' });
  try {
    const r = await validate(t.root, true);
    assert.ok(r.terraformFmtRan);
    const f = only(r.findings, 'terraform');
    assert.is(f.length, 1, show(r.findings));
    assert.is(f[0]!.file, 'terraform/01-infrastructure/ugly.tf');
    assert.match(f[0]!.message, 'not formatted');
  } finally {
    t.cleanup();
  }
});

test('provider versions pinned outside terraform/versions.tf, or as ranges, are reported', async () => {
  const extra = 'terraform {\n  required_providers {\n    talos = {\n      source  = "siderolabs/talos"\n      version = "~> 0.9"\n    }\n  }\n}\n';
  const r = await validateWith({ 'terraform/01-infrastructure/providers.tf': extra });
  const f = only(r.findings, 'pinned-versions');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, 'terraform/01-infrastructure/providers.tf');
  assert.match(f[0]!.message, 'pin provider versions only in terraform/versions.tf');

  const range = await validateWith({ 'terraform/versions.tf': 'terraform {\n  required_providers {\n    proxmox = {\n      source  = "bpg/proxmox"\n      version = ">= 0.86"\n    }\n  }\n}\n' });
  assert.ok(only(range.findings, 'pinned-versions').some((x) => x.message.includes('">= 0.86" is a range')), show(range.findings));
});

test('a layer that does not link versions.tf is reported', async () => {
  const r = await validateWith({ 'terraform/01-infrastructure/versions.tf': 'terraform {\n  required_version = ">= 1.9.0"\n}\n' });
  const f = only(r.findings, 'pinned-versions');
  assert.is(f.length, 1, show(r.findings));
  assert.is(f[0]!.file, 'terraform/01-infrastructure/versions.tf');
  assert.match(f[0]!.message, 'must be a link to ../versions.tf');
});

test('tfvars and layer variables must agree (name, type, required)', async () => {
  const undeclared = await validateWith({ [TFVARS]: '{ "cluster_name": "test", "network": { "cidr": "10.0.0.0/24", "mtu": 1500 }, "cluster_nmae": "x" }' });
  const f = only(undeclared.findings, 'terraform');
  assert.is(f.length, 1, show(undeclared.findings));
  assert.is(f[0]!.file, TFVARS);
  assert.is(f[0]!.object, 'variable cluster_nmae');
  assert.match(f[0]!.message, 'declares no such variable');

  const typed = await validateWith({ [TFVARS]: '{ "cluster_name": "test", "network": { "cidr": "10.0.0.0/24", "mtu": "1500" } }' });
  assert.ok(only(typed.findings, 'terraform').some((x) => x.message.startsWith('network.mtu must be a number')), show(typed.findings));

  const missing = await validateWith({ [TFVARS]: '{ "cluster_name": "test" }' });
  const m = only(missing.findings, 'terraform');
  assert.is(m.length, 1, show(missing.findings));
  assert.is(m[0]!.file, MAIN);
  assert.is(m[0]!.object, 'variable network');
  assert.match(m[0]!.message, 'has no default');
});

test('a missing bootstrap output and a missing module source are reported', async () => {
  const r = await validateWith({
    'terraform/01-infrastructure/main.tf': 'variable "talos_version" {\n  type = string\n}\n\nmodule "vm" {\n  source = "../modules/nope"\n}\n',
  });
  const f = only(r.findings, 'terraform').map((x) => `${x.object}: ${x.message}`);
  assert.ok(f.some((x) => x.startsWith('output installer_image: missing output')), f.join('\n'));
  assert.ok(f.some((x) => x.startsWith('output schematic_id')), f.join('\n'));
  assert.ok(f.some((x) => x.startsWith('module vm: source ../modules/nope has no .tf files')), f.join('\n'));
});

test.run();
