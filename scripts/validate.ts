#!/usr/bin/env -S npx tsx
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repositoryRootOption, runScript } from './lib/core/cli.ts';
import { configGroups } from './lib/config/dns-rules.ts';
import { REPO_ROOT } from './lib/core/paths.ts';
import { runnerExec } from './lib/validate/exec.ts';
import { embedGraph, graphDocument, mermaid } from './lib/validate/graph.ts';
import { errorsOf, formatFinding, validateRepository } from './lib/validate/run.ts';

export const GRAPH_FILE = 'docs/flux-graph.md';

await runScript({
  name: 'validate',
  task: 'validate',
  summary: 'offline checks of the Flux tree, Terraform, Talos patches, Taskfiles and object ownership',
  options: {
    graph: { type: 'boolean', help: `also write the Flux dependency graph (Mermaid) to ${GRAPH_FILE} and into README.md (between its flux-graph markers)` },
    cluster: { type: 'string', multiple: true, value: 'NAME', help: 'only this cluster of kubernetes/clusters/ (repeatable; default all)' },
    root: { type: 'string', value: 'DIR', help: 'repository to check (default: this one)' },
  },
  details: [
    'Checks: kustomize builds of every Flux Kustomization path; every object against its Kubernetes/CRD schema',
    '(unknown fields are errors); dependsOn/sourceRef resolve, no cycles; Kustomization prune/wait|healthChecks/timeout;',
    'pinned chart, OCI and Git versions; no plaintext Secret; every ${VAR} defined in cluster-settings; Terraform HCL',
    'syntax, `terraform fmt -check` (when installed), provider pins, tfvars vs variables, outputs; Talos patches;',
    'Taskfile targets; generated files vs the config; one owner per Kubernetes object (scripts/ownership.ts);',
    'alert rules parse as PromQL and name a runbook anchor in README.md "When things break"; every VMServiceScrape',
    'selects a Service of the tree (or a HelmRelease\'s, through app.kubernetes.io/instance); every dashboard query',
    'parses and names a provisioned data source; a cluster that ships metrics and logs (monitoring.shipTo) writes to',
    'the address the receiving cluster pins, which admits its nodes; configs that belong together (the examples;',
    'cluster.yaml and clusters/*.yaml) agree: a cluster using another\'s PowerDNS (powerdns.external) is admitted by',
    'its apiSourceRanges, names its zone, and no host name collides.',
    '--graph --dry-run says whether the graph files are stale and writes nothing.',
    'exit codes: 0 clean, 1 problems found (each names the file and the object), 2 usage, 3 config.',
    'examples:',
    '  task validate',
    '  task validate -- --cluster infra --graph',
  ].join('\n'),
  async run({ opts, log, config }) {
    const started = Date.now();
    const root = repositoryRootOption(opts.root, REPO_ROOT);
    const report = await validateRepository({
      root,
      exec: runnerExec(log),
      ...(opts.cluster?.length ? { clusters: opts.cluster } : {}),
      ...(root === REPO_ROOT ? { config } : {}),
      // The shipped examples are checked against each other, and so are the user's own configs.
      configGroups: Object.values(configGroups(root, root === REPO_ROOT ? (process.env.HOME_OPS_CONFIG_DIR ?? root) : root)),
    });
    if (opts.graph) {
      const graphs = report.trees.map(mermaid);
      const file = join(root, GRAPH_FILE);
      const doc = graphDocument(report.trees, graphs);
      const graphStale = !existsSync(file) || readFileSync(file, 'utf8') !== doc;
      // --dry-run says what it would write and writes nothing.
      if (opts['dry-run']) log.info(graphStale ? `would write ${GRAPH_FILE} (dry-run: not written)` : `${GRAPH_FILE} is up to date`);
      else if (graphStale) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, doc);
        log.info(`wrote ${GRAPH_FILE}`);
      } else log.info(`${GRAPH_FILE} is up to date`);
      const readme = join(root, 'README.md');
      if (existsSync(readme)) {
        const text = readFileSync(readme, 'utf8');
        const embedded = embedGraph(text, report.trees, graphs);
        if (embedded !== text) {
          if (opts['dry-run']) log.info('would update the graph in README.md (dry-run: not written)');
          else {
            writeFileSync(readme, embedded);
            log.info('updated the graph in README.md');
          }
        }
      }
    }
    const errors = errorsOf(report.findings);
    for (const f of report.findings) (f.level === 'warning' ? log.warn : log.error).call(log, formatFinding(f));
    const c = report.counts;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    log.print(
      [
        `validated ${c.objects} objects in ${c.kustomizations} Flux Kustomizations (${c.helmReleases} HelmReleases) of ${report.trees.length} cluster(s),`,
        `${c.terraformFiles} Terraform files${report.terraformFmtRan ? ' (terraform fmt -check)' : ' (terraform not installed: HCL parsed, fmt skipped)'}, ${c.tfvarsFiles} tfvars files,`,
        `${c.talosFiles} Talos patches, ${c.taskTargets} Taskfile targets, ${report.ownership.claims.size} owned identities in ${seconds}s:`,
        errors.length ? `${errors.length} problem(s)` : 'no problems',
      ].join(' '),
    );
    log.debug('timings', Object.fromEntries(Object.entries(report.timings).map(([k, v]) => [k, `${v}ms`])));
    return errors.length ? 1 : 0;
  },
});
