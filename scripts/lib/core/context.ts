import type { ClusterConfig } from '../config/load.ts';
import type { Logger } from './log.ts';
import type { clusterPaths } from './paths.ts';
import type { Runner } from './runner.ts';

/** What every domain operation receives: the validated config and the shared spine. */
export interface OpsContext {
  config: ClusterConfig;
  runner: Runner;
  log: Logger;
  /** .env values (and secret-looking environment variables), already registered for redaction. */
  secrets: Record<string, string>;
  paths: ReturnType<typeof clusterPaths>;
}

/** What an idempotent operation reports: whether it changed anything, and one line for the summary table. */
export interface OpResult {
  changed: boolean;
  summary: string;
}
