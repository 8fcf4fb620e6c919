import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Logger } from '../../scripts/lib/core/log.ts';
import { clearSecrets, registerSecret } from '../../scripts/lib/core/redact.ts';
import { CommandError, Runner, formatArgv, shortArgv } from '../../scripts/lib/core/runner.ts';

function setup(dryRun = false) {
  const dir = mkdtempSync(join(tmpdir(), 'runner-'));
  const lines: string[] = [];
  const printed: string[] = [];
  const log = new Logger({ level: 'debug', file: join(dir, 'run.log'), write: (l) => lines.push(l) });
  const runner = new Runner({ log, dryRun, print: (l) => printed.push(l) });
  return { dir, lines, printed, log, runner, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('arguments reach the process exactly, spaces and quotes included (no hand quoting)', async () => {
  const { runner, cleanup } = setup();
  const args = ['a b', "it's", '$HOME', '"q"', ';rm -rf /'];
  const res = await runner.run(['node', '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args]);
  assert.equal(JSON.parse(res.stdout), args);
  assert.is(res.exitCode, 0);
  cleanup();
});

test('dry-run prints actions and runs nothing; probes are not run and report not-ok', async () => {
  const { runner, printed, dir, cleanup } = setup(true);
  const marker = join(dir, 'touched');
  const act = await runner.run(['touch', marker]);
  const probe = await runner.probe(['ls', dir]);
  assert.ok(act.ok && act.dryRun);
  assert.is(probe.ok, false);
  assert.equal(printed, [`    $ touch ${marker}`]);
  assert.throws(() => readFileSync(marker));
  assert.is(runner.history.length, 2);
  cleanup();
});

test('a failing action throws CommandError with exit code, stderr and the hint', async () => {
  const { runner, cleanup } = setup();
  try {
    await runner.run(['node', '-e', 'console.error("boom: disk full"); process.exit(3)'], { hint: 'free some space' });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, CommandError);
    const e = err as CommandError;
    assert.is(e.result.exitCode, 3);
    assert.match(e.message, /command failed \(exit 3\)/);
    assert.match(e.message, /boom: disk full/);
    assert.match(e.message, /next: free some space/);
  }
  cleanup();
});

test('info shows the command short (repo-relative paths, long arguments cut); debug and the file get it whole', async () => {
  assert.is(shortArgv(['terraform', '-chdir=/repo/terraform/01-infrastructure', 'apply'], 140, '/repo', '/home/u'), 'terraform -chdir=terraform/01-infrastructure apply');
  assert.is(shortArgv(['talosctl', '--talosconfig', '/home/u/.local/state/home-ops/infra/talos/talosconfig'], 140, '/repo', '/home/u'), 'talosctl --talosconfig ~/.local/state/home-ops/infra/talos/talosconfig');
  assert.match(shortArgv(['kubectl', 'patch', '-p', 'x'.repeat(300)], 140, '/repo', '/home/u'), /^kubectl patch -p x{45}…$/);
  assert.ok(shortArgv(Array.from({ length: 60 }, (_, i) => `arg${i}`)).length <= 140);
  const { runner, lines, dir, cleanup } = setup();
  const long = 'y'.repeat(200);
  await runner.run(['node', '-e', '0', long]);
  const info = lines.find((l) => l.startsWith('ran '))!;
  assert.ok(info && !info.includes(long), info);
  assert.ok(lines.some((l) => l.includes(long)), 'the full argv is at debug');
  assert.match(readFileSync(join(dir, 'run.log'), 'utf8'), long);
  cleanup();
});

test('a failing probe does not throw', async () => {
  const { runner, cleanup } = setup();
  const res = await runner.probe(['node', '-e', 'process.exit(4)']);
  assert.is(res.ok, false);
  assert.is(res.exitCode, 4);
  cleanup();
});

test('secrets handed over stdin reach the process but never the log or the command line', async () => {
  const { runner, lines, dir, cleanup } = setup();
  const secret = 'tok-3f9a8c77-secret';
  registerSecret(secret);
  const res = await runner.run(['node', '-e', 'process.stdin.pipe(process.stdout)'], { input: secret });
  assert.is(res.stdout, secret);
  // a secret that ends up in argv anyway is redacted in what is shown
  assert.not.match(formatArgv(['curl', '-H', `X-API-Key: ${secret}`]), secret);
  await runner.probe(['node', '-e', `console.error(${JSON.stringify(secret)}); process.exit(1)`]).catch(() => undefined);
  const file = readFileSync(join(dir, 'run.log'), 'utf8');
  assert.not.ok(file.includes(secret), 'secret reached the log file');
  assert.not.ok(lines.join('\n').includes(secret), 'secret reached the console');
  clearSecrets();
  cleanup();
});

test('timeouts kill the command and say so', async () => {
  const { runner, cleanup } = setup();
  const res = await runner.probe(['sleep', '5'], { timeoutMs: 200 });
  assert.is(res.ok, false);
  assert.ok(res.durationMs < 3000, `took ${res.durationMs}ms`);
  assert.match(res.stderr, /timeout/);
  cleanup();
});

test.run();
