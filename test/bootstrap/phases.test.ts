import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectPhases, configHash, PHASES, PhaseSelectionError } from '../../scripts/lib/bootstrap/phases.ts';
import { summaryTable, formatDuration, rowFromRecord } from '../../scripts/lib/bootstrap/summary.ts';
import { CommandError } from '../../scripts/lib/core/runner.ts';
import { bootstrapSecrets } from '../../scripts/lib/bootstrap/secrets.ts';
import { tailscalePatch, genConfigInputsHash } from '../../scripts/lib/bootstrap/talos.ts';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import type { PhaseRecord } from '../../scripts/lib/core/state.ts';
import { activeKeyManifest, certOfKeySecret, keyPairArgv, pairMatches, sameCert, secretDigest, splitKeyPair } from '../../scripts/lib/sealed-secrets/keypair.ts';
import { parse } from 'yaml';
import { pollPause } from '../../scripts/lib/bootstrap/steps.ts';
import { isBootstrapOwned } from '../../scripts/lib/bootstrap/preflight.ts';

const config = (name: string) => parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid', name), 'utf8'), name);
const none = (): PhaseRecord => ({ status: 'pending' });

test('a fresh run runs every phase', () => {
  const plan = selectPhases({}, none, 'h');
  assert.equal(plan.filter((p) => p.run).map((p) => p.name), [...PHASES]);
});

test('resume: phases done for the same config are skipped; preflight and verify always run', () => {
  const state: Record<string, PhaseRecord> = {
    infra: { status: 'done', facts: { configHash: 'h' } },
    talos: { status: 'failed', facts: { configHash: 'h' } },
  };
  const plan = selectPhases({}, (n) => state[n] ?? none(), 'h');
  assert.equal(plan.filter((p) => p.run).map((p) => p.name), ['preflight', 'talos', 'cni', 'secrets', 'gitops', 'integrations', 'verify']);
  assert.is(plan.find((p) => p.name === 'talos')!.reason, 'failed');
  // A changed config re-runs a done phase (its probes keep it from redoing what exists).
  const changed = selectPhases({}, (n) => state[n] ?? none(), 'other');
  assert.is(changed.find((p) => p.name === 'infra')!.reason, 'config-changed');
  // An interrupted phase runs again.
  const interrupted = selectPhases({}, (n) => (n === 'cni' ? { status: 'interrupted' } : { status: 'done', facts: { configHash: 'h' } }), 'h');
  assert.equal(interrupted.filter((p) => p.run).map((p) => p.name), ['preflight', 'cni', 'verify']);
});

test('--from and --only override the state file; bad names and both together are refused', () => {
  const done = (): PhaseRecord => ({ status: 'done', facts: { configHash: 'h' } });
  assert.equal(selectPhases({ from: 'cni' }, done, 'h').filter((p) => p.run).map((p) => p.name), ['cni', 'secrets', 'gitops', 'integrations', 'verify']);
  assert.equal(selectPhases({ only: 'talos' }, done, 'h').filter((p) => p.run).map((p) => p.name), ['talos']);
  assert.throws(() => selectPhases({ only: 'talsos' }, none, 'h'), (e: unknown) => e instanceof PhaseSelectionError && /unknown phase/.test((e as Error).message));
  assert.throws(() => selectPhases({ from: 'cni', only: 'talos' }, none, 'h'), /cannot be combined/);
  // The plan ignores the state: it always shows the cold start.
  assert.equal(selectPhases({}, done, 'h', true).filter((p) => p.run).length, PHASES.length);
});

test('config hash is stable across key order and changes with the config', () => {
  const a = config('five-node.yaml');
  const b = JSON.parse(JSON.stringify(a));
  assert.is(configHash(a), configHash(b));
  assert.is.not(configHash(a), configHash({ ...a, network: { ...a.network, vip: '10.0.10.9' } }));
});

test('summary table aligns columns and shows durations', () => {
  const table = summaryTable([
    { phase: 'preflight', status: 'done', durationMs: 1500, what: 'ok' },
    { phase: 'talos', status: 'failed', durationMs: 125_000, what: 'command failed' },
    rowFromRecord('infra', { status: 'done', finishedAt: '2026-01-01T00:00:00Z', summary: 'applied' }, false),
  ]);
  const lines = table.split('\n');
  assert.match(lines[0]!, /^PHASE\s+STATUS\s+DURATION\s+WHAT IT DID$/);
  assert.match(lines[2]!, /^talos\s+failed\s+2m05s\s+command failed$/);
  assert.match(lines[3]!, /^infra\s+skipped\s+-\s+done 2026-01-01T00:00:00Z \(unchanged config\): applied$/);
  assert.is(formatDuration(250), '250ms');
});

test("a failed phase's summary row says why: the tool, its exit code and its last stderr line", () => {
  const err = new CommandError(
    { argv: ['talosctl', 'apply-config', '--insecure', '--nodes', '10.0.10.11', '--file', '/home/u/.local/state/x/controlplane.yaml'], exitCode: 1, stdout: '', stderr: 'rpc error: code = Unavailable\nerror applying new configuration: connection refused\n', durationMs: 5, ok: false, dryRun: false },
    'is the node booted from the ISO?',
  );
  const row = rowFromRecord('talos', { status: 'failed', durationMs: 9000, error: err.message }, true);
  assert.is(row.what, 'talosctl apply-config exited 1: error applying new configuration: connection refused');
  assert.is(rowFromRecord('infra', { status: 'failed', error: 'terraform is not installed\nmore' }, true).what, 'terraform is not installed');
  assert.match(rowFromRecord('infra', { status: 'failed' }, true).what, 'no message recorded');
});

test('bootstrap secrets: only for configured sections', () => {
  assert.equal(bootstrapSecrets(config('one-node.yaml'), { PDNS_API_KEY: 'k' }), []);
  const five = bootstrapSecrets(config('five-node.yaml'), { PDNS_API_KEY: 'pdns-key-123' });
  // The backups section's target (its keys in .env) goes to every writer: the snapshot jobs and each database; the
  // alert receiver's credential as its receiver needs (the example's: the Matrix account's token).
  assert.equal(five.map((s) => `${s.namespace}/${s.name}`), ['dns-system/powerdns-api-key', 'backups/backup-target', 'vault/backup-target', 'authentik/backup-target', 'gitea/backup-target', 'harbor/backup-target', 'matrix/backup-target', 'monitoring/matrix-alertmanager-receiver']);
  assert.is(five[0]!.stringData['api-key'], 'pdns-key-123');
});

test('tailscale patch only with headscale + the tailscale extension + an auth key', () => {
  const five = config('five-node.yaml');
  assert.is(tailscalePatch(five, undefined), undefined);
  assert.is(tailscalePatch(config('one-node.yaml'), 'tskey'), undefined);
  const doc = parse(tailscalePatch(five, 'tskey-auth-1')!) as { kind: string; environment: string[] };
  assert.is(doc.kind, 'ExtensionServiceConfig');
  assert.ok(doc.environment.includes('TS_AUTHKEY=tskey-auth-1'));
  // Routes in TS_ROUTES (siderolabs/extensions network/tailscale/README.md), not a second --advertise-routes.
  assert.ok(doc.environment.includes('TS_ROUTES=10.0.10.0/24,10.0.10.192/27'), doc.environment.join('\n'));
  const extra = doc.environment.find((e) => e.startsWith('TS_EXTRA_ARGS='))!;
  assert.match(extra, /^TS_EXTRA_ARGS=--login-server=https:\/\/headscale\.example\.org --accept-routes/);
  assert.not.match(extra, /advertise-routes/);
  assert.is.not(genConfigInputsHash(['a', 'b']), genConfigInputsHash(['ab', '']));
});

test('sealed-secrets key: manifest, cert comparison, keyed digest (real openssl)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-'));
  try {
    // The product's argv with a smaller key (speed): key and certificate both on stdout, no file written.
    const argv = keyPairArgv(1).map((a) => (a === 'rsa:4096' ? 'rsa:2048' : a));
    const pair = splitKeyPair(execFileSync(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] }).toString());
    const { key, cert } = pair;
    assert.match(key, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(cert, /^-----BEGIN CERTIFICATE-----/);
    assert.ok(pairMatches(pair));
    const manifest = parse(activeKeyManifest(pair)) as { type: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; data: Record<string, string> };
    assert.is(manifest.type, 'kubernetes.io/tls');
    assert.is(manifest.metadata.namespace, 'kube-system');
    assert.is(manifest.metadata.labels['sealedsecrets.bitnami.com/sealed-secrets-key'], 'active');
    const back = certOfKeySecret(manifest as unknown as Record<string, unknown>);
    assert.ok(back.active && sameCert(back.cert, cert));
    assert.not.ok(sameCert(cert, undefined));
    assert.is(secretDigest(pair, { a: 1 }), secretDigest(pair, { a: 1 }));
    assert.is.not(secretDigest(pair, { a: 1 }), secretDigest(pair, { a: 2 }));
    assert.not.ok(pairMatches({ key, cert: cert.replace(/A/g, 'B') }));
    assert.equal(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('polls back off with the time waited (5%), within bounds', () => {
  assert.is(pollPause(0, 2000), 100);
  assert.is(pollPause(10_000, 2000), 500);
  assert.is(pollPause(600_000, 2000), 2000);
  assert.is(pollPause(600_000, 5000), 5000);
});

test('preflight tolerates only the files the bootstrap itself writes (it commits them when it resumes)', () => {
  assert.ok(isBootstrapOwned('infra', 'kubernetes/clusters/infra/sealed-secrets-cert.pem'));
  assert.ok(isBootstrapOwned('infra', 'kubernetes/clusters/infra/secrets/powerdns-api-key.sealed.yaml'));
  assert.not.ok(isBootstrapOwned('infra', 'kubernetes/clusters/other/sealed-secrets-cert.pem'));
  assert.not.ok(isBootstrapOwned('infra', 'kubernetes/clusters/infra/cluster-settings.yaml'));
  assert.not.ok(isBootstrapOwned('infra', 'scripts/bootstrap.ts'));
});

test.run();
