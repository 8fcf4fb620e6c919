import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

// Shared helpers for the real servers the integration tests start on loopback (sshd, pdns_server, fakes over HTTP).

/** A free TCP port on 127.0.0.1 (bound and released; the server binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A server binary the tests need. Missing → a loud error naming the Debian package: the test fails (under CI=true and
 * locally alike), it is never skipped silently.
 */
export function requireBinary(path: string, pkg: string): string {
  if (!existsSync(path)) {
    throw new Error(
      `${path} not found: these integration tests start a real server and need the Debian package "${pkg}" ` +
        `(apt-get install ${pkg})${process.env.CI === 'true' ? ' — CI must install it (.ci/run)' : ''}`,
    );
  }
  return path;
}

/** Polls until a TCP connection to host:port succeeds (and, with `banner`, the first bytes match). */
export async function waitForPort(port: number, opts: { host?: string; timeoutMs?: number; banner?: RegExp; what: string; output?: () => string }): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last = '';
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host: opts.host ?? '127.0.0.1', port });
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.once('error', (e) => {
        last = e.message;
        done(false);
      });
      if (opts.banner) sock.once('data', (d) => done(opts.banner!.test(d.toString())));
      else sock.once('connect', () => done(true));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${opts.what} did not answer on 127.0.0.1:${port} within ${opts.timeoutMs ?? 10_000}ms (${last})${opts.output ? `\n${opts.output()}` : ''}`);
}

/**
 * Starts a long-running child in its own process group, its output appended to `logFile` (a file, not a pipe: a pipe
 * inherited by grandchildren — sshd's per-connection processes — would keep the test process alive). stop()
 * terminates the group and waits, bounded.
 */
export function startProcess(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string }) {
  const [cmd, ...args] = argv;
  const fd = openSync(opts.logFile, 'a');
  const child: ChildProcess = spawn(cmd!, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  let spawnError = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.once('error', (e) => (spawnError = `spawn error: ${e.message}`));
  const output = () => {
    try {
      return readFileSync(opts.logFile, 'utf8').slice(-20_000) + spawnError;
    } catch {
      return spawnError;
    }
  };
  return {
    child,
    output,
    get exited() {
      return exited;
    },
    async stop(): Promise<void> {
      const group = (signal: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(-child.pid, signal);
        } catch {
          /* group already gone */
        }
      };
      if (!exited) {
        group('SIGTERM');
        const done = await Promise.race([exit.then(() => true), sleep(3000, undefined, { ref: false }).then(() => false)]);
        if (!done) {
          group('SIGKILL');
          await Promise.race([exit, sleep(2000, undefined, { ref: false })]);
        }
      }
    },
  };
}

/**
 * A started server with its private directory: `ready` (a wait) must pass, or the server is stopped and the directory
 * removed before the error goes on. Returns the stop that does both, for the caller's handle.
 */
export async function serveUntilStopped(proc: { stop(): Promise<void> }, dir: string, ready: () => Promise<void>): Promise<() => Promise<void>> {
  const stop = async () => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ready();
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}
