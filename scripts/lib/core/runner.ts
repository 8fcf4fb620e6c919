import { homedir } from 'node:os';
import { $, quote } from 'zx';
import { REPO_ROOT } from './paths.ts';
import type { Logger } from './log.ts';
import { redact } from './redact.ts';

/**
 * 'action' changes something (skipped and printed under --dry-run);
 * 'probe' only reads state (not run under --dry-run either: the plan needs no tools, network or cluster).
 */
export type CommandKind = 'action' | 'probe';

export interface RunOptions {
  kind?: CommandKind;
  /** Written to the command's stdin: the way to hand secrets to a tool without putting them in argv. */
  input?: string;
  /** Extra environment; values are never logged. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
  /** Throw CommandError on a non-zero exit. Default: true for actions, false for probes. */
  check?: boolean;
  /** What to try next if the command fails; shown in the CommandError. */
  hint?: string;
}

export interface RunResult {
  argv: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
  ok: boolean;
  /** True when the command was not run because of --dry-run. */
  dryRun: boolean;
}

export class CommandError extends Error {
  constructor(
    readonly result: RunResult,
    readonly hint?: string,
  ) {
    const tail = (s: string) => s.trim().split('\n').slice(-15).join('\n    ');
    const parts = [`command failed (exit ${result.exitCode}): ${formatArgv(result.argv)}`];
    if (result.stderr.trim()) parts.push(`  stderr:\n    ${tail(result.stderr)}`);
    else if (result.stdout.trim()) parts.push(`  stdout:\n    ${tail(result.stdout)}`);
    if (hint) parts.push(`  next: ${hint}`);
    super(redact(parts.join('\n')));
    this.name = 'CommandError';
  }
}

/** The command as a user could paste it into a shell, secrets redacted. */
export function formatArgv(argv: readonly string[]): string {
  return redact(argv.map((a) => quote(a)).join(' '));
}

/**
 * The command as an info line shows it: paths relative to the repository (or ~), long arguments cut, the whole line
 * at most `max` characters. The full argv goes to the debug level (and so to the log file).
 */
export function shortArgv(argv: readonly string[], max = 140, repoRoot = REPO_ROOT, home = homedir()): string {
  const short = argv.map((a) => {
    let s = a.split(`${repoRoot}/`).join('');
    if (home && home !== '/') s = s.split(`${home}/`).join('~/');
    return s.length > 60 ? `${s.slice(0, 45)}…` : s;
  });
  // For reading, not for pasting (paths are shortened): quotes only around arguments with spaces or quotes.
  const line = redact(short.map((a) => (/^[^\s'"]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' '));
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export interface RunnerOptions {
  log: Logger;
  dryRun?: boolean;
  /** Where --dry-run prints planned commands; stdout by default. */
  print?: (line: string) => void;
  /** Environment every command gets on top of process.env (e.g. KUBECONFIG, TALOSCONFIG). */
  env?: Record<string, string | undefined>;
}

/** The one way scripts start processes: argv arrays only, logged, redacted, and --dry-run aware. */
export class Runner {
  readonly dryRun: boolean;
  readonly log: Logger;
  /** Every command asked for, in order, with its kind; tests and the plan read it. */
  readonly history: { argv: string[]; kind: CommandKind; dryRun: boolean }[] = [];
  private readonly print: (line: string) => void;
  private readonly baseEnv: Record<string, string | undefined>;

  constructor(opts: RunnerOptions) {
    this.log = opts.log;
    this.dryRun = opts.dryRun ?? false;
    this.print = opts.print ?? ((line) => opts.log.print(line));
    this.baseEnv = opts.env ?? {};
  }

  async run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const kind = opts.kind ?? 'action';
    if (argv.length === 0) throw new Error('Runner.run: empty argv');
    this.history.push({ argv, kind, dryRun: this.dryRun });
    if (this.dryRun) {
      if (kind === 'action') this.print(`    $ ${formatArgv(argv)}${opts.input !== undefined ? ' < (stdin)' : ''}`);
      return { argv, exitCode: 0, stdout: '', stderr: '', durationMs: 0, ok: kind === 'action', dryRun: true };
    }
    this.log.debug(`${kind}: ${formatArgv(argv)}`, opts.cwd ? { cwd: opts.cwd } : undefined);
    const started = Date.now();
    const p = $({
      cwd: opts.cwd,
      env: { ...process.env, ...this.baseEnv, ...opts.env } as NodeJS.ProcessEnv,
      input: opts.input,
      nothrow: true,
      quiet: true,
      verbose: false,
      timeout: opts.timeoutMs,
    })`${argv}`;
    const out = await p;
    const result: RunResult = {
      argv,
      exitCode: out.exitCode ?? (out.signal ? 128 : 1),
      stdout: out.stdout,
      stderr: out.stderr + (out.signal ? `\nterminated by ${out.signal}${opts.timeoutMs ? ` after ${opts.timeoutMs}ms timeout` : ''}` : ''),
      durationMs: Date.now() - started,
      ok: out.exitCode === 0,
      dryRun: false,
    };
    if (kind === 'action') {
      this.log.info(`ran ${shortArgv(argv)}`, { exit: result.exitCode, ms: result.durationMs });
    } else {
      this.log.debug(`probe exit=${result.exitCode}`, { ms: result.durationMs });
    }
    if (!result.ok && (opts.check ?? kind === 'action')) throw new CommandError(result, opts.hint);
    return result;
  }

  /** Runs a read-only command; never throws on a non-zero exit. */
  probe(argv: string[], opts: Omit<RunOptions, 'kind'> = {}): Promise<RunResult> {
    return this.run(argv, { ...opts, kind: 'probe', check: opts.check ?? false });
  }

  /**
   * For steps that are not local processes (SSH, HTTP APIs): under --dry-run prints `description` and returns true,
   * so the caller skips the real call.
   */
  planOnly(description: string): boolean {
    if (!this.dryRun) return false;
    this.print(`    ${redact(description)}`);
    return true;
  }

  /** A heading line in the plan (--dry-run only). */
  heading(text: string): void {
    if (this.dryRun) this.print(text);
  }
}
