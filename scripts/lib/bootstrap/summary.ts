import type { PhaseRecord } from '../core/state.ts';

// The summary table printed at the end of every run (and after a failure): pure.

export interface SummaryRow {
  phase: string;
  status: string;
  durationMs?: number;
  what: string;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

export function summaryTable(rows: SummaryRow[]): string {
  const head = { phase: 'PHASE', status: 'STATUS', dur: 'DURATION', what: 'WHAT IT DID' };
  const cells = rows.map((r) => ({ phase: r.phase, status: r.status, dur: formatDuration(r.durationMs), what: r.what }));
  const w = {
    phase: Math.max(head.phase.length, ...cells.map((c) => c.phase.length)),
    status: Math.max(head.status.length, ...cells.map((c) => c.status.length)),
    dur: Math.max(head.dur.length, ...cells.map((c) => c.dur.length)),
  };
  const line = (c: typeof head) => `${c.phase.padEnd(w.phase)}  ${c.status.padEnd(w.status)}  ${c.dur.padStart(w.dur)}  ${c.what}`.trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}

/**
 * A failed phase's reason in one line: for a failed command its name, exit code and the last line it wrote to stderr
 * (where tools say why), else the error's first line.
 */
export function failureReason(error: string | undefined): string {
  const lines = (error ?? '').split('\n');
  const head = lines[0]?.trim() ?? '';
  const cmd = /^command failed \(exit (\d+)\): (\S+)(?: (\S+))?/.exec(head);
  if (!cmd) return head || 'failed (no message recorded; see the log file)';
  const start = lines.findIndex((l) => /^\s+(stderr|stdout):$/.test(l));
  const said = start < 0 ? [] : lines.slice(start + 1).filter((l) => /^ {4}\S/.test(l)).map((l) => l.trim());
  const tool = [cmd[2]!.split('/').pop(), cmd[3] && !cmd[3].startsWith('-') ? cmd[3] : undefined].filter(Boolean).join(' ');
  const why = said.at(-1);
  return `${tool} exited ${cmd[1]}${why ? `: ${why.length > 160 ? `${why.slice(0, 159)}…` : why}` : ''}`;
}

export function rowFromRecord(phase: string, rec: PhaseRecord, ranNow: boolean): SummaryRow {
  if (!ranNow) {
    return {
      phase,
      status: rec.status === 'done' ? 'skipped' : rec.status === 'pending' ? 'not run' : rec.status,
      what: rec.status === 'done' ? `done ${rec.finishedAt ?? ''} (unchanged config): ${rec.summary ?? ''}`.trim() : rec.summary ?? '',
    };
  }
  return {
    phase,
    status: rec.status,
    ...(rec.durationMs !== undefined ? { durationMs: rec.durationMs } : {}),
    what: rec.status === 'failed' ? failureReason(rec.error) : rec.summary ?? '',
  };
}
