import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { SourceIndex } from '../../scripts/lib/validate/kustomize.ts';
import type { Finding } from '../../scripts/lib/validate/model.ts';
import { listPins, type Pin } from '../../scripts/lib/validate/pins.ts';
import { parseTerraform } from '../../scripts/lib/validate/terraform.ts';
import { extractDependencies, readRenovateConfig, renovate, resolveRenovateConfig, type ExtractedDep, type RenovateConfig } from './extract.ts';

// The Renovate configuration, offline: Renovate's own validator accepts it, Renovate's own managers (built-in and the
// custom regex ones) find every version the repository pins, and its package rules keep Talos and Kubernetes safe.

const CONFIG_FILE = '.renovaterc.json5';
const VALIDATOR = join(REPO_ROOT, 'node_modules', 'renovate', 'dist', 'config-validator.js');

function validate(cwd: string, file: string) {
  // --no-global: a repository config, not a self-hosted admin config. LOG_FORMAT=json keeps the output parseable.
  const r = spawnSync(process.execPath, [VALIDATOR, '--strict', '--no-global', file], { cwd, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'info' } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), 'renovate-'));
}

function write(root: string, file: string, text: string) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
}

/** Pins no manager reports with the same file and version (a dependency Renovate skips does not count). */
function uncovered(pins: Pin[], deps: ExtractedDep[]): Pin[] {
  return pins.filter(
    (p) => !deps.some((d) => !d.skipReason && d.file === p.file && (d.currentValue === p.version || d.currentDigest === p.version)),
  );
}

async function pinsOf(root: string): Promise<Pin[]> {
  const findings: Finding[] = [];
  const pins = listPins({ root, index: new SourceIndex(root, ['kubernetes']), tfFiles: await parseTerraform(root, findings) });
  assert.equal(findings, [], 'the Terraform files parse');
  return pins;
}

const format = (ps: Pin[]) => ps.map((p) => `${p.file}: ${p.what} ${p.version}`).join('\n');

let config: RenovateConfig;
let deps: ExtractedDep[];

test.before(async () => {
  config = await resolveRenovateConfig(await readRenovateConfig(join(REPO_ROOT, CONFIG_FILE)));
  deps = await extractDependencies(REPO_ROOT, config);
});

test('renovate-config-validator --strict accepts the repository config', () => {
  const r = validate(REPO_ROOT, CONFIG_FILE);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, 'Config validated successfully');
});

test('renovate-config-validator --strict rejects a config with an unknown option and a custom manager without a version', () => {
  const root = tmpRoot();
  try {
    write(root, CONFIG_FILE, `{ extends: ['config:recommended'], automergeEverything: true,
      customManagers: [{ customType: 'regex', managerFilePatterns: ['/x/'], matchStrings: ['x'], datasourceTemplate: 'docker' }] }\n`);
    const r = validate(root, CONFIG_FILE);
    assert.is.not(r.code, 0, r.out);
    assert.match(r.out, 'automergeEverything');
    assert.match(r.out, 'currentValue');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the custom managers\' patterns are RE2 patterns (no lookaround, no backreference)', async () => {
  // Renovate runs them with RE2 where it is installed (the hosted app); here, without the native module, the validator
  // falls back to JavaScript RegExp and would accept what RE2 rejects.
  const repo = await readRenovateConfig(join(REPO_ROOT, CONFIG_FILE));
  const patterns = ((repo.customManagers as { matchStrings?: string[] }[] | undefined) ?? []).flatMap((m) => m.matchStrings ?? []);
  assert.ok(patterns.length >= 5);
  for (const p of patterns) {
    assert.not.match(p, /\(\?<?[=!]/, `lookaround in ${p}`);
    assert.not.match(p, /\\[1-9]/, `backreference in ${p}`);
    assert.not.match(p, /\(\?[imsU]+\)/, `inline flags in ${p}`);
    new RegExp(p); // also valid JavaScript
  }
});

test('every version the repository pins is found by a Renovate manager', async () => {
  const pins = await pinsOf(REPO_ROOT);
  // The kinds of pin the issue names are all there: were one parser to stop finding them, the diff would prove nothing.
  for (const what of ['versions.talos', 'versions.kubernetes', 'versions.cilium', 'versions.flux', 'tool talosctl', 'provider bpg/proxmox', 'terraform required_version', 'npm zx']) {
    assert.ok(pins.some((p) => p.what === what), `a pin "${what}" is listed`);
  }
  for (const prefix of ['chart ', 'OCIRepository ', 'image ']) assert.ok(pins.some((p) => p.what.startsWith(prefix)), `pins "${prefix}…" are listed`);
  const missing = uncovered(pins, deps);
  assert.ok(!missing.length, `no Renovate manager finds these pins: add a manager to ${CONFIG_FILE}\n${format(missing)}`);
});

test('each cluster-config version has the datasource that publishes it', () => {
  const byName = (file: string, depName: string) => deps.find((d) => d.file === file && d.depName === depName && !d.skipReason);
  const cfg = parseYaml(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8')) as { versions: Record<string, string> };
  assert.equal(
    ['siderolabs/talos', 'kubernetes/kubernetes', 'cilium', 'fluxcd/flux2'].map((n) => {
      const d = byName('cluster.example.yaml', n);
      return d && [d.datasource, d.currentValue];
    }),
    [
      ['github-releases', cfg.versions.talos],
      ['github-releases', cfg.versions.kubernetes],
      ['helm', cfg.versions.cilium],
      ['github-releases', cfg.versions.flux],
    ],
  );
  assert.is(byName('terraform/versions.tf', 'proxmox')?.datasource, 'terraform-provider');
  // Symlinked layer copies are not package files for Renovate (it would otherwise write through the link three times).
  assert.not.ok(deps.some((d) => /^terraform\/[^/]+\/versions\.tf$/.test(d.file)));
});

test('a new pinned file that no manager covers fails the coverage check', async () => {
  const root = tmpRoot();
  try {
    copyFileSync(join(REPO_ROOT, CONFIG_FILE), join(root, CONFIG_FILE));
    write(root, 'cluster.example.yaml', 'versions:\n  talos: v1.11.6\n  kubernetes: 1.34.1\n');
    // A chart value that sets only an image tag (the chart names the image: no manager can know which), one annotated
    // for the comment manager, one image the flux manager finds; a mise tool Renovate has no datasource for.
    write(
      root,
      'kubernetes/apps/echo/helmrelease.yaml',
      `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: echo
  namespace: default
spec:
  chartRef:
    kind: OCIRepository
    name: echo
  values:
    image:
      tag: 1.2.3
    sidecar:
      image:
        repository: ghcr.io/example/sidecar
        tag: 2.0.0
    exporter:
      image:
        # renovate: datasource=docker depName=ghcr.io/example/exporter
        tag: 0.9.1
`,
    );
    write(root, '.mise.toml', '[tools]\nsome-unknown-cli = "0.4.2"\n');
    const fixtureConfig = await resolveRenovateConfig(await readRenovateConfig(join(root, CONFIG_FILE)));
    const missing = uncovered(await pinsOf(root), await extractDependencies(root, fixtureConfig));
    assert.equal(missing.map((p) => `${p.file}: ${p.what} ${p.version}`), [
      '.mise.toml: tool some-unknown-cli 0.4.2',
      'kubernetes/apps/echo/helmrelease.yaml: image (image.tag) 1.2.3',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

// ---- package rules, applied by Renovate's own rule engine ---------------------------------------------------------

async function rulesFor(dep: ExtractedDep, updateType: 'major' | 'minor' | 'patch'): Promise<RenovateConfig> {
  return (await (await renovate()).packageRules.applyPackageRules({ ...config, ...dep, packageName: dep.packageName ?? dep.depName, packageFile: dep.file, updateType })) as RenovateConfig;
}

// Kubernetes minors each Talos minor runs (support matrix: https://www.talos.dev/v1.11/introduction/support-matrix/,
// https://docs.siderolabs.com/talos/v1.13/getting-started/support-matrix).
const TALOS_KUBERNETES_MAX: Record<string, string> = { '1.11': '1.34', '1.12': '1.35', '1.13': '1.36' };

test('Talos and Kubernetes are never auto-merged, go one minor at a time and wait for approval', async () => {
  const cluster = deps.filter((d) => ['siderolabs/talos', 'kubernetes/kubernetes'].includes(d.packageName ?? '') && d.datasource?.startsWith('github-'));
  // cluster config, rendered copies, and the talosctl/kubectl clients in .mise.toml
  assert.ok(cluster.length >= 5, `Talos and Kubernetes pins found: ${cluster.map((d) => d.file).join(', ')}`);
  for (const dep of cluster) {
    for (const updateType of ['major', 'minor', 'patch'] as const) {
      const r = await rulesFor(dep, updateType);
      const at = `${dep.file} ${dep.depName} (${updateType})`;
      assert.is(r.automerge, false, `${at}: automerge`);
      assert.is(r.dependencyDashboardApproval, true, `${at}: dashboard approval`);
      assert.is(r.separateMultipleMinor, true, `${at}: one minor at a time`);
      assert.is(r.groupName, dep.packageName === 'siderolabs/talos' ? 'Talos' : 'Kubernetes', `${at}: group`);
    }
  }
  // The Terraform provider siderolabs/talos is a different thing with the same name: not in the Talos group.
  const provider = deps.find((d) => d.datasource === 'terraform-provider' && d.packageName === 'siderolabs/talos');
  assert.ok(provider);
  assert.is.not((await rulesFor(provider!, 'minor')).groupName, 'Talos');
});

test('Kubernetes is not offered past the newest minor the pinned Talos supports', async () => {
  const cfg = parseYaml(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8')) as { versions: Record<string, string> };
  const talosMinor = cfg.versions.talos!.replace(/^v/, '').split('.').slice(0, 2).join('.');
  const max = TALOS_KUBERNETES_MAX[talosMinor];
  assert.ok(max, `Talos ${talosMinor}: add its Kubernetes range from the Talos support matrix to TALOS_KUBERNETES_MAX`);
  const [major, minor] = max!.split('.').map(Number);
  const k8s = deps.filter((d) => d.packageName === 'kubernetes/kubernetes');
  assert.ok(k8s.length >= 2);
  for (const dep of k8s) {
    const r = await rulesFor(dep, 'minor');
    const v = (await renovate()).versioning.get(r.versioning as string);
    assert.ok(typeof r.allowedVersions === 'string', `${dep.file}: allowedVersions set`);
    assert.ok(v.matches(`${major}.${minor}.9`, r.allowedVersions), `${dep.file}: Kubernetes ${max} is allowed with Talos ${talosMinor}`);
    assert.not.ok(v.matches(`${major}.${minor! + 1}.0`, r.allowedVersions), `${dep.file}: Kubernetes ${major}.${minor! + 1} is past Talos ${talosMinor}`);
  }
});

test('patch releases of Flux-installed charts share one pull request; images and Cilium do not', async () => {
  const charts = deps.filter((d) => d.manager === 'flux' && (d.datasource === 'helm' || d.file.includes('/sources/')));
  assert.ok(charts.length >= 10, `charts found: ${charts.length}`);
  for (const dep of charts) assert.is((await rulesFor(dep, 'patch')).groupName, 'chart patch releases', `${dep.file} ${dep.depName}`);
  for (const dep of charts.slice(0, 3)) assert.is.not((await rulesFor(dep, 'minor')).groupName, 'chart patch releases', `${dep.depName} minor`);
  const image = deps.find((d) => d.manager === 'flux' && d.datasource === 'docker' && !d.file.includes('/sources/'));
  const cilium = deps.find((d) => d.depName === 'cilium');
  for (const dep of [image, cilium]) {
    assert.ok(dep);
    assert.is.not((await rulesFor(dep!, 'patch')).groupName, 'chart patch releases', dep!.depName);
  }
});

test('the dependency dashboard is on', () => {
  assert.is(config.dependencyDashboard, true);
});

test.run();
