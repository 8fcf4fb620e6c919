import { existsSync, readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { join, relative } from 'node:path';
import { checkExternalDns, configGroups, powerDnsServerOf, type ConfigFile } from '../config/dns-rules.ts';
import { parseConfigText, type ClusterConfig } from '../config/load.ts';
import { underDomain } from '../config/rules.ts';
import { diffGenerated } from '../configure/sync.ts';
import { TERRAFORM_LAYERS } from '../configure/render.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { INFRASTRUCTURE_OUTPUTS } from '../terraform/terraform.ts';
import { buildOwnership, ownershipFindings, type OwnershipMap } from '../ownership/ownership.ts';
import { checkSecretFiles, checkTree, clusterNames, helmReleases, loadCluster, type ClusterTree } from './flux.ts';
import { SourceIndex, onPath, pool, type Exec } from './kustomize.ts';
import { describe, type Finding } from './model.ts';
import { validateObject } from './schemas.ts';
import { checkSso } from './sso.ts';
import { checkTalos } from './talos.ts';
import { checkTaskfiles } from './taskfile.ts';
import { checkAddresses, checkRoutes, type NamedAddresses } from './traffic.ts';
import { checkPolicies } from './policy.ts';
import { checkAlertRules, checkDashboards, checkScrapeTargets } from './monitoring.ts';
import { checkShipping } from './shipping.ts';
import { checkFmt, checkModules, checkOutputs, checkPins, checkVariables, parseTerraform, terraformKubernetesResources, type TerraformFile } from './terraform.ts';

// `task validate`: every check, offline, in one pass. Pure orchestration: each check lives in its own module and
// reports Findings naming the file and the object.

export interface ValidateOptions {
  root?: string;
  exec: Exec;
  /** Only these clusters (default: every directory under kubernetes/clusters). */
  clusters?: string[];
  /** The loaded cluster config: generated files are compared with what it renders (only for the real repository). */
  config?: ClusterConfig;
  /** Run `terraform fmt -check` when terraform is on PATH (default true). */
  terraformFmt?: boolean;
  /**
   * Groups of config files checked against each other (powerdns.external: scripts/lib/config/dns-rules.ts). Default:
   * the shipped examples (cluster.example.yaml, clusters/*.example.yaml); `task validate` adds the user's own.
   */
  configGroups?: string[][];
}

export interface ValidateReport {
  findings: Finding[];
  trees: ClusterTree[];
  ownership: OwnershipMap;
  counts: {
    objects: number;
    kustomizations: number;
    helmReleases: number;
    terraformFiles: number;
    tfvarsFiles: number;
    talosFiles: number;
    taskTargets: number;
  };
  timings: Record<string, number>;
  terraformFmtRan: boolean;
}

async function timed<T>(timings: Record<string, number>, name: string, fn: () => Promise<T> | T): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    timings[name] = (timings[name] ?? 0) + (Date.now() - t);
  }
}

export interface LoadedRepository {
  /** Every YAML document under kubernetes/. */
  index: SourceIndex;
  trees: ClusterTree[];
  tfFiles: TerraformFile[];
}

/**
 * The Flux tree of each cluster and the parsed Terraform files: what validate and the ownership map both start from.
 * Problems found while loading (kustomize builds, substitution, HCL syntax) go to `findings`.
 */
export async function loadRepository(
  root: string,
  o: { exec: Exec; clusters?: string[]; timings?: Record<string, number> },
  findings: Finding[],
): Promise<LoadedRepository> {
  const timings = o.timings ?? {};
  const index = new SourceIndex(root, ['kubernetes']);
  const clusters = o.clusters ?? clusterNames(root);
  // Flux trees (kustomize builds in parallel) and Terraform parsing overlap: both wait on other processes / wasm.
  const [trees, tfFiles] = await Promise.all([
    timed(timings, 'flux-build', () => Promise.all(clusters.map((c) => loadCluster(root, c, { exec: o.exec, index }, findings)))),
    timed(timings, 'terraform-parse', () => parseTerraform(root, findings)),
  ]);
  return { index, trees, tfFiles };
}

export async function validateRepository(o: ValidateOptions): Promise<ValidateReport> {
  const root = o.root ?? REPO_ROOT;
  const findings: Finding[] = [];
  const timings: Record<string, number> = {};

  const clusters = o.clusters ?? clusterNames(root);
  if (clusters.length === 0) findings.push({ check: 'kustomize', file: 'kubernetes/clusters', message: 'no cluster directories' });
  const { index, trees, tfFiles } = await loadRepository(root, { exec: o.exec, clusters, timings }, findings);

  await timed(timings, 'flux-checks', () => {
    for (const t of trees) checkTree(t, root, findings);
    // A cluster directory whose entry applies no Flux Kustomization deploys nothing: a missing or hand-made entry.
    for (const t of trees) {
      if ([...t.kustomizations.values()].some((k) => !k.bootstrap)) continue;
      findings.push({
        check: 'kustomize',
        file: `kubernetes/clusters/${t.cluster}/kustomization.yaml`,
        message: `cluster ${t.cluster} has no Flux Kustomization, so Flux would deploy nothing there: render its entry with \`task configure -- --config clusters/${t.cluster}.yaml\` (cluster.role picks kubernetes/clusters/<role>/flux)`,
      });
    }
    checkSecretFiles(index, trees, findings);
  });

  await timed(timings, 'configs', () => {
    for (const group of o.configGroups ?? [configGroups(root).examples]) checkConfigGroup(root, group, trees, findings);
  });

  await timed(timings, 'traffic', () => {
    for (const t of trees) {
      checkRoutes(t, findings);
      checkPolicies(t, findings);
      checkAlertRules(t, root, findings);
      checkScrapeTargets(t, findings);
      checkDashboards(t, findings);
      checkAddresses(t, findings, o.config && o.config.cluster.name === t.cluster ? dnsNamedAddresses(o.config) : undefined);
    }
    // Across trees: a cluster that ships metrics and logs writes where the receiving cluster pins and admits them.
    checkShipping(trees, root, findings);
  });

  let objects = 0;
  await timed(timings, 'schemas', async () => {
    const all = trees.flatMap((t) => t.objects);
    objects = all.length;
    const results = await pool(all, 8, (a) => validateObject(a.obj, root));
    results.forEach((r, i) => {
      const a = all[i]!;
      for (const p of r.problems) findings.push({ check: 'schema', ...(a.file ? { file: a.file } : {}), object: describe(a.obj), message: p });
    });
  });

  let terraformFmtRan = false;
  let tfvarsFiles = 0;
  await timed(timings, 'terraform-checks', async () => {
    if (o.terraformFmt !== false && onPath('terraform') && existsSync(join(root, 'terraform'))) terraformFmtRan = await checkFmt(root, o.exec, findings);
    checkPins(root, tfFiles, findings);
    tfvarsFiles = checkVariables(root, tfFiles, TERRAFORM_LAYERS, findings);
    checkOutputs(tfFiles, '01-infrastructure', INFRASTRUCTURE_OUTPUTS, findings);
    checkModules(root, tfFiles, findings);
  });

  await timed(timings, 'sso', () => {
    for (const t of trees) checkSso(t, root, findings);
  });

  const talosFiles = checkTalos(root, findings);
  const taskTargets = checkTaskfiles(root, findings);

  if (o.config && root === REPO_ROOT) {
    const { drift } = diffGenerated(o.config, root);
    for (const f of [...drift.changed, ...drift.missing, ...drift.extra]) {
      findings.push({ check: 'config', file: f, message: `does not match what cluster ${o.config.cluster.name}'s config renders: run \`task configure\`` });
    }
  }

  const ownership = await timed(timings, 'ownership', () => buildOwnership(index, trees, terraformKubernetesResources(tfFiles)));
  findings.push(...ownershipFindings(ownership));

  return {
    findings,
    trees,
    ownership,
    counts: {
      objects,
      kustomizations: trees.reduce((n, t) => n + [...t.kustomizations.values()].filter((k) => !k.bootstrap).length, 0),
      helmReleases: trees.reduce((n, t) => n + helmReleases(t).length, 0),
      terraformFiles: tfFiles.length,
      tfvarsFiles,
      talosFiles,
      taskTargets,
    },
    timings,
    terraformFmtRan,
  };
}

/**
 * Configs that belong together, checked against each other: a cluster using another's PowerDNS (powerdns.external)
 * and that cluster agree (dns-rules.ts), and the server's routes claim no host name of the client's domain. A config
 * that does not load is reported here too (its own problems are `task configure`'s to show in full).
 */
export function checkConfigGroup(root: string, files: string[], trees: ClusterTree[], findings: Finding[]): void {
  const configs: ConfigFile[] = [];
  for (const f of files) {
    const shown = relative(root, f).startsWith('..') ? f : relative(root, f);
    try {
      configs.push({ file: shown, config: parseConfigText(readFileSync(f, 'utf8'), shown) });
    } catch (err) {
      const first = (err as { problems?: string[] }).problems?.[0] ?? (err as Error).message;
      findings.push({ check: 'config', file: shown, message: `not a valid cluster config, so it is not checked against the others: ${first}` });
    }
  }
  for (const i of checkExternalDns(configs)) findings.push({ check: 'config', file: i.file, message: `${i.field}: ${i.message}` });
  for (const client of configs) {
    const server = powerDnsServerOf(client, configs);
    const tree = server && trees.find((t) => t.cluster === server.config.cluster.name);
    if (!server || !tree) continue;
    const domain = client.config.powerdns!.external!.domain;
    for (const a of tree.objects) {
      if (a.obj.kind !== 'HTTPRoute') continue;
      for (const h of ((a.obj.spec ?? {}) as { hostnames?: string[] }).hostnames ?? []) {
        if (!underDomain(h.replace(/^\*\./, ''), domain)) continue;
        findings.push({
          check: 'routes',
          ...(a.file ? { file: a.file } : {}),
          object: describe(a.obj),
          message: `hostname ${h} (cluster ${tree.cluster}, ${server.file}) lies in ${domain}, the domain of cluster ${client.config.cluster.name} (${client.file}, powerdns.external.domain): both clusters would publish it; move the route under another name, or give ${client.config.cluster.name} another domain`,
        });
      }
    }
  }
}

/** The pool addresses the config's DNS names: A records inside network.loadBalancerCidr and the nameserver glue. */
export function dnsNamedAddresses(c: ClusterConfig): NamedAddresses {
  const out: NamedAddresses = new Map();
  if (!c.powerdns || !c.network.loadBalancerCidr) return out;
  const pool = ipaddr.IPv4.parseCIDR(c.network.loadBalancerCidr);
  const inPool = (ip: string) => ipaddr.IPv4.isValidFourPartDecimal(ip) && ipaddr.IPv4.parse(ip).match(pool);
  if (inPool(c.powerdns.nameserver.ip)) out.set(c.powerdns.nameserver.ip, `powerdns.nameserver.ip, the glue of ${c.powerdns.nameserver.name}`);
  c.powerdns.records.forEach((r, i) => {
    if (r.type === 'A') for (const ip of r.content) if (inPool(ip) && !out.has(ip)) out.set(ip, `powerdns.records[${i}] ${r.name}`);
  });
  return out;
}

export function errorsOf(findings: Finding[]): Finding[] {
  return findings.filter((f) => f.level !== 'warning');
}

/** One line per finding: "check  file  object: message". */
export function formatFinding(f: Finding): string {
  return `[${f.check}] ${f.file ?? '-'}${f.object ? `  ${f.object}` : ''}: ${f.message}`;
}
