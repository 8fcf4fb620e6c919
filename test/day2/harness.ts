import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText, type ClusterConfig } from '../../scripts/lib/config/load.ts';
import type { OptionSpec, ScriptSpec } from '../../scripts/lib/core/cli.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { runScriptCaptured } from '../integrations/harness.ts';
import { labFromConfig, type Lab, type LabOptions } from '../lab/lab.ts';

// Day-2 tests run the real entry scripts in-process (executeScript) against the simulated lab, non-interactively
// (CI=true: only --confirm counts), with stdout/stderr captured.

export const CONFIG_FILE = join(REPO_ROOT, 'cluster.example.yaml');
export const config: ClusterConfig = parseConfigText(readFileSync(CONFIG_FILE, 'utf8'), 'cluster.example.yaml');
export const CLUSTER = config.cluster.name;
export const ip = (name: string) => config.nodes.find((n) => n.name === name)!.ip;

/** A bootstrapped 3 + 2 cluster (cluster.example.yaml), as the bootstrap leaves it. */
export function runningLab(opts: Partial<LabOptions> = {}): Lab {
  return labFromConfig(config, { initial: 'running', ...opts });
}

/** Commands that change the cluster, its nodes or its infrastructure ("nothing changed" = none ran, --dry-run aside). */
export const MUTATING = [
  'talosctl reset',
  'talosctl apply-config',
  'talosctl upgrade',
  'talosctl bootstrap',
  'talosctl etcd remove-member',
  'talosctl etcd leave',
  'talosctl reboot',
  'talosctl shutdown',
  'flux suspend',
  'flux resume',
  'flux reconcile',
  'flux bootstrap',
  'terraform apply',
  'terraform destroy',
  'helm upgrade',
  'helm uninstall',
  'kubectl apply',
  'kubectl delete',
  'kubectl patch',
];

export function mutatingCalls(lab: Lab): string[] {
  return lab
    .calls()
    .filter((c) => MUTATING.some((m) => c.cmd.startsWith(m)) && !c.argv.includes('--dry-run'))
    .map((c) => `${c.cmd} ${c.argv.join(' ')}`);
}

/** The node IP a talosctl call targets (--nodes IP). */
export function nodeOf(argv: string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--nodes' || a === '-n');
  return i >= 0 ? argv[i + 1] : undefined;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  text: string;
  ms: number;
}

/** Runs an entry script against the lab: CI=true, --config cluster.example.yaml (or `configFile`), output captured. */
export async function run<O extends Record<string, OptionSpec>>(
  lab: Lab,
  spec: ScriptSpec<O>,
  args: string[],
  env: Record<string, string> = {},
  configFile = CONFIG_FILE,
): Promise<Run> {
  const started = Date.now();
  const r = await runScriptCaptured(spec, ['--config', configFile, ...args], { ...lab.env, CI: 'true', ...env });
  return { ...r, text: `${r.stdout}\n${r.stderr}`, ms: Date.now() - started };
}

/**
 * The lines a day-2 command printed under "next:" (the indented lines after it; `# …` comments and `   (…)` notes
 * dropped), exactly as a user would copy them.
 */
export function nextSteps(stdout: string): string[] {
  const at = stdout.lastIndexOf('\nnext:\n');
  if (at < 0) return [];
  const lines: string[] = [];
  for (const line of stdout.slice(at + '\nnext:\n'.length).split('\n')) {
    if (!/^\s+\S/.test(line)) break;
    lines.push(line.replace(/\s+#.*$/, '').replace(/\s{2,}\(.*\)$/, '').trim());
  }
  return lines;
}

/** A printed `task …` line as the task name and its arguments (Taskfile: `task bootstrap` = scripts/bootstrap.ts, …). */
export function taskCommand(line: string): { task: string; args: string[] } {
  const m = /^task (\S+)(?: -- (.*))?$/.exec(line);
  if (!m) throw new Error(`not a task command: ${line}`);
  return { task: m[1]!, args: m[2] ? m[2].split(/\s+/) : [] };
}
