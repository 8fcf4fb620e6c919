#!/usr/bin/env -S npx tsx
import { runScript } from './lib/core/cli.ts';
import { diffGenerated, isClean, writeGenerated } from './lib/configure/sync.ts';

await runScript({
  name: 'configure',
  task: 'configure',
  summary: 'render Talos patches, Terraform variables, the cluster\'s Flux entry (kustomization.yaml, cluster-settings, secrets/) and the config JSON Schema from the cluster config',
  options: {
    check: { type: 'boolean', help: 'write nothing; exit 1 and list the files that are stale' },
  },
  details: [
    'Running it twice changes nothing. Run it for each cluster: --config clusters/apps.yaml.',
    '--dry-run is --check: it writes nothing and lists what would change.',
    'exit codes: 0 done (or up to date), 1 generated files are stale (--check), 2 usage, 3 config.',
    'examples:',
    '  task configure                                  # render from cluster.yaml',
    '  task configure -- --config clusters/apps.yaml   # another cluster',
    '  task configure -- --check                       # CI: fail when a generated file is stale',
  ].join('\n'),
  async run({ opts, config, log }) {
    if (opts.check || opts['dry-run']) {
      const { drift } = diffGenerated(config);
      if (isClean(drift)) {
        log.info('generated files are up to date', { cluster: config.cluster.name });
        return 0;
      }
      for (const f of drift.changed) log.error(`stale: ${f} differs from what the config renders`);
      for (const f of drift.missing) log.error(`stale: ${f} is missing`);
      for (const f of drift.extra) log.error(`stale: ${f} is no longer produced by the config`);
      log.error('run `task configure` (npx tsx scripts/configure.ts) and commit the result');
      return 1;
    }
    const drift = writeGenerated(config);
    const n = drift.changed.length + drift.missing.length + drift.extra.length;
    for (const f of [...drift.changed, ...drift.missing]) log.info(`wrote ${f}`);
    for (const f of drift.extra) log.info(`removed ${f}`);
    log.info(n ? `${n} file(s) updated` : 'no changes', { cluster: config.cluster.name });
    return 0;
  },
});
