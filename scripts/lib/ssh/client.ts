import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH, type Config as NodeSshConfig } from 'node-ssh';
import { quote } from 'shell-quote';
import type { ClusterConfig } from '../config/load.ts';
import type { Logger } from '../core/log.ts';
import { retry } from '../core/retry.ts';
import { expandHome } from '../core/paths.ts';
import { redact } from '../core/redact.ts';
import {
  checkHostKey,
  fingerprint,
  hostKeyAlgorithms,
  hostLookupName,
  keyTypeOf,
  knownKeysFor,
  parseKnownHosts,
  type HostKeyVerdict,
} from './known-hosts.ts';

// The SSH layer every remote operation uses (Proxmox pveum/pvesm, headscale, pdnsutil on the DNS parent's host).
//
//   connectSsh(deps, target, opts?)  → SshSession: key file or agent auth; the host key must be in known_hosts
//                                      (unknown or changed → SshError, never accepted); connect timeout from
//                                      config.ssh.connectTimeoutMs; bounded retries with backoff on transient
//                                      failures (refused, reset, timeout) — never on host key or auth failures.
//   withSsh(deps, target, fn)        → connect, run fn, always close.
//   session.exec(argv, opts)         → { exitCode, stdout, stderr }: argv is quoted for the remote POSIX shell with
//                                      shell-quote (never string concatenation); per-command timeout; a failing
//                                      command throws RemoteCommandError unless check:false. Output is never logged;
//                                      `secretOutput` keeps it out of errors too (e.g. a token the command prints).
//   remoteCommand(argv)              → the exact string the remote shell receives.
//   sshLine(target, argv)            → "ssh -p 2222 root@host -- <remote command>" for plans and logs.

export interface SshTarget {
  host: string;
  port: number;
  user: string;
}

export interface ConnectOptions {
  /** Pause before the second attempt; doubles each time (default 500 ms: waits 0.5 s, 1 s, 2 s). */
  backoffMs?: number;
  /** Environment for SSH_AUTH_SOCK and HOME lookups (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** What connectSsh needs: the ssh settings of the config and a logger (an OpsContext has both). */
export interface SshDeps {
  config: Pick<ClusterConfig, 'ssh'>;
  log: Logger;
}

export type SshErrorKind = 'host-key-unknown' | 'host-key-changed' | 'host-key-revoked' | 'known-hosts' | 'auth' | 'credentials' | 'connect';

export class SshError extends Error {
  constructor(
    message: string,
    readonly kind: SshErrorKind,
    readonly target: SshTarget,
    readonly attempts = 1,
  ) {
    super(redact(message));
    this.name = 'SshError';
  }
}

export interface RemoteResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  ok: boolean;
  timedOut: boolean;
}

export class RemoteCommandError extends Error {
  constructor(
    readonly target: SshTarget,
    readonly result: RemoteResult,
    readonly hint?: string,
    secretOutput = false,
  ) {
    const tail = (s: string) => s.trim().split('\n').slice(-15).join('\n    ');
    const head = result.timedOut
      ? `remote command timed out after ${Math.round(result.durationMs / 1000)}s: ${sshLine(target, result.command)}`
      : `remote command failed (exit ${result.exitCode}): ${sshLine(target, result.command)}`;
    const parts = [head];
    if (result.stderr.trim()) parts.push(`  stderr:\n    ${tail(result.stderr)}`);
    else if (result.stdout.trim() && !secretOutput) parts.push(`  stdout:\n    ${tail(result.stdout)}`);
    if (hint) parts.push(`  next: ${hint}`);
    super(redact(parts.join('\n')));
    this.name = 'RemoteCommandError';
  }
}

// Characters no POSIX shell treats specially (the set Python's shlex.quote leaves bare); anything else is quoted by
// shell-quote, which emits POSIX quoting only (no bash-only $'…').
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** The exact command line the remote shell receives: each argument quoted for a POSIX shell where it needs it. */
export function remoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error('remoteCommand: empty argv');
  // A bare first word with "=" would be an assignment, not a command.
  return argv.map((a, i) => (SHELL_SAFE.test(a) && !(i === 0 && a.includes('=')) ? a : quote([a]))).join(' ');
}

/** The same POSIX quoting for a local command line shown in a plan (readable: safe arguments stay bare). */
export const shellLine = remoteCommand;

export function sshLine(target: SshTarget, command: string | readonly string[]): string {
  const cmd = typeof command === 'string' ? command : remoteCommand(command);
  return redact(`ssh ${target.port === 22 ? '' : `-p ${target.port} `}${target.user}@${target.host} -- ${cmd}`);
}

export function describeTarget(t: SshTarget): string {
  return `${t.user}@${t.host}${t.port === 22 ? '' : `:${t.port}`}`;
}

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string;
  /** Default 60 s (DEFAULT_COMMAND_TIMEOUT_MS). On expiry the channel is closed and the result has timedOut (check → RemoteCommandError). */
  timeoutMs?: number;
  /** Throw RemoteCommandError on a non-zero exit (default true). */
  check?: boolean;
  /** 'probe' reads state (logged at debug), 'action' changes it (logged at info). */
  kind?: 'probe' | 'action';
  /** The command prints a secret: its stdout never reaches an error message. */
  secretOutput?: boolean;
  hint?: string;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

export class SshSession {
  private timedOut = false;

  constructor(
    readonly target: SshTarget,
    private readonly ssh: NodeSSH,
    private readonly log: Logger,
    /** How many connection attempts it took. */
    readonly attempts: number,
  ) {}

  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<RemoteResult> {
    const command = remoteCommand(argv);
    const kind = opts.kind ?? 'action';
    const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (kind === 'action') this.log.info(`ssh ${describeTarget(this.target)}: ${command}`);
    else this.log.debug(`ssh ${describeTarget(this.target)}: ${command}`);
    const started = Date.now();
    let channel: { close: () => void } | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const run = this.ssh.execCommand(command, {
      noTrim: true,
      ...(opts.input !== undefined ? { stdin: opts.input } : {}),
      onChannel: (c) => {
        channel = c;
      },
    });
    let out: Awaited<typeof run> | 'timeout';
    try {
      out = await Promise.race([run, timedOut]);
    } finally {
      clearTimeout(timer);
    }
    const durationMs = Date.now() - started;
    let result: RemoteResult;
    if (out === 'timeout') {
      // Drop the channel and, when the session closes, the connection. sshd cannot be asked to kill the command: it
      // refuses "signal" requests for root sessions (they run in its monitor process), so the command may still run.
      this.timedOut = true;
      try {
        channel?.close();
      } catch {
        /* already closed */
      }
      run.catch(() => undefined);
      result = { command, exitCode: 124, stdout: '', stderr: `no answer within ${timeoutMs}ms; the command may still be running on the host`, durationMs, ok: false, timedOut: true };
    } else {
      const exitCode = out.code ?? (out.signal ? 128 : 255);
      result = { command, exitCode, stdout: out.stdout, stderr: out.stderr, durationMs, ok: exitCode === 0, timedOut: false };
    }
    this.log.debug(`ssh exit=${result.exitCode}`, { ms: durationMs, stdoutBytes: result.stdout.length, stderrBytes: result.stderr.length });
    if (!result.ok && (opts.check ?? true)) throw new RemoteCommandError(this.target, result, opts.hint, opts.secretOutput);
    return result;
  }

  close(): void {
    const connection = this.ssh.connection;
    this.ssh.dispose();
    // After a timeout sshd may keep the connection open until the remote command ends: do not wait for it.
    if (this.timedOut) connection?.destroy();
  }
}

interface Credentials {
  privateKey?: string;
  agent?: string;
  describe: string;
}

function credentials(settings: ClusterConfig['ssh'], target: SshTarget, env: NodeJS.ProcessEnv): Credentials {
  if (settings.identityFile) {
    const file = expandHome(settings.identityFile);
    if (!existsSync(file)) {
      throw new SshError(`ssh.identityFile ${file} does not exist; fix the path or remove it to use the SSH agent`, 'credentials', target);
    }
    return { privateKey: readFileSync(file, 'utf8'), describe: `key ${file}` };
  }
  const home = env.HOME ?? homedir();
  const fallback = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(home, '.ssh', f)).find((f) => existsSync(f));
  const agent = env.SSH_AUTH_SOCK;
  if (!agent && !fallback) {
    throw new SshError(
      'no SSH credentials: set ssh.identityFile in the config, or start ssh-agent and add your key (ssh-add)',
      'credentials',
      target,
    );
  }
  return {
    ...(agent ? { agent } : {}),
    ...(fallback ? { privateKey: readFileSync(fallback, 'utf8') } : {}),
    describe: [agent ? 'the SSH agent' : '', fallback ?? ''].filter(Boolean).join(' and '),
  };
}

function transient(err: Error & { code?: string; level?: string }): boolean {
  if (err.level === 'client-timeout') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN'].includes(err.code ?? '')) return true;
  return /Connection lost before handshake|Timed out while waiting for handshake|No response from server|socket hang up|read ECONNRESET/i.test(
    err.message,
  );
}

function knownHostsHint(target: SshTarget, file: string): string {
  const port = target.port === 22 ? '' : `-p ${target.port} `;
  return `check the fingerprint with the host's administrator (on the host: ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub), then: ssh-keyscan ${port}${target.host} >> ${file}`;
}

/** Opens an SSH connection whose host key is listed in known_hosts; retries transient failures a bounded number of times. */
export async function connectSsh(deps: SshDeps, target: SshTarget, opts: ConnectOptions = {}): Promise<SshSession> {
  const settings = deps.config.ssh;
  const env = opts.env ?? process.env;
  const knownHostsFile = expandHome(settings.knownHostsFile);
  if (!existsSync(knownHostsFile)) {
    throw new SshError(
      `known_hosts file ${knownHostsFile} (ssh.knownHostsFile) does not exist, so no host key can be verified; ${knownHostsHint(target, knownHostsFile)}`,
      'known-hosts',
      target,
    );
  }
  const entries = parseKnownHosts(readFileSync(knownHostsFile, 'utf8'));
  const known = knownKeysFor(entries, target.host, target.port);
  const algorithms = hostKeyAlgorithms(known.map((e) => e.keyType));
  const creds = credentials(settings, target, env);
  const attempts = Math.max(1, settings.connectAttempts ?? 4);
  const backoff = opts.backoffMs ?? 500;
  const name = hostLookupName(target.host, target.port);

  return retry(
    {
      attempts,
      backoffMs: backoff,
      log: deps.log,
      what: `ssh ${describeTarget(target)}`,
      // Host key, authentication and credential failures (SshError) are never retried.
      retryable: (err) => !(err instanceof SshError) && transient(err as Error),
      fail: (err, n) =>
        err instanceof SshError
          ? err
          : new SshError(
              `cannot connect to ${describeTarget(target)}${n > 1 ? ` after ${n} attempts` : ''}: ${(err as Error).message.split('\n')[0]}; check that the host is up, sshd listens on port ${target.port}, and nothing blocks it`,
              'connect',
              target,
              n,
            ),
    },
    async (attempt) => {
      let verdict: (HostKeyVerdict & { presented: Buffer }) | undefined;
      const ssh = new NodeSSH();
      const config: NodeSshConfig = {
        host: target.host,
        port: target.port,
        username: target.user,
        readyTimeout: settings.connectTimeoutMs,
        ...(creds.privateKey ? { privateKey: creds.privateKey } : {}),
        ...(creds.agent ? { agent: creds.agent } : {}),
        ...(algorithms.length ? { algorithms: { serverHostKey: algorithms as never } } : {}),
        hostVerifier: (key: Buffer) => {
          verdict = { ...checkHostKey(entries, target.host, target.port, key), presented: key };
          return verdict.status === 'ok';
        },
      };
      try {
        await ssh.connect(config);
        if (verdict?.status !== 'ok') {
          // Defensive: ssh2 always calls hostVerifier before authentication; never continue without a verified key.
          ssh.dispose();
          throw new SshError(`host key of ${name} was not verified`, 'host-key-unknown', target, attempt);
        }
        // After 'ready' node-ssh stops listening for errors: a connection dropped later (host reboot, network) must not
        // crash the process as an unhandled 'error' event; the next exec fails instead.
        ssh.connection?.on('error', (e: Error) => deps.log.debug(`ssh ${describeTarget(target)}: connection error: ${e.message}`));
        if (attempt > 1) deps.log.info(`ssh ${describeTarget(target)}: connected after ${attempt} attempts`);
        deps.log.debug(`ssh ${describeTarget(target)}: connected, host key ${verdict.entry.keyType} ${fingerprint(verdict.presented)} (known_hosts line ${verdict.entry.line})`);
        return new SshSession(target, ssh, deps.log, attempt);
      } catch (raw) {
        ssh.dispose();
        if (raw instanceof SshError) throw raw;
        const err = raw as Error & { code?: string; level?: string };
        if (verdict && verdict.status !== 'ok') {
          const offered = `${keyTypeOf(verdict.presented)} ${fingerprint(verdict.presented)}`;
          if (verdict.status === 'unknown') {
            throw new SshError(
              `host key of ${name} is not in ${knownHostsFile} (the server offered ${offered}); refusing to connect to an unverified host. ${knownHostsHint(target, knownHostsFile)}`,
              'host-key-unknown',
              target,
              attempt,
            );
          }
          if (verdict.status === 'revoked') {
            throw new SshError(`host key of ${name} (${offered}) is marked @revoked in ${knownHostsFile} (line ${verdict.entry.line}); refusing to connect`, 'host-key-revoked', target, attempt);
          }
          const expected = verdict.expected.map((e) => `${e.keyType} ${fingerprint(e.key)} (line ${e.line})`).join(', ');
          throw new SshError(
            `HOST KEY MISMATCH for ${name}: ${knownHostsFile} lists ${expected}, but the server offered ${offered}. ` +
              `Someone may be intercepting the connection. If the host was reinstalled, verify the new fingerprint out of band, ` +
              `then remove the old entry: ssh-keygen -R '${name}' -f ${knownHostsFile}`,
            'host-key-changed',
            target,
            attempt,
          );
        }
        if (/no matching host key format|no matching key exchange|Handshake failed: no matching/i.test(err.message) && known.length) {
          throw new SshError(
            `${name} offers none of the host key types ${knownHostsFile} lists for it (${known.map((e) => e.keyType).join(', ')}): its host keys changed; verify them out of band before updating known_hosts`,
            'host-key-changed',
            target,
            attempt,
          );
        }
        if (err.level === 'client-authentication' || /All configured authentication methods failed/i.test(err.message)) {
          throw new SshError(
            `authentication as ${target.user}@${target.host} failed with ${creds.describe}; add the public key to ~${target.user}/.ssh/authorized_keys on the host, or set ssh.identityFile`,
            'auth',
            target,
            attempt,
          );
        }
        if (/encrypted|passphrase/i.test(err.message)) {
          throw new SshError(`the SSH key is passphrase-protected: load it into ssh-agent (ssh-add) and leave ssh.identityFile unset`, 'credentials', target, attempt);
        }
        throw err;
      }
    },
  );
}

/** Connects, runs fn with the session and always closes it. */
export async function withSsh<T>(deps: SshDeps, target: SshTarget, fn: (s: SshSession) => Promise<T>, opts?: ConnectOptions): Promise<T> {
  const session = await connectSsh(deps, target, opts);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}
