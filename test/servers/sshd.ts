import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, requireBinary, serveUntilStopped, startProcess, waitForPort } from './common.ts';

// A real OpenSSH server on a free loopback port, in a temp dir: its own host key, a client key in authorized_keys,
// a known_hosts file listing the host key as OpenSSH writes it ("[127.0.0.1]:PORT ssh-ed25519 …"), and `SetEnv` so
// every session gets the PATH (the lab's remote fakes first) and the variables the fakes read.
// Always `await server.stop()` (in a finally): nothing is left running.

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  dir: string;
  /** Private key the client authenticates with. */
  identityFile: string;
  /** known_hosts with this server's real host key. */
  knownHostsFile: string;
  /** A known_hosts listing a different (wrong) key for the same host:port. */
  wrongKnownHostsFile: string;
  /** known_hosts with no entry for this server. */
  emptyKnownHostsFile: string;
  hostKeyLine: string;
  output(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Directories put first on the sessions' PATH (e.g. test/lab/remote/bin). */
  pathPrefix?: string[];
  /** Extra variables for every session (SetEnv). Values must not contain spaces or quotes. */
  env?: Record<string, string>;
  port?: number;
}

function keygen(file: string, type = 'ed25519'): string {
  execFileSync(requireBinary('/usr/bin/ssh-keygen', 'openssh-client'), ['-q', '-t', type, '-N', '', '-C', 'home-ops-test', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

export async function startSshd(opts: SshdOptions = {}): Promise<SshdServer> {
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  // sshd refuses to start without its privilege separation directory (created by the package's init script).
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'sshd-'));
  chmodSync(dir, 0o700);
  const port = opts.port ?? (await freePort());
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const hostPub = keygen(hostKey);
  const identityFile = join(dir, 'id_ed25519');
  const clientPub = keygen(identityFile);
  const other = join(dir, 'other_host_key');
  const otherPub = keygen(other);
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, clientPub + '\n', { mode: 0o600 });
  const [type, key] = hostPub.split(' ');
  const hostKeyLine = `[127.0.0.1]:${port} ${type} ${key}`;
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `# test known_hosts\n${hostKeyLine}\n`);
  const [otype, okey] = otherPub.split(' ');
  const wrongKnownHostsFile = join(dir, 'known_hosts.wrong');
  writeFileSync(wrongKnownHostsFile, `[127.0.0.1]:${port} ${otype} ${okey}\n`);
  const emptyKnownHostsFile = join(dir, 'known_hosts.empty');
  writeFileSync(emptyKnownHostsFile, `[127.0.0.1]:${port + 1} ${type} ${key}\n`);
  const path = [...(opts.pathPrefix ?? []), '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'].join(':');
  // HOME points into the temp dir so the login shell reads none of the user's dotfiles (fast, and no PATH changes).
  const home = join(dir, 'home');
  mkdirSync(home);
  const setEnv = Object.entries({ PATH: path, HOME: home, ...(opts.env ?? {}) })
    .map(([k, v]) => {
      if (/[\s"']/.test(v)) throw new Error(`SetEnv value for ${k} must not contain spaces or quotes: ${v}`);
      return `${k}=${v}`;
    })
    .join(' ');
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      `PidFile ${join(dir, 'sshd.pid')}`,
      `SetEnv ${setEnv}`,
      'MaxStartups 100',
      'MaxSessions 100',
      (process.env.SSHD_DEBUG ? 'LogLevel DEBUG3' : 'LogLevel ERROR'),
      '',
    ].join('\n'),
  );
  const proc = startProcess([sshd, '-D', '-e', '-f', config], { logFile: join(dir, 'sshd.log') });
  const stop = await serveUntilStopped(proc, dir, () => waitForPort(port, { what: 'sshd', banner: /^SSH-2\.0-/, timeoutMs: 10_000, output: proc.output }));
  return {
    host: '127.0.0.1',
    port,
    user: userInfo().username,
    dir,
    identityFile,
    knownHostsFile,
    wrongKnownHostsFile,
    emptyKnownHostsFile,
    hostKeyLine,
    output: proc.output,
    stop,
  };
}
