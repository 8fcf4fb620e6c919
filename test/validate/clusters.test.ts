import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { renderAll } from '../../scripts/lib/configure/render.ts';
import { runnerExec } from '../../scripts/lib/validate/exec.ts';
import { validateRepository } from '../../scripts/lib/validate/run.ts';
import { show } from './fixture.ts';

// A new cluster as a new user makes it: the example config copied and renamed, one optional section removed, then
// `configure` — and the rendered Flux entry builds and passes validate (real `kubectl kustomize`) on a copy of the
// repository's Flux tree, with the Kustomizations that need the removed section left out.

test('a cluster made from a copied config alone builds and validates, without the Kustomizations of a removed section', async () => {
  const root = mkdtempSync(join(tmpdir(), 'new-cluster-'));
  try {
    cpSync(join(REPO_ROOT, 'kubernetes'), join(root, 'kubernetes'), { recursive: true });
    cpSync(join(REPO_ROOT, 'schemas'), join(root, 'schemas'), { recursive: true });
    // The alert rules name their runbook lines in README.md's "When things break".
    cpSync(join(REPO_ROOT, 'README.md'), join(root, 'README.md'));
    const example = readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8');
    const text = example.replace('name: infra ', 'name: lab ').replace(/\npowerdns:[\s\S]*?\n(?=proxmoxCsi:)/, '\n');
    const lab = parseConfigText(text, 'clusters/lab.yaml');
    assert.is(lab.powerdns, undefined);
    for (const [rel, content] of renderAll(lab)) {
      if (!rel.startsWith('kubernetes/')) continue;
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), content);
    }
    const r = await validateRepository({ root, exec: runnerExec(new Logger({ level: 'error' })), clusters: ['lab'], terraformFmt: false });
    const problems = r.findings.filter((f) => f.level !== 'warning' && f.check !== 'taskfile');
    assert.equal(problems, [], show(problems));
    const ks = [...r.trees[0]!.kustomizations.keys()];
    for (const k of ['sources', 'cluster-secrets', 'cert-manager', 'proxmox-csi', 'vault']) assert.ok(ks.includes(`flux-system/${k}`), k);
    for (const k of ['powerdns', 'external-dns', 'cluster-issuers', 'authentik', 'gitea']) assert.not.ok(ks.includes(`flux-system/${k}`), k);
    const secrets = r.trees[0]!.kustomizations.get('flux-system/cluster-secrets')!.obj as { spec: { path: string } };
    assert.is(secrets.spec.path, './kubernetes/clusters/lab/secrets');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
