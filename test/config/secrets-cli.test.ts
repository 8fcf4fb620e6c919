import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, checkSecrets, loadSecrets, parseConfigText } from '../../scripts/lib/config/load.ts';
import { executeScript, helpText } from '../../scripts/lib/core/cli.ts';
import { clearSecrets, redact } from '../../scripts/lib/core/redact.ts';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';

const example = () => parseConfigText(readFileSync(join(REPO_ROOT, 'cluster.example.yaml'), 'utf8'));

test('a real run needs a .env secret for every enabled section, and the error names each one', () => {
  const c = example();
  try {
    checkSecrets(c, { GITHUB_TOKEN: 'ghp_x' });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ConfigError);
    const text = (e as ConfigError).problems.join('\n');
    assert.match(text, /PROXMOX_VE_API_TOKEN is missing \(needed by section "proxmox"/);
    assert.match(text, /PDNS_API_KEY is missing \(needed by section "powerdns"/);
    assert.match(text, /TAILSCALE_AUTHKEY is missing \(needed by section "headscale"/);
    assert.not.match(text, /GITHUB_TOKEN/);
  }
  // sections that are absent need nothing
  const solo = parseConfigText(readFileSync(join(REPO_ROOT, 'test/fixtures/config/valid/one-node.yaml'), 'utf8'));
  checkSecrets(solo, { PROXMOX_VE_API_TOKEN: 't@pve!x=1', GITHUB_TOKEN: 'g' });
});

test('.env values are registered for redaction', () => {
  const dir = mkdtempSync(join(tmpdir(), 'env-'));
  writeFileSync(join(dir, '.env'), 'PDNS_API_KEY=pdns-key-123456\n');
  const s = loadSecrets(join(dir, '.env'), {});
  assert.is(s.PDNS_API_KEY, 'pdns-key-123456');
  assert.is(redact('key=pdns-key-123456'), 'key=<redacted>');
  clearSecrets();
  rmSync(dir, { recursive: true });
});

const spec = {
  name: 'demo',
  summary: 'a demo script',
  options: { node: { type: 'string' as const, value: 'NAME', help: 'which node' } },
  async run() {
    return 0;
  },
};

test('every script gets the same --help with its own options and the common ones', () => {
  const h = helpText(spec);
  for (const flag of ['--node NAME', '--config FILE', '--dry-run', '--log-level LEVEL', '--help']) assert.match(h, flag);
});

test('an unknown flag exits 2; an invalid config exits 3 naming the field', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const prev = process.env.HOME_OPS_STATE_DIR;
  process.env.HOME_OPS_STATE_DIR = dir;
  const origWrite = process.stderr.write.bind(process.stderr);
  let captured = '';
  process.stderr.write = ((chunk: string) => ((captured += chunk), true)) as typeof process.stderr.write;
  try {
    assert.is(await executeScript(spec, ['--bogus']), 2);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, readFileSync(join(REPO_ROOT, 'test/fixtures/config/invalid/duplicate-ip-vip.yaml'), 'utf8'));
    assert.is(await executeScript(spec, ['--config', bad]), 3);
    assert.is(await executeScript(spec, ['--config', join(REPO_ROOT, 'cluster.example.yaml')]), 0);
  } finally {
    process.stderr.write = origWrite;
    if (prev === undefined) delete process.env.HOME_OPS_STATE_DIR;
    else process.env.HOME_OPS_STATE_DIR = prev;
    rmSync(dir, { recursive: true });
  }
  assert.match(captured, /demo: unknown option --bogus \(--help lists the options\)/);
  assert.match(captured, /nodes\[0\]\.ip: 192\.168\.50\.10 is used by both network\.vip and nodes\[0\] \(solo-cp-1\)/);
});

test.run();
