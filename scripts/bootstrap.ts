#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { parseWaitScale, WAIT_SCALE_OPTION } from './lib/core/steps.ts';
import { PHASES, PHASE_TITLES } from './lib/bootstrap/phases.ts';
import { runBootstrap } from './lib/bootstrap/run.ts';

await runScript({
  name: 'bootstrap',
  task: 'bootstrap',
  summary: 'take the cluster from bare Proxmox to Talos + Cilium + Flux, in resumable phases (--dry-run prints the plan)',
  options: {
    only: { type: 'string', value: 'PHASE', choices: PHASES, help: 'run just this phase' },
    from: { type: 'string', value: 'PHASE', choices: PHASES, help: 'run this phase and every later one, whatever the state file says' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'phases, in order (each probes first, acts only if needed, then verifies):',
    ...PHASES.map((p, i) => `  ${i + 1}. ${p.padEnd(13)} ${PHASE_TITLES[p]}`),
    '',
    'Without --from/--only a run resumes: phases the state file records as done for the same config are skipped',
    '(preflight and verify always run). The state file is <state dir>/<cluster>/bootstrap-state.json.',
    'exit codes: 0 done, 1 a phase failed (the message says which command and what to try), 2 usage, 3 config,',
    '  4 the state file is damaged (the message names it; move it aside: the probes decide what is done), 130 Ctrl-C.',
    'examples:',
    '  task plan                                           # the plan: exact commands, no tools or network needed',
    '  task bootstrap                                      # run (or resume) the bootstrap',
    '  task bootstrap -- --from cni                        # re-run cni and everything after it',
    '  task bootstrap -- --only talos                      # just the talos phase',
  ].join('\n'),
  async run(ctx) {
    const res = await runBootstrap(ctx, {
      ...(ctx.opts.from ? { from: ctx.opts.from } : {}),
      ...(ctx.opts.only ? { only: ctx.opts.only } : {}),
      waitScale: parseWaitScale(ctx.opts['wait-scale']),
      configFile: ctx.configFile,
      handleSignals: true,
    });
    return res.exitCode;
  },
});
