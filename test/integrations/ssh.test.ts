import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { registerSecret } from '../../scripts/lib/core/redact.ts';
import { connectSsh, RemoteCommandError, SshError, withSsh } from '../../scripts/lib/ssh/client.ts';
import { checkSshHost, checkSshHosts } from '../../scripts/lib/ssh/remote.ts';
import { startTcpProxy } from '../servers/faults.ts';
import { freePort, startProcess } from '../servers/common.ts';
import { startSshd, type SshdServer } from '../servers/sshd.ts';
import { CaptureLogger, config, makeContext } from './harness.ts';

// The SSH layer against a real OpenSSH server on loopback: key auth, known_hosts verification (wrong or unknown key
// rejected), retries on refused connections, command timeouts, exit status/stdout/stderr, quoting, no secret in logs.

let sshd: SshdServer;
const deps = (over: Record<string, unknown> = {}) => ({
  config: { ssh: { identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile, connectTimeoutMs: 3000, connectAttempts: 4, ...over } } as never,
  log: new CaptureLogger(),
});
const target = () => ({ host: sshd.host, port: sshd.port, user: sshd.user });

test.before(async () => {
  sshd = await startSshd();
});
test.after(async () => {
  await sshd?.stop();
});

test('connects with a key, verifies the host key, returns exit status, stdout and stderr', async () => {
  const d = deps();
  await withSsh(d, target(), async (s) => {
    const r = await s.exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], { check: false });
    assert.is(r.exitCode, 3);
    assert.is(r.stdout, 'out\n');
    assert.is(r.stderr, 'err\n');
    assert.is(r.ok, false);
    assert.is(s.attempts, 1);
  });
  assert.match(d.log.all(), /host key ssh-ed25519 SHA256:/);
});

test('arguments reach the remote command exactly (quoting for the remote shell, no injection)', async () => {
  const args = ["it's", 'a b', '$HOME', '"q"', ';touch /tmp/pwned-by-test', '`id`', 'x!y', 'back\\slash', '', '*', 'new\nline'];
  await withSsh(deps(), target(), async (s) => {
    const r = await s.exec(['node', '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...args]);
    assert.equal(JSON.parse(r.stdout), args);
  });
});

test('authenticates through the SSH agent when no identity file is configured', async () => {
  const sock = join(sshd.dir, 'agent.sock');
  const agent = startProcess(['ssh-agent', '-D', '-a', sock], { logFile: join(sshd.dir, 'agent.log') });
  try {
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(20);
    execFileSync('ssh-add', ['-q', sshd.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const emptyHome = join(sshd.dir, 'empty-home');
    mkdirSync(emptyHome, { recursive: true });
    const env = { SSH_AUTH_SOCK: sock, HOME: emptyHome }; // no ~/.ssh/id_* to fall back on: only the agent can succeed
    await withSsh(deps({ identityFile: undefined }), target(), async (s) => {
      assert.is((await s.exec(['echo', 'via-agent'])).stdout, 'via-agent\n');
    }, { env });
    try {
      await connectSsh(deps({ identityFile: undefined }), target(), { env: { HOME: emptyHome } });
      assert.unreachable('connected without any credentials');
    } catch (err) {
      assert.is((err as SshError).kind, 'credentials');
      assert.match((err as Error).message, /no SSH credentials: set ssh\.identityFile .* or start ssh-agent/);
    }
  } finally {
    await agent.stop();
  }
});

test('a host key that differs from known_hosts is rejected, clearly, without retries', async () => {
  const d = deps({ knownHostsFile: sshd.wrongKnownHostsFile });
  const started = Date.now();
  try {
    await connectSsh(d, target());
    assert.unreachable('connected despite a wrong host key');
  } catch (err) {
    assert.instance(err, SshError);
    const e = err as SshError;
    assert.is(e.kind, 'host-key-changed');
    assert.is(e.attempts, 1);
    assert.match(e.message, /HOST KEY MISMATCH for \[127\.0\.0\.1\]:\d+/);
    assert.match(e.message, /ssh-keygen -R/);
  }
  assert.ok(Date.now() - started < 2500, 'no backoff for a host key failure');
});

test('an unknown host is rejected (no trust on first use) and the message shows the offered fingerprint', async () => {
  try {
    await connectSsh(deps({ knownHostsFile: sshd.emptyKnownHostsFile }), target());
    assert.unreachable('connected to an unknown host');
  } catch (err) {
    const e = err as SshError;
    assert.is(e.kind, 'host-key-unknown');
    assert.match(e.message, /is not in .*known_hosts\.empty \(the server offered ssh-ed25519 SHA256:[A-Za-z0-9+/]+\)/);
    assert.match(e.message, /ssh-keyscan -p \d+ 127\.0\.0\.1/);
  }
});

test('a missing known_hosts file is an error, not an accept', async () => {
  try {
    await connectSsh(deps({ knownHostsFile: join(sshd.dir, 'nope') }), target());
    assert.unreachable('connected without known_hosts');
  } catch (err) {
    assert.is((err as SshError).kind, 'known-hosts');
  }
});

test('an unauthorised key fails with an authentication error, without retries', async () => {
  const other = join(sshd.dir, 'stranger');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  try {
    await connectSsh(deps({ identityFile: other }), target());
    assert.unreachable('authenticated with a stranger key');
  } catch (err) {
    const e = err as SshError;
    assert.is(e.kind, 'auth');
    assert.is(e.attempts, 1);
    assert.match(e.message, /authorized_keys/);
  }
});

test('a server refusing the first connections is retried within bounds', async () => {
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: sshd.port }, { dropFirst: 2 });
  try {
    // The proxy's port is another known_hosts name: list the real host key under it.
    const kh = join(sshd.dir, `known_hosts.proxy-${proxy.port}`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(kh, sshd.hostKeyLine.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${proxy.port}`) + '\n');
    const d = deps({ knownHostsFile: kh });
    const s = await connectSsh(d, { host: '127.0.0.1', port: proxy.port, user: sshd.user }, { backoffMs: 50 });
    try {
      assert.is(s.attempts, 3);
      assert.is((await s.exec(['echo', 'ok'])).stdout, 'ok\n');
    } finally {
      s.close();
    }
    assert.match(d.log.all(), /retrying in 50ms \(attempt 2\/4\)/);
  } finally {
    await proxy.close();
  }
});

test('a host that never answers fails after the configured attempts with a clear error', async () => {
  const port = await freePort(); // nothing listens there
  const started = Date.now();
  try {
    await connectSsh(deps({ connectAttempts: 3 }), { host: '127.0.0.1', port, user: sshd.user }, { backoffMs: 20 });
    assert.unreachable('connected to a closed port');
  } catch (err) {
    const e = err as SshError;
    assert.is(e.kind, 'connect');
    assert.is(e.attempts, 3);
    assert.match(e.message, new RegExp(`cannot connect to ${sshd.user}@127\\.0\\.0\\.1:${port} after 3 attempts: .*ECONNREFUSED`));
  }
  assert.ok(Date.now() - started < 3000);
});

test('a remote command that does not finish in time fails with a clear error; the session stays usable', async () => {
  await withSsh(deps(), target(), async (s) => {
    const started = Date.now();
    try {
      await s.exec(['sleep', '3'], { timeoutMs: 300 });
      assert.unreachable('no timeout');
    } catch (err) {
      assert.instance(err, RemoteCommandError);
      assert.is((err as RemoteCommandError).result.timedOut, true);
      assert.match((err as Error).message, /remote command timed out after 0s: ssh -p \d+ \S+@127\.0\.0\.1 -- sleep 3/);
    }
    assert.ok(Date.now() - started < 1500);
    assert.is((await s.exec(['echo', 'still here'])).stdout, 'still here\n');
  });
});

test('command output is never logged; a secret-printing command keeps its stdout out of errors; secrets are redacted', async () => {
  const secret = 'tok-3f9a1c2e-never-in-logs';
  registerSecret(secret);
  const d = deps();
  await withSsh(d, target(), async (s) => {
    // The outputs are assembled remotely, so their text appears in no command line.
    const ok = await s.exec(['printf', '%s-%s', 'plain', 'output']);
    assert.is(ok.stdout, 'plain-output');
    try {
      await s.exec(['sh', '-c', `echo ${secret}; printf '%s-%s' other output; exit 4`], { secretOutput: true });
      assert.unreachable();
    } catch (err) {
      assert.instance(err, RemoteCommandError);
      assert.match((err as Error).message, /exit 4/);
      assert.not.match((err as Error).message, /other-output/);
      assert.not.match((err as Error).message, new RegExp(secret));
    }
  });
  const logged = d.log.all();
  assert.not.match(logged, /plain-output|other-output/);
  assert.not.match(logged, new RegExp(secret));
  assert.match(logged, /<redacted>/); // the command line itself held the secret and was redacted
});

test('checkSshHosts verifies every configured host; a wrong key names the failing host', async () => {
  const parts = { sshPort: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile, user: sshd.user };
  const good = makeContext(config({ ...parts, headscale: { user: 'itest' } }));
  const r = await checkSshHosts(good.ctx);
  assert.match(r.summary, /1 SSH host\(s\) reachable, host keys verified: Proxmox/); // Proxmox and Headscale are the same host:port
  assert.is(r.changed, false);
  const one = await checkSshHost(good.ctx, { role: 'Headscale', host: '127.0.0.1', port: sshd.port, user: sshd.user });
  assert.match(one.summary, /host key verified/);
  const bad = makeContext(config({ ...parts, knownHostsFile: sshd.wrongKnownHostsFile }));
  try {
    await checkSshHosts(bad.ctx);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /SSH preflight failed for 1 of 1 host\(s\):\n {2}Proxmox: HOST KEY MISMATCH/);
  }
});

test('under --dry-run the SSH check is planned, not run', async () => {
  const parts = { sshPort: 1, identityFile: '/nonexistent', knownHostsFile: '/nonexistent', user: 'root' };
  const t = makeContext(config(parts), { dryRun: true });
  const r = await checkSshHosts(t.ctx);
  assert.match(r.summary, /would check 1 SSH host/);
  assert.equal(t.plan, ['    ? ssh -p 1 root@127.0.0.1 -- true   # Proxmox root@127.0.0.1:1: host key checked against /nonexistent']);
});

test.run();
