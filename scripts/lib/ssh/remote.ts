import type { OpResult, OpsContext } from '../core/context.ts';
import { planNote } from '../core/steps.ts';
import { describeTarget, sshLine, type ConnectOptions, type ExecOptions, type RemoteResult, type SshSession, type SshTarget, withSsh } from './client.ts';

// How domain operations talk to a remote host, with the three modes every operation supports:
//
//   real run                     reads and changes run over SSH;
//   --dry-run (plan)             nothing connects: reads print "? ssh … -- cmd" and return undefined (the operation
//                                plans the cold-start path), changes print "$ ssh … -- cmd";
//   --dry-run with inspect       (what the entry scripts do) reads run over SSH so the plan shows the real
//                                difference; changes only print "$ ssh … -- cmd".
//
//   withRemote(ctx, target, { inspect }, fn)   connects when needed, always closes
//   checkSshHost(ctx, target)                  one host reachable, host key verified against known_hosts
//   checkSshHosts(ctx)                         every SSH host the config names (Proxmox, Headscale, DNS parent, VPS)

export interface RemoteOptions {
  /** Under --dry-run, still read the real state over SSH (read-only) so the plan lists the exact changes. */
  inspect?: boolean;
  /** Overrides every remote command's own timeout (e.g. a shorter bound in tests, a longer one on a slow host). */
  commandTimeoutMs?: number;
}

export class RemoteHost {
  constructor(
    private readonly ctx: OpsContext,
    readonly target: SshTarget,
    /** Absent in plan mode (--dry-run without inspect). */
    readonly session: SshSession | undefined,
    private readonly timeoutOverride?: number,
  ) {}

  /** True when reads return real data (a session exists). */
  get live(): boolean {
    return this.session !== undefined;
  }

  /** A read-only command. In plan mode prints "? ssh …" and returns undefined. */
  async read(argv: string[], opts: Omit<ExecOptions, 'kind'> = {}): Promise<RemoteResult | undefined> {
    if (!this.session) {
      this.ctx.runner.planOnly(`? ${sshLine(this.target, argv)}`);
      return undefined;
    }
    return this.session.exec(argv, { ...opts, ...this.timeout(), kind: 'probe' });
  }

  /** A command that changes the host. Under --dry-run prints "$ ssh …" and returns undefined. */
  async change(argv: string[], opts: Omit<ExecOptions, 'kind'> = {}): Promise<RemoteResult | undefined> {
    if (this.ctx.runner.planOnly(`$ ${sshLine(this.target, argv)}`)) return undefined;
    if (!this.session) throw new Error(`internal: no SSH session for ${describeTarget(this.target)}`);
    return this.session.exec(argv, { ...opts, ...this.timeout(), kind: 'action' });
  }

  private timeout(): { timeoutMs?: number } {
    return this.timeoutOverride !== undefined ? { timeoutMs: this.timeoutOverride } : {};
  }

  /** A line in the plan (--dry-run only); returns true under --dry-run. */
  note(text: string): boolean {
    return planNote(this.ctx, text);
  }
}

export async function withRemote<T>(ctx: OpsContext, target: SshTarget, opts: RemoteOptions, fn: (host: RemoteHost) => Promise<T>): Promise<T> {
  if (ctx.runner.dryRun && !opts.inspect) return fn(new RemoteHost(ctx, target, undefined));
  let connected = false;
  try {
    return await withSsh(ctx, target, (session) => ((connected = true), fn(new RemoteHost(ctx, target, session, opts.commandTimeoutMs))));
  } catch (err) {
    // A dry-run that cannot make its read-only SSH connection says that this is what it could not do.
    if (!ctx.runner.dryRun || connected) throw err;
    throw new Error(`--dry-run could not read the current state from ${describeTarget(target)} over SSH (read-only commands; nothing was changed): ${(err as Error).message}`);
  }
}

export interface NamedSshTarget extends SshTarget {
  /** What the host is for, e.g. "Proxmox". */
  role: string;
}

/** Every SSH host the config names (Proxmox always; Headscale, the DNS parent zone's host and the VPS when configured), deduplicated. */
export function configuredSshTargets(ctx: Pick<OpsContext, 'config'>): NamedSshTarget[] {
  const c = ctx.config;
  const out: NamedSshTarget[] = [{ role: 'Proxmox', host: c.proxmox.host, port: c.proxmox.sshPort, user: c.proxmox.sshUser }];
  if (c.headscale) out.push({ role: 'Headscale', host: c.headscale.host, port: c.headscale.sshPort, user: c.headscale.sshUser });
  const d = c.powerdns?.delegation;
  if (d) out.push({ role: 'DNS parent zone', host: d.host, port: d.sshPort, user: d.sshUser });
  if (c.vps) out.push({ role: 'VPS', host: c.vps.host, port: c.vps.sshPort, user: c.vps.sshUser });
  return out.filter((t, i) => out.findIndex((o) => o.host === t.host && o.port === t.port && o.user === t.user) === i);
}

/** Preflight: the host answers SSH, its host key is the one in known_hosts, and the key/agent authenticates. */
export async function checkSshHost(ctx: OpsContext, target: SshTarget & { role?: string }, opts: { connect?: ConnectOptions } = {}): Promise<OpResult> {
  const what = `${target.role ? `${target.role} ` : ''}${describeTarget(target)}`;
  if (ctx.runner.planOnly(`? ${sshLine(target, ['true'])}   # ${what}: host key checked against ${ctx.config.ssh.knownHostsFile}`)) {
    return { changed: false, summary: `would check SSH to ${what}` };
  }
  await withSsh(ctx, target, (session) => session.exec(['true'], { kind: 'probe', timeoutMs: ctx.config.ssh.connectTimeoutMs }), opts.connect);
  return { changed: false, summary: `SSH to ${what}: host key verified` };
}

/** Checks every configured SSH host; fails with one message listing each host that did not pass. */
export async function checkSshHosts(ctx: OpsContext, opts: { connect?: ConnectOptions } = {}): Promise<OpResult> {
  const targets = configuredSshTargets(ctx);
  const results = await Promise.allSettled(targets.map((t) => checkSshHost(ctx, t, opts)));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${targets[i]!.role}: ${(r.reason as Error).message}`] : []));
  if (failed.length) throw new Error(`SSH preflight failed for ${failed.length} of ${targets.length} host(s):\n  ${failed.join('\n  ')}`);
  return {
    changed: false,
    summary: ctx.runner.dryRun
      ? `would check ${targets.length} SSH host(s)`
      : `${targets.length} SSH host(s) reachable, host keys verified: ${targets.map((t) => `${t.role} ${describeTarget(t)}`).join(', ')}`,
  };
}
