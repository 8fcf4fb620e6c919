import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest, distance } from 'fastest-levenshtein';
import { FatalError, Logger, type Level } from './log.ts';
import { Runner } from './runner.ts';
import { WaitTimeoutError } from './wait.ts';
import { CommandError } from './runner.ts';
import { ConfigError, loadConfig, loadSecrets } from '../config/load.ts';
import { clusterPaths } from './paths.ts';
import type { OpsContext } from './context.ts';

// Every entry script in scripts/ is one call of runScript(): the same --help, --config, --dry-run, --log-level,
// the same log file, and the same way of turning an error into a message and an exit code.

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** One line for --help; the value name follows the option in the usage, e.g. "PHASE  start at this phase". */
  help: string;
  value?: string;
  /** The values a string option takes; a stray word that is one of them is suggested as `--option word`. */
  choices?: readonly string[];
  /** Other spellings still accepted (not shown in --help), e.g. the old name of a renamed option. */
  aliases?: readonly string[];
}

export interface ScriptSpec<O extends Record<string, OptionSpec>> {
  name: string;
  /** The Taskfile target that runs the script (`task <task> -- …`), shown first in the usage line. */
  task?: string;
  summary: string;
  /** Extra lines after the option list (examples, exit codes). */
  details?: string;
  /** What --dry-run does here when it is not the common "needs nothing" plan: e.g. which read-only access it needs. */
  dryRunHelp?: string;
  /**
   * Positional arguments shown in the usage line, e.g. "create|rotate|delete". A script without it takes none: a
   * stray word is a usage error (exit 2) that suggests the flag it was probably meant for.
   */
  positionals?: string;
  options?: O;
  /** false for scripts that need no cluster config (none yet; validate reads it too). */
  needsConfig?: boolean;
  run: (ctx: ScriptContext<O>) => Promise<number | void>;
}

type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean : O[K]['multiple'] extends true ? string[] : string | undefined;
};

export interface ScriptContext<O extends Record<string, OptionSpec>> extends OpsContext {
  opts: OptionValues<O> & CommonValues;
  positionals: string[];
  configFile: string;
}

interface CommonValues {
  config: string | undefined;
  'dry-run': boolean;
  'log-level': string | undefined;
  help: boolean;
}

const COMMON: Record<keyof CommonValues, OptionSpec> = {
  config: { type: 'string', value: 'FILE', help: 'cluster config (default: $CLUSTER_CONFIG, cluster.yaml, then cluster.example.yaml)' },
  'dry-run': { type: 'boolean', help: 'print the exact commands instead of running them; needs no tools, network or credentials' },
  'log-level': { type: 'string', value: 'LEVEL', help: 'debug|info|warn|error (default info; the log file always gets debug)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export function helpText<O extends Record<string, OptionSpec>>(spec: ScriptSpec<O>): string {
  const all = { ...(spec.options ?? {}), ...COMMON, ...(spec.dryRunHelp ? { 'dry-run': { ...COMMON['dry-run'], help: spec.dryRunHelp } } : {}) } as Record<string, OptionSpec>;
  const rows = Object.entries(all).map(([k, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${k}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    return `  ${flag.padEnd(30)} ${o.help}${o.default !== undefined && o.type === 'string' ? ` (default ${String(o.default)})` : ''}`;
  });
  const args = `${spec.positionals ? spec.positionals + ' ' : ''}[options]`;
  return [
    `${spec.name} — ${spec.summary}`,
    '',
    ...(spec.task
      ? [`usage: task ${spec.task} -- ${args}`, `   or: npm run ${spec.task} -- ${args}`, `   or: npx tsx scripts/${spec.name}.ts ${args}`]
      : [`usage: npx tsx scripts/${spec.name}.ts ${args}`]),
    '',
    'options:',
    ...rows,
    ...(spec.details ? ['', spec.details.trimEnd()] : []),
    '',
  ].join('\n');
}

const LEVELS = ['debug', 'info', 'warn', 'error'];

/** Identity with inference: the options' literal types flow into `ctx.opts` of a spec kept in a module. */
export function defineScript<O extends Record<string, OptionSpec>>(spec: ScriptSpec<O>): ScriptSpec<O> {
  return spec;
}

/** Parses argv, loads the config, sets up logger and runner, runs the script and exits with its code. */

export async function runScript<O extends Record<string, OptionSpec>>(spec: ScriptSpec<O>, argv = process.argv.slice(2)): Promise<void> {
  exitQuietlyOnClosedPipe();
  const code = await executeScript(spec, argv);
  process.exitCode = code;
}

/**
 * `task plan | head -3`: once the reader has gone, writing more fails with EPIPE. That is not an error of the
 * script; end quietly as a Unix filter does instead of printing a stack trace.
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      throw err;
    });
  }
}

/** Every spelling parseArgs should accept: the options, the common ones and their aliases (mapped to one name). */
function canonicalArgv(argv: string[], all: Record<string, OptionSpec>): string[] {
  const alias = new Map<string, string>();
  for (const [name, o] of Object.entries(all)) for (const a of o.aliases ?? []) alias.set(a, name);
  if (!alias.size) return argv;
  const out: string[] = [];
  for (const [i, arg] of argv.entries()) {
    if (arg === '--') return [...out, ...argv.slice(i)];
    const m = /^--([^=]+)(=.*)?$/.exec(arg);
    const to = m && alias.get(m[1]!);
    out.push(to ? `--${to}${m![2] ?? ''}` : arg);
  }
  return out;
}

/** The option a mistyped name was probably meant as, when one is close enough to be a likely typo. */
export function nearestOption(typed: string, names: readonly string[]): string | undefined {
  const bare = typed.replace(/^-+/, '').replace(/=.*$/, '');
  if (!bare || !names.length) return undefined;
  const squashed = names.find((n) => n.replace(/-/g, '') === bare.replace(/-/g, ''));
  if (squashed) return squashed;
  const guess = closest(bare, [...names]);
  return distance(bare, guess) <= Math.max(2, Math.floor(guess.length / 3)) ? guess : undefined;
}

/** The usage error for a word where no positional argument is taken: which flag it probably belongs to. */
export function strayWordMessage(word: string, options: Record<string, OptionSpec>): string {
  const asValue = Object.entries(options)
    .filter(([, o]) => o.type === 'string' && o.choices?.includes(word))
    .map(([k]) => `--${k} ${word}`);
  const asFlag = nearestOption(word, Object.keys(options));
  const guesses = asValue.length ? asValue : asFlag ? [`--${asFlag}`] : [];
  return `unexpected argument "${word}": this script takes no positional arguments${guesses.length ? `; did you mean ${guesses.join(' or ')}?` : ''} (--help lists the options)`;
}

function parseError(err: Error, all: Record<string, OptionSpec>): string {
  const unknown = /^Unknown option '([^']+)'/.exec(err.message);
  if (unknown) {
    const guess = nearestOption(unknown[1]!, Object.keys(all));
    return `unknown option ${unknown[1]}${guess ? `; did you mean --${guess}?` : ''} (--help lists the options)`;
  }
  return `${err.message.split('\n')[0]} (--help lists the options)`;
}

export async function executeScript<O extends Record<string, OptionSpec>>(spec: ScriptSpec<O>, argv: string[]): Promise<number> {
  const all = { ...(spec.options ?? {}), ...COMMON } as Record<string, OptionSpec>;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: canonicalArgv(argv, all),
      options: Object.fromEntries(
        Object.entries(all).map(([k, o]) => [
          k,
          Object.fromEntries(Object.entries({ type: o.type, short: o.short, multiple: o.multiple, default: o.default }).filter(([, v]) => v !== undefined)),
        ]),
      ) as unknown as NonNullable<ParseArgsConfig['options']>,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`${spec.name}: ${parseError(err as Error, all)}\n`);
    return 2;
  }
  const values = parsed.values as OptionValues<O> & CommonValues;
  if (values.help) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  if (!spec.positionals && parsed.positionals.length) {
    process.stderr.write(`${spec.name}: ${strayWordMessage(parsed.positionals[0]!, all)}\n`);
    return 2;
  }
  const level = values['log-level'] ?? 'info';
  if (!LEVELS.includes(level)) {
    process.stderr.write(`${spec.name}: --log-level must be one of ${LEVELS.join(', ')}\n`);
    return 2;
  }
  const console = new Logger({ level: level as Level });
  let log = console;
  try {
    const loaded = loadConfig({ path: values.config });
    const paths = clusterPaths(loaded.config.cluster.name);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // A dry-run writes nothing, not even its own log file.
    log = new Logger({ level: level as Level, ...(values['dry-run'] ? {} : { file: join(paths.logs, `${spec.name}-${stamp}.log`) }) });
    if (loaded.isDefault) log.info('no cluster.yaml: using the built-in default cluster.example.yaml');
    const secrets = loadSecrets();
    const runner = new Runner({
      log,
      dryRun: values['dry-run'],
      env: { TALOSCONFIG: paths.talosconfig, KUBECONFIG: paths.kubeconfig },
    });
    const result = await spec.run({
      opts: values,
      positionals: parsed.positionals,
      log,
      runner,
      config: loaded.config,
      configFile: loaded.file,
      secrets,
      paths,
    });
    return typeof result === 'number' ? result : 0;
  } catch (err) {
    return reportError(log, err);
  }
}

/** --root DIR of validate and ownership: an existing repository checkout, else a usage error naming the path. */
export function repositoryRootOption(value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const root = resolve(value);
  if (!existsSync(root)) throw new UsageError(`--root ${value}: ${root} does not exist`);
  if (!statSync(root).isDirectory()) throw new UsageError(`--root ${value}: ${root} is not a directory`);
  if (!existsSync(join(root, 'kubernetes')) && !existsSync(join(root, 'terraform'))) {
    throw new UsageError(`--root ${value}: ${root} has neither kubernetes/ nor terraform/; give the root of a home-ops checkout`);
  }
  return root;
}

/** A bad flag value found after parsing (exit 2): the message names the flag. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit code of a refused or unconfirmed request; nothing was changed. */
export const EXIT_REFUSED = 4;

/**
 * A request refused (exit 4): an unknown node, a set that would break quorum, a cluster name not confirmed. Refused
 * before anything ran, the message ends "nothing was changed"; a mid-run stop (`beforeAnyChange: false`) says itself
 * what was done so far.
 */
export class RefusalError extends Error {
  override name = 'RefusalError';
  constructor(message: string, o: { beforeAnyChange?: boolean } = {}) {
    super(o.beforeAnyChange === false ? message : `${message}\n  nothing was changed`);
  }
}

/** Turns any error into one clear message on stderr (and the log file) and an exit code. */
export function reportError(log: Logger, err: unknown): number {
  if (err instanceof FatalError) return err.exitCode; // already logged
  if (err instanceof UsageError || err instanceof RefusalError) {
    log.error(err.message);
    return err instanceof UsageError ? 2 : EXIT_REFUSED;
  }
  if (err instanceof ConfigError || err instanceof CommandError || err instanceof WaitTimeoutError) {
    try {
      log.error(err.message);
    } catch {
      /* logging must not hide the error */
    }
    return err instanceof ConfigError ? 3 : 1;
  }
  // Unexpected errors: the message for the user, the stack for the log file.
  const e = err instanceof Error ? err : new Error(String(err));
  log.error(e.message);
  log.debug(e.stack ?? '');
  return 1;
}
