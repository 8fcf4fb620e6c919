#!/usr/bin/env -S npx tsx
import { repositoryRootOption, runScript } from './lib/core/cli.ts';
import { REPO_ROOT } from './lib/core/paths.ts';
import { buildOwnership, describeIdentity, ownershipFindings } from './lib/ownership/ownership.ts';
import { runnerExec } from './lib/validate/exec.ts';
import type { Finding } from './lib/validate/model.ts';
import { loadRepository } from './lib/validate/run.ts';
import { terraformKubernetesResources } from './lib/validate/terraform.ts';

await runScript({
  name: 'ownership',
  task: 'ownership',
  summary: 'map who manages each Kubernetes object (Terraform, the bootstrap, Flux) and fail on double ownership',
  options: {
    list: { type: 'boolean', help: 'print the whole map, not only conflicts' },
    root: { type: 'string', value: 'DIR', help: 'repository to check (default: this one)' },
  },
  details: [
    'Owners: Terraform (kubernetes_*, kubernetes_manifest and helm_release resources under terraform/), the bootstrap',
    '(Helm release kube-system/cilium and its objects, Secret kube-system/sealed-secrets-key, Flux and its',
    'flux-system objects), and each Flux Kustomization for what it applies. A HelmRelease also owns its Helm release,',
    'a SealedSecret or ExternalSecret the Secret it writes.',
    'exit codes: 0 every object has one owner, 1 an object has two owners, 2 usage (e.g. --root is no checkout), 3 config.',
    'examples:',
    '  task ownership',
    '  task ownership -- --list | less'
  ].join('\n'),
  async run({ opts, log }) {
    const root = repositoryRootOption(opts.root, REPO_ROOT);
    const loadFindings: Finding[] = [];
    const { index, trees, tfFiles } = await loadRepository(root, { exec: runnerExec(log) }, loadFindings);
    // What stops the map from being complete: a Kustomization that does not build, a Terraform file that does not parse.
    for (const check of ['kustomize', 'terraform']) {
      for (const f of loadFindings.filter((x) => x.check === check)) log.warn(`${f.file ?? ''} ${f.message}`);
    }
    const map = buildOwnership(index, trees, terraformKubernetesResources(tfFiles));
    if (opts.list) {
      const rows = [...map.claims].sort(([a], [b]) => a.localeCompare(b));
      for (const [id, claims] of rows) log.print(`${describeIdentity(id).padEnd(70)} ${claims.map((c) => c.by).join(' | ')}`);
    }
    const conflicts = ownershipFindings(map);
    for (const f of conflicts) log.error(`${f.file ?? '-'}  ${f.object}: ${f.message}`);
    log.print(`${map.claims.size} objects and Helm releases mapped; ${conflicts.length ? `${conflicts.length} owned twice` : 'each has one owner'}`);
    return conflicts.length ? 1 : 0;
  },
});
