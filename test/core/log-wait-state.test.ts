import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FatalError, Logger, formatConsoleLine, formatLine, useColor } from '../../scripts/lib/core/log.ts';
import { StateStore } from '../../scripts/lib/core/state.ts';
import { WaitTimeoutError, progressLine, waitFor } from '../../scripts/lib/core/wait.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'spine-'));

test('log lines carry timestamp, level, message and key=value fields', () => {
  const line = formatLine('info', 'applied config', { node: 'cp-1', ip: '10.0.0.1', note: 'two words' }, new Date('2026-01-02T03:04:05.000Z'));
  assert.is(line, '2026-01-02T03:04:05.000Z INFO  applied config node=cp-1 ip=10.0.0.1 note="two words"');
});

test('the console gets the chosen level and up; the file gets everything; fatal throws', () => {
  const dir = tmp();
  const shown: string[] = [];
  const log = new Logger({ level: 'warn', file: join(dir, 'x.log'), write: (l) => shown.push(l) });
  log.debug('d');
  log.info('i');
  log.warn('w');
  assert.throws(() => log.fatal('cannot continue'), (e: unknown) => e instanceof FatalError);
  assert.is(shown.length, 2);
  // The console: no timestamp, warnings and errors marked; the file: every line with its timestamp and level.
  assert.equal(shown, ['warning: w', 'error: cannot continue']);
  const file = readFileSync(join(dir, 'x.log'), 'utf8').trim().split('\n');
  assert.is(file.length, 4);
  assert.match(file[3]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z FATAL cannot continue$/);
  assert.is(statSync(join(dir, 'x.log')).mode & 0o777, 0o600);
  rmSync(dir, { recursive: true });
});

test('colour only on a terminal without NO_COLOR; a pipe gets plain text', () => {
  assert.is(useColor({ isTTY: true }, {}), true);
  assert.is(useColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.is(useColor({ isTTY: false }, {}), false);
  assert.is(useColor({}, {}), false);
  assert.is(formatConsoleLine('error', 'boom', {}, true), '\x1b[31merror: \x1b[0mboom');
  assert.is(formatConsoleLine('warn', 'careful', { node: 'cp-1' }, false), 'warning: careful node=cp-1');
  assert.is(formatConsoleLine('info', 'done', {}, true), 'done');
  const shown: string[] = [];
  new Logger({ write: (l) => shown.push(l) }).error('plain');
  assert.equal(shown, ['error: plain'], 'a custom writer (a pipe, a test) gets no escape codes');
});

function fakeClock() {
  let t = 0;
  return { now: () => t, sleep: async (ms: number) => void (t += ms) };
}

test('waitFor returns when the check is done and prints progress as the state changes', async () => {
  const shown: string[] = [];
  const log = new Logger({ write: (l) => shown.push(l) });
  const clock = fakeClock();
  let n = 0;
  const res = await waitFor({
    what: 'nodes Ready',
    timeoutMs: 600_000,
    intervalMs: 30_000,
    log,
    ...clock,
    check: async () => ({ done: ++n >= 4, detail: `${Math.min(n, 3)}/3 Ready` }),
  });
  assert.is(res.polls, 4);
  assert.ok(shown.some((l) => l.includes('waiting for nodes Ready (30s/600s): 2/3 Ready')), shown.join('\n'));
});

test('waitFor times out with diagnostics and a hint; a throwing check counts as not yet', async () => {
  const log = new Logger({ write: () => undefined });
  const clock = fakeClock();
  let diagnosed = 0;
  try {
    await waitFor({
      what: 'the VIP to answer',
      timeoutMs: 10_000,
      intervalMs: 1000,
      log,
      ...clock,
      check: async () => {
        throw new Error('connection refused');
      },
      diagnose: async () => {
        diagnosed++;
        return 'etcd: Preparing';
      },
      hint: 'check the control planes',
    });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, WaitTimeoutError);
    const e = err as WaitTimeoutError;
    assert.is(diagnosed, 1);
    assert.match(e.message, /timed out after 10s waiting for the VIP to answer/);
    assert.match(e.message, /last state: connection refused/);
    assert.match(e.message, /etcd: Preparing/);
    assert.match(e.message, /next: check the control planes/);
  }
  assert.is(progressLine('X', 90_000, 600_000), 'waiting for X (90s/600s)');
});

test('state store persists phases atomically and refuses another cluster\'s file', () => {
  const dir = tmp();
  const path = join(dir, 'state.json');
  const s = new StateStore(path, 'infra');
  s.update('talos', { status: 'running', startedAt: 'a' });
  s.update('talos', { status: 'done', summary: 'applied 5 configs' });
  const again = new StateStore(path, 'infra');
  assert.is(again.phase('talos').status, 'done');
  assert.is(again.phase('talos').startedAt, 'a');
  assert.is(again.phase('cni').status, 'pending');
  assert.equal(readdirSync(dir), ['state.json']);
  assert.throws(() => new StateStore(path, 'apps'), /belongs to cluster "infra"/);
  writeFileSync(path, '{"version":1,"cluster":"infra","updatedAt":"x","phases":{}}');
  assert.is(new StateStore(path, 'infra').phase('talos').status, 'pending');
  rmSync(dir, { recursive: true });
});

test.run();
