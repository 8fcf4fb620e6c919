import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

// `task plan` is the README's first command: it must exit 0 on the built-in default and on every valid config with
// no .env, no credentials, no tools on PATH, no network and no cluster — and print the exact commands.

const VALID = join(REPO_ROOT, 'test/fixtures/config/valid');
const INVALID = join(REPO_ROOT, 'test/fixtures/config/invalid');
const SECRET = 'ghp_THIS_MUST_NEVER_BE_PRINTED_42';

function plan(args: string[], stateDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // PATH holds node only: no talosctl, terraform, helm, flux, kubectl, kubeseal, git or openssl.
    // HOME_OPS_CONFIG_DIR (empty): a user's own cluster.yaml must not replace the built-in default under test.
    const env: NodeJS.ProcessEnv = { PATH: dirname(process.execPath), HOME: stateDir, HOME_OPS_STATE_DIR: stateDir, HOME_OPS_CONFIG_DIR: stateDir, GITHUB_TOKEN: SECRET };
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/bootstrap.ts'), '--dry-run', ...args], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const dirs: string[] = [];
const cases = [[], ...readdirSync(VALID).filter((f) => f.endsWith('.yaml')).map((f) => ['--config', join(VALID, f)])];
let results: { args: string[]; code: number; stdout: string; stderr: string; dir: string }[] = [];

test.before(async () => {
  results = await Promise.all(
    cases.map(async (args) => {
      const dir = mkdtempSync(join(tmpdir(), 'plan-'));
      dirs.push(dir);
      return { args, dir, ...(await plan(args, dir)) };
    }),
  );
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the plan exits 0 on the default and on every valid config, with no tools, .env or network', () => {
  assert.ok(results.length >= 5);
  for (const r of results) {
    assert.is(r.code, 0, `plan ${r.args.join(' ') || '(default)'} exited ${r.code}:\n${r.stderr}`);
    for (let i = 1; i <= 8; i++) assert.match(r.stdout, new RegExp(`\\[${i}/8\\] `));
  }
});

test('the default plan lists the exact commands of a cold start, in phase order', () => {
  const out = results[0]!.stdout;
  const order = [
    'terraform -chdir=terraform/00-persistent-auth init',
    'terraform -chdir=terraform/01-infrastructure apply',
    'talosctl gen secrets',
    'talosctl gen config infra https://10.0.10.10:6443',
    'talosctl apply-config --insecure --nodes 10.0.10.11',
    'talosctl --endpoints 10.0.10.11 --nodes 10.0.10.11 bootstrap',
    'talosctl --endpoints 10.0.10.11 --nodes 10.0.10.11 kubeconfig',
    'helm upgrade --install cilium cilium --repo https://helm.cilium.io --version 1.18.3',
    'health --control-plane-nodes',
    'openssl req -x509 -newkey rsa:4096',
    'kubectl apply -f - < (stdin)',
    'kubeseal --cert',
    'git push origin HEAD:refs/heads/main',
    'flux bootstrap github --owner=example-user --repository=home-ops --branch=main --path=kubernetes/clusters/infra',
  ];
  let at = 0;
  for (const needle of order) {
    const i = out.indexOf(needle, at);
    assert.ok(i >= 0, `missing (or out of order): ${needle}`);
    at = i;
  }
  // Exactly one etcd bootstrap, one apply per node, in parallel, for 5 nodes.
  assert.is(out.split('\n').filter((l) => /^\s+\$ .* bootstrap$/.test(l)).length, 1);
  assert.is(out.split('\n').filter((l) => l.includes('$ talosctl apply-config --insecure')).length, 5);
});

test('the plan shows no secret and writes no state', () => {
  for (const r of results) {
    assert.not.ok(r.stdout.includes(SECRET) || r.stderr.includes(SECRET));
    const stateFiles = readdirSync(r.dir, { recursive: true }).map(String);
    assert.not.ok(stateFiles.some((f) => f.endsWith('bootstrap-state.json') || f.endsWith('secrets.yaml') || f.endsWith('kubeconfig')), stateFiles.join(', '));
    assert.not.ok(existsSync(join(r.dir, 'infra', 'talos')));
  }
});

test('a one-node plan bootstraps and applies once and has no optional integrations', () => {
  const one = results.find((r) => r.args[1]?.endsWith('one-node.yaml'))!;
  assert.is(one.stdout.split('\n').filter((l) => l.includes('$ talosctl apply-config --insecure')).length, 1);
  assert.match(one.stdout, /nothing configured \(no headscale, proxmoxCsi, powerdns or vps section\)/);
  assert.not.match(one.stdout, /--worker-nodes/);
  assert.not.match(one.stdout, /kubeseal --cert/);
});

test('a cluster using PowerDNS elsewhere (apps): seals the key for the issuer too, checks the other cluster\'s zone, waits for no in-cluster PowerDNS', () => {
  const apps = results.find((r) => r.args[1]?.endsWith('/apps.yaml'))!;
  const infra = results.find((r) => r.args[1]?.endsWith('/five-node.yaml'))!;
  assert.match(apps.stdout, 'kubernetes/clusters/apps/secrets/powerdns-api-key.sealed.yaml kubernetes/clusters/apps/secrets/cert-manager-powerdns-api-key.sealed.yaml');
  const integrations = apps.stdout.slice(apps.stdout.indexOf('[7/8] integrations'), apps.stdout.indexOf('[8/8] verify'));
  assert.match(integrations, 'PowerDNS of another cluster at http://10.0.10.200:8081 (powerdns.external): zone k8s.example.org., names under apps.k8s.example.org:');
  assert.match(integrations, '? GET http://10.0.10.200:8081/api/v1/servers/localhost/zones/k8s.example.org.   # the zone must exist there; nothing is written');
  assert.not.match(integrations, /until [^\n]*powerdns/);
  assert.not.match(integrations, /(POST|PATCH) http/);
  // The cluster that runs PowerDNS does wait for it before it talks to it.
  assert.match(infra.stdout, /until powerdns Ready/);
});

test('the plan refuses every invalid fixture: exit 3, each expected message on stderr, nothing written', async () => {
  const files = readdirSync(INVALID).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 20);
  const failures: string[] = [];
  // Four at a time: each is a Node process with tsx, and the machine has 2 cores.
  for (let i = 0; i < files.length; i += 4) {
    await Promise.all(
      files.slice(i, i + 4).map(async (file) => {
        const dir = mkdtempSync(join(tmpdir(), 'plan-invalid-'));
        dirs.push(dir);
        const r = await plan(['--config', join(INVALID, file)], dir);
        const expects = [...readFileSync(join(INVALID, file), 'utf8').matchAll(/^# expect: (.*)$/gm)].map((m) => m[1]!);
        if (r.code !== 3) failures.push(`${file}: exit ${r.code}, want 3\n${r.stderr}`);
        for (const e of expects) if (!r.stderr.includes(e)) failures.push(`${file}: stderr lacks "${e}"\n${r.stderr}`);
        if (/\[1\/8\]/.test(r.stdout)) failures.push(`${file}: printed a plan`);
        if (readdirSync(dir, { recursive: true }).some((f) => String(f).endsWith('bootstrap-state.json'))) failures.push(`${file}: wrote state`);
      }),
    );
  }
  assert.is(failures.length, 0, failures.join('\n'));
});

test.run();
