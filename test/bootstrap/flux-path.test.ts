import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { omittedKustomizations, roleKustomizations } from '../../scripts/lib/configure/flux-entry.ts';
import { labForWorld, makeWorld, sh } from './harness.ts';

// A cluster whose name is not its role: `task configure` renders kubernetes/clusters/<name>/kustomization.yaml, which
// takes the role's tree (../<role>/flux) and patches it — the cluster's own secrets path, and no Kustomization whose
// config section is absent. The lab's Flux applies what a kustomize build of that path gives (as kustomize-controller
// does), read from the pushed branch, so the bootstrap meets exactly those Kustomizations.

interface Case {
  name: string;
  role: 'infra' | 'apps';
  fixture: string;
}

const CASES: Case[] = [
  { name: 'home', role: 'infra', fixture: 'one-node.yaml' },
  { name: 'edge', role: 'apps', fixture: 'apps.yaml' },
];

for (const c of CASES) {
  test(`cluster "${c.name}" (role ${c.role}): the lab's Flux runs the role's Kustomizations with the cluster's secrets path, without those whose section is absent`, async () => {
    const world = await makeWorld(c.fixture, (raw) => {
      raw.cluster = { ...(raw.cluster as object), name: c.name, role: c.role };
    });
    // The lab names no Kustomizations: they come from the build of the Flux path on the pushed branch.
    const { lab, run } = labForWorld(world, { kustomizations: undefined, originDir: world.repo.origin, originBranch: 'main' });
    try {
      const root = world.repo.root;
      const config = world.repo.config;
      assert.is(config.github.path, `kubernetes/clusters/${c.name}`);
      const entry = readFileSync(join(root, config.github.path, 'kustomization.yaml'), 'utf8');
      assert.match(entry, `- ../${c.role}/flux`, 'the entry takes the role tree');
      // The role tree less what this config leaves out (the harness removes the optional sections).
      const tree = roleKustomizations(root, c.role);
      const omitted = omittedKustomizations(config, tree);
      const expected = tree.map((k) => k.name).filter((n) => !omitted.has(n)).sort();
      assert.ok(expected.includes('cluster-secrets'), `the ${c.role} tree has cluster-secrets`);
      if (c.role === 'infra') assert.ok(omitted.has('powerdns') && omitted.has('external-dns'), 'without the powerdns section its Kustomizations go');
      assert.ok(omitted.size > 0, 'something is left out');

      const r = await run();
      assert.is(r.exitCode, 0, r.text);

      const fx = lab.raw().flux;
      const names = (fx.kustomizations as { name: string }[]).map((k) => k.name).filter((n) => n !== 'flux-system').sort();
      assert.equal(names, expected);
      for (const gone of omitted.keys()) assert.not.ok(names.includes(gone), `${gone} is not applied`);
      const secrets = fx.kustomizations.find((k: { name: string }) => k.name === 'cluster-secrets');
      assert.is(secrets.spec.path, `./kubernetes/clusters/${c.name}/secrets`);
      assert.is(secrets.spec.sourceRef.name, 'flux-system');
      // Every one of them became Ready in dependency order, and the bootstrap saw them all.
      const state = lab.state().flux!;
      assert.ok(state.kustomizations.every((k) => k.ready === 'True'), JSON.stringify(state.kustomizations));
      for (const n of expected) assert.match(r.text, `kustomization ${n}: Ready`);
      // The flux-system Kustomization syncs the cluster's own path.
      assert.is(fx.kustomizations.find((k: { name: string }) => k.name === 'flux-system').spec.path, `./kubernetes/clusters/${c.name}`);
      assert.is(world.repo.head(), world.repo.remoteHead());
    } finally {
      lab.cleanup();
      await world.cleanup();
    }
  });
}

test('a Flux path that does not build leaves flux-system Ready False with kustomize-controller\'s message', async () => {
  const world = await makeWorld('one-node.yaml', (raw) => {
    raw.cluster = { ...(raw.cluster as object), name: 'home', role: 'infra' };
  });
  const { lab, run } = labForWorld(world, { kustomizations: undefined, originDir: world.repo.origin, originBranch: 'main' });
  try {
    // Pushed (a working-copy change alone would not count): the role tree names a file that does not exist.
    const tree = join(world.repo.root, 'kubernetes/clusters/infra/flux/kustomization.yaml');
    writeFileSync(tree, `${readFileSync(tree, 'utf8')}  - missing.yaml\n`);
    sh(world.repo.root, 'git', 'commit', '--quiet', '-am', 'broken tree');
    sh(world.repo.root, 'git', 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
    const r = await run();
    assert.is(r.exitCode, 1, r.text);
    assert.match(r.text, /kustomize build failed: .*missing\.yaml/);
    const root = lab.state().flux!.kustomizations.find((k) => k.name === 'flux-system')!;
    assert.is(root.ready, 'False');
    assert.is(lab.state().flux!.kustomizations.length, 1, 'nothing else applied');
  } finally {
    lab.cleanup();
    await world.cleanup();
  }
});

test.run();
