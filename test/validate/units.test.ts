import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { talosVars } from '../../scripts/lib/configure/render.ts';
import { findCycles } from '../../scripts/lib/validate/flux.ts';
import { typeOf, unknownFields } from '../../scripts/lib/validate/fields.ts';
import { kustomizeArgv } from '../../scripts/lib/validate/kustomize.ts';
import { substitute, varsUsed } from '../../scripts/lib/validate/substitute.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

test('substitution follows Flux: defaults, escapes, undefined → empty', () => {
  const vars = { A: 'x', EMPTY: '' };
  assert.is(substitute('${A}-${B}-${C:=d}-${EMPTY:-e}-${EMPTY:=f}-$${A}', vars), 'x--d-e--${A}');
  assert.equal(varsUsed('${A} ${B:=1} $${C} ${lower_case}'), [
    { name: 'A', hasDefault: false },
    { name: 'B', hasDefault: true },
    { name: 'lower_case', hasDefault: false },
  ]);
});

test('field lists come from the model packages: nested, arrays, maps, free-form JSON', () => {
  const ks = typeOf(join(REPO_ROOT, 'node_modules/@kubernetes-models/flux-cd/kustomize.toolkit.fluxcd.io/v1/Kustomization.d.ts'), 'IKustomization');
  assert.equal(
    unknownFields(
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: 'a', labels: { x: 'y' } },
        spec: { path: '.', prun: true, dependsOn: [{ name: 'b', nmae: 'c' }], postBuild: { substitute: { ANY_KEY: 'v' } }, patches: [{ patch: 'x', target: { kind: 'Y' } }] },
      },
      ks,
    ),
    ['spec.prun', 'spec.dependsOn[0].nmae'],
  );
});

test('cycles are found with their path; a DAG has none', () => {
  assert.equal(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]])), []);
  assert.equal(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), [['a', 'b', 'c', 'a']]);
  assert.equal(findCycles(new Map([['a', ['a']]])), [['a', 'a']]);
});

test('kustomize is preferred when installed, else kubectl kustomize', () => {
  assert.equal(kustomizeArgv('/d', (c) => c === 'kustomize'), ['kustomize', 'build', '/d']);
  assert.equal(kustomizeArgv('/d', () => false), ['kubectl', 'kustomize', '/d']);
});

test('configure gives the Talos templates the CSI topology: region and the node VM id', () => {
  const c = parseConfigText(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8'), 'cluster.example.yaml');
  const node = c.nodes[0]!;
  const vars = talosVars(c, node);
  assert.is(vars.TOPOLOGY_REGION, c.proxmoxCsi?.region ?? c.cluster.name);
  assert.is(vars.NODE_VM_ID, String(node.vmId));
  const { proxmoxCsi: _, ...withoutCsi } = c;
  assert.is(talosVars(withoutCsi as typeof c).TOPOLOGY_REGION, c.cluster.name);
});

test.run();
