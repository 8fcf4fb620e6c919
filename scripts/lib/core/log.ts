import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { redact } from './redact.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 };

export type Fields = Record<string, string | number | boolean | undefined | null>;

/** Thrown by log.fatal(); the script wrapper turns it into a non-zero exit after the message was written. */
export class FatalError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'FatalError';
  }
}

/** key=value with quotes only where a value needs them, so lines stay greppable. */
export function formatFields(fields: Fields): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => {
      const s = String(v);
      return `${k}=${/^[^\s"=]+$/.test(s) ? s : JSON.stringify(s)}`;
    })
    .join(' ');
}

export function formatLine(level: Level, message: string, fields: Fields = {}, now = new Date()): string {
  const kv = formatFields(fields);
  return redact(`${now.toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${kv ? ' ' + kv : ''}`);
}

/**
 * A console line: no timestamp (the log file keeps it), the level only where it matters — warnings and errors stand
 * out, in colour when `color` (a terminal without NO_COLOR).
 */
export function formatConsoleLine(level: Level, message: string, fields: Fields = {}, color = false): string {
  const kv = formatFields(fields);
  const text = redact(`${message}${kv ? ' ' + kv : ''}`);
  const tag = { debug: 'debug: ', info: '', warn: 'warning: ', error: 'error: ', fatal: 'error: ' }[level];
  if (!color) return `${tag}${text}`;
  const sgr = { debug: '2', info: '', warn: '33', error: '31', fatal: '1;31' }[level];
  return sgr ? `\x1b[${sgr}m${tag}\x1b[0m${level === 'debug' ? `\x1b[2m${text}\x1b[0m` : text}` : text;
}

/** Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM=dumb. */
export function useColor(stream: { isTTY?: boolean } = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}

export interface LoggerOptions {
  level?: Level;
  /** Appends every line (all levels, debug included) to this file, each with its timestamp. */
  file?: string;
  /** Where console lines go; stderr by default so stdout stays for a script's real output. */
  write?: (line: string) => void;
  /** Colour on the console; default: stderr is a terminal and NO_COLOR is not set (never with a custom `write`). */
  color?: boolean;
}

export class Logger {
  level: Level;
  file: string | undefined;
  private readonly write: (line: string) => void;
  private readonly color: boolean;

  constructor(opts: LoggerOptions = {}) {
    this.level = opts.level ?? 'info';
    this.file = opts.file;
    this.write = opts.write ?? ((line) => process.stderr.write(line + '\n'));
    this.color = opts.color ?? (opts.write ? false : useColor());
    if (this.file) mkdirSync(dirname(this.file), { recursive: true });
  }

  private emit(level: Level, message: string, fields?: Fields): void {
    if (ORDER[level] >= ORDER[this.level]) this.write(formatConsoleLine(level, message, fields, this.color));
    if (this.file) appendFileSync(this.file, formatLine(level, message, fields) + '\n', { mode: 0o600 });
  }

  debug(message: string, fields?: Fields): void {
    this.emit('debug', message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.emit('info', message, fields);
  }
  warn(message: string, fields?: Fields): void {
    this.emit('warn', message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.emit('error', message, fields);
  }
  /** Logs and throws FatalError: the script wrapper exits non-zero. */
  fatal(message: string, fields?: Fields): never {
    this.emit('fatal', message, fields);
    throw new FatalError(message);
  }
  /** Raw text for the user (plans, tables, reports): redacted, not timestamped, also kept in the log file. */
  print(text: string): void {
    const clean = redact(text);
    process.stdout.write(clean.endsWith('\n') ? clean : clean + '\n');
    if (this.file) appendFileSync(this.file, clean + (clean.endsWith('\n') ? '' : '\n'), { mode: 0o600 });
  }
}
