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

export interface LoggerOptions {
  level?: Level;
  /** Appends every line (all levels, debug included) to this file. */
  file?: string;
  /** Where console lines go; stderr by default so stdout stays for a script's real output. */
  write?: (line: string) => void;
}

export class Logger {
  level: Level;
  file: string | undefined;
  private readonly write: (line: string) => void;

  constructor(opts: LoggerOptions = {}) {
    this.level = opts.level ?? 'info';
    this.file = opts.file;
    this.write = opts.write ?? ((line) => process.stderr.write(line + '\n'));
    if (this.file) mkdirSync(dirname(this.file), { recursive: true });
  }

  private emit(level: Level, message: string, fields?: Fields): void {
    const line = formatLine(level, message, fields);
    if (ORDER[level] >= ORDER[this.level]) this.write(line);
    if (this.file) appendFileSync(this.file, line + '\n', { mode: 0o600 });
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
