import { relative } from 'node:path';
import type { OpsContext } from '../core/context.ts';
import { redact } from '../core/redact.ts';
import { StateStore, type PhaseRecord } from '../core/state.ts';
import { cni } from './cni.ts';
import { gitops } from './gitops.ts';
import { infra } from './infra.ts';
import { integrationsPhase } from './integrate.ts';
import { describeNodes } from '../config/nodes.ts';
import { PHASES, PHASE_TITLES, configHash, selectPhases, type PhaseName, type Selection } from './phases.ts';
import { preflight } from './preflight.ts';
import { secretsPhase } from './secrets.ts';
import { rowFromRecord, summaryTable, type SummaryRow } from './summary.ts';
import { talosPhase } from './talos.ts';
import { verify } from './verify.ts';
import type { BootstrapOptions, PhaseContext, PhaseOutcome } from './steps.ts';

// Runs the phases in order with one state file per cluster. The same code prints the plan under --dry-run.

export const PHASE_RUNNERS: Record<PhaseName, (p: PhaseContext) => Promise<PhaseOutcome>> = {
  preflight,
  infra,
  talos: talosPhase,
  cni,
  secrets: secretsPhase,
  gitops,
  integrations: integrationsPhase,
  verify,
};

interface PhaseStore {
  phase(name: string): PhaseRecord;
  update(name: string, patch: Partial<PhaseRecord>): PhaseRecord;
}

/** The plan writes nothing: its state lives in memory. */
function memoryStore(): PhaseStore {
  const data: Record<string, PhaseRecord> = {};
  return {
    phase: (n) => data[n] ?? { status: 'pending' },
    update: (n, patch) => (data[n] = { ...(data[n] ?? { status: 'pending' }), ...patch }),
  };
}

export interface BootstrapRunOptions extends Selection {
  waitScale?: number;
  env?: NodeJS.ProcessEnv;
  /** Shown in the plan header. */
  configFile?: string;
  /** Installs a SIGINT/SIGTERM handler that records the interruption (entry script: true). */
  handleSignals?: boolean;
}

export interface BootstrapResult {
  exitCode: number;
  ran: PhaseName[];
  failed?: PhaseName;
}

/** The status a phase is left in when Ctrl-C arrives; the next run re-runs it (its probes skip finished steps). */
function markInterrupted(store: PhaseStore, phase: PhaseName | undefined, startedMs: number): void {
  if (!phase) return;
  store.update(phase, { status: 'interrupted', finishedAt: new Date().toISOString(), durationMs: Date.now() - startedMs, error: 'interrupted (Ctrl-C)' });
}

export async function runBootstrap(ctx: OpsContext, o: BootstrapRunOptions = {}): Promise<BootstrapResult> {
  const dry = ctx.runner.dryRun;
  const cluster = ctx.config.cluster.name;
  const hash = configHash(ctx.config);
  const store: PhaseStore = dry ? memoryStore() : new StateStore(ctx.paths.bootstrapState, cluster);
  const plan = selectPhases(o, (n) => store.phase(n), hash, dry);
  const opts: BootstrapOptions = { waitScale: o.waitScale ?? 1, env: o.env ?? process.env };
  const out = (s: string) => ctx.log.print(s);

  if (dry) {
    const shown = o.configFile ? relative(process.cwd(), o.configFile) || o.configFile : 'the cluster config';
    out(`Bootstrap plan for cluster "${cluster}": ${describeNodes(ctx.config)}, config ${shown}`);
    out('Nothing is run. "$" lines change something, "?" lines are read-only probes that decide whether the next');
    out('"$" is needed (a re-run skips what exists), "…" lines are bounded waits, "#" lines local steps. Secrets: <redacted>.');
  } else {
    const resume = plan.find((ph) => ph.run && ph.name !== 'preflight' && ph.reason !== 'always');
    if (resume && resume.reason !== 'pending' && resume.reason !== 'selected') ctx.log.info(`resuming at phase ${resume.name} (${resume.reason} last run)`);
  }

  let current: PhaseName | undefined;
  let currentStart = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    markInterrupted(store, current, currentStart);
    ctx.log.error(`interrupted (${sig}) during phase ${current ?? '-'}; the state file records it. Run \`task bootstrap\` again to resume at ${current ?? 'the next phase'}.`);
    process.exit(130);
  };
  if (o.handleSignals && !dry) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  const rows: SummaryRow[] = [];
  const ran: PhaseName[] = [];
  try {
    for (const [i, ph] of plan.entries()) {
      const prev = store.phase(ph.name);
      if (!ph.run) {
        if (!dry && !o.only) rows.push(rowFromRecord(ph.name, prev, false));
        continue;
      }
      const heading = `[${i + 1}/${PHASES.length}] ${ph.name} — ${PHASE_TITLES[ph.name]}`;
      if (dry) out(`\n${heading}`);
      else ctx.log.info(`== ${heading}`);
      const notes: string[] = [];
      const p: PhaseContext = {
        ...ctx,
        phase: ph.name,
        opts,
        note: (line) => {
          notes.push(line);
          if (!dry) ctx.log.info(`${ph.name}: ${line}`);
        },
        versions: {},
        facts: {},
        ...(prev.status !== 'pending' ? { previous: prev } : {}),
      };
      current = ph.name;
      currentStart = Date.now();
      store.update(ph.name, { status: 'running', startedAt: new Date().toISOString(), finishedAt: undefined, durationMs: undefined, error: undefined });
      ran.push(ph.name);
      try {
        const result = await PHASE_RUNNERS[ph.name](p);
        const rec = store.update(ph.name, {
          status: 'done',
          finishedAt: new Date().toISOString(),
          durationMs: Date.now() - currentStart,
          summary: redact(result.summary),
          versions: p.versions,
          facts: { ...p.facts, configHash: hash, changed: result.changed, notes },
        });
        if (!dry) rows.push(rowFromRecord(ph.name, rec, true));
      } catch (err) {
        const message = redact(err instanceof Error ? err.message : String(err));
        const rec = store.update(ph.name, {
          status: 'failed',
          finishedAt: new Date().toISOString(),
          durationMs: Date.now() - currentStart,
          error: message.slice(0, 8000),
          facts: { ...prev.facts, ...p.facts, notes },
        });
        current = undefined;
        rows.push(rowFromRecord(ph.name, rec, true));
        ctx.log.error(
          [
            `bootstrap stopped in phase ${ph.name}:`,
            `  ${message.split('\n').join('\n  ')}`,
            dry
              ? 'The plan could not be completed.'
              : `State: ${ctx.paths.bootstrapState}. After fixing the cause run \`task bootstrap\` again: it resumes at ${ph.name} and does not repeat completed steps.`,
          ].join('\n'),
        );
        if (!dry) out(`\n${summaryTable(rows)}`);
        return { exitCode: 1, ran, failed: ph.name };
      }
      current = undefined;
    }
  } finally {
    if (o.handleSignals && !dry) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  if (dry) out(`\nEnd of plan: ${ran.length} phase(s). Run \`task bootstrap\` to execute it; a re-run resumes where a failed run stopped.`);
  else out(`\n${summaryTable(rows)}`);
  return { exitCode: 0, ran };
}
