import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { RefusalError } from './cli.ts';

export type PhaseStatus = 'pending' | 'running' | 'done' | 'skipped' | 'failed' | 'interrupted';

export interface PhaseRecord {
  status: PhaseStatus;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  /** One line: what the phase did or why it skipped. */
  summary?: string;
  /** Tool and component versions the phase acted with (talos, kubernetes, cilium, …). */
  versions?: Record<string, string>;
  error?: string;
  /** Phase-specific facts the next run needs (e.g. which nodes were configured). */
  facts?: Record<string, unknown>;
}

export interface StateFile {
  version: 1;
  cluster: string;
  updatedAt: string;
  phases: Record<string, PhaseRecord>;
}

/**
 * A state file that cannot be read (not JSON, truncated, not the expected shape): refused (exit 4) before anything
 * ran. The file only saves time — the phases' probes decide what is already done — so moving it aside is safe.
 */
export class StateFileError extends RefusalError {
  override name = 'StateFileError';
  constructor(path: string, problem: string) {
    super(
      `the state file ${path} is damaged (${problem}).\n` +
        '  It is the bootstrap\'s record of which phases finished (and the day-2 commands\' note of what must run again);\n' +
        '  it only saves time: every phase probes the cluster and skips what is already done.\n' +
        `  Move it aside and run the same command again: mv '${path}' '${path}.damaged'`,
    );
  }
}

function readStateFile(path: string): StateFile {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new StateFileError(path, `not JSON: ${(err as Error).message}`);
  }
  const d = data as Partial<StateFile> | null;
  if (!d || typeof d !== 'object' || Array.isArray(d) || typeof d.cluster !== 'string' || !d.phases || typeof d.phases !== 'object') {
    throw new StateFileError(path, 'JSON, but not a state file: no "cluster" and "phases"');
  }
  return d as StateFile;
}

/**
 * One small JSON file per cluster and workflow. Every write goes to a temporary file that is renamed over the old one,
 * so an interrupted run (Ctrl-C, power loss) leaves either the old or the new state, never half of one.
 */
export class StateStore {
  private data: StateFile;

  constructor(
    readonly path: string,
    cluster: string,
  ) {
    this.data = existsSync(path) ? readStateFile(path) : { version: 1, cluster, updatedAt: new Date().toISOString(), phases: {} };
    if (this.data.cluster !== cluster) {
      throw new Error(`state file ${path} belongs to cluster "${this.data.cluster}", not "${cluster}"`);
    }
  }

  get snapshot(): Readonly<StateFile> {
    return this.data;
  }

  phase(name: string): PhaseRecord {
    return this.data.phases[name] ?? { status: 'pending' };
  }

  update(name: string, patch: Partial<PhaseRecord>): PhaseRecord {
    const next = { ...this.phase(name), ...patch };
    this.data.phases[name] = next;
    this.save();
    return next;
  }

  private save(): void {
    this.data.updatedAt = new Date().toISOString();
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
