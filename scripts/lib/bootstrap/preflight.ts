import { checkSecrets, ConfigError } from '../config/load.ts';
import { diffGenerated, isClean } from '../configure/sync.ts';
import { REPO_ROOT } from '../core/paths.ts';
import * as fluxInstall from '../flux/install.ts';
import { checkGithubReady } from '../github/github.ts';
import { fqdn } from '../powerdns/records.ts';
import { externalZoneProblem, powerDnsApi } from '../powerdns/sync.ts';
import { checkProxmoxPrerequisites } from '../proxmox/host.ts';
import * as helm from '../helm/helm.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import { checkSshHost, configuredSshTargets } from '../ssh/remote.ts';
import * as talosctl from '../talos/talosctl.ts';
import * as terraform from '../terraform/terraform.ts';
import * as git from '../git/git.ts';
import { BootstrapError } from './errors.ts';
import { parallel, plural, probe, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 1: everything that can be checked before touching anything. All problems are collected and reported together.

export interface ToolCheck {
  name: string;
  argv: string[];
  parse: (stdout: string) => string | undefined;
  why: string;
}

const firstVersion = (s: string) => /\bv?\d+\.\d+\.\d+[^\s,)]*/.exec(s)?.[0];

export function requiredTools(): ToolCheck[] {
  return [
    { name: 'talosctl', argv: talosctl.clientVersionArgv(), parse: talosctl.parseClientVersion, why: 'Talos configs, apply, bootstrap' },
    { name: 'terraform', argv: terraform.versionArgv(), parse: terraform.parseTerraformVersion, why: 'the Proxmox VMs' },
    { name: 'helm', argv: helm.versionArgv(), parse: helm.parseHelmVersion, why: 'Cilium' },
    { name: 'kubectl', argv: kubectl.clientVersionArgv(), parse: kubectl.parseKubectlVersion, why: 'waits and the sealed-secrets key' },
    { name: 'flux', argv: fluxInstall.versionArgv(), parse: fluxInstall.parseFluxVersion, why: 'flux bootstrap github' },
    { name: 'kubeseal', argv: ['kubeseal', '--version'], parse: firstVersion, why: 'sealing the bootstrap secrets' },
    { name: 'openssl', argv: ['openssl', 'version'], parse: firstVersion, why: 'the sealed-secrets keypair' },
    { name: 'git', argv: git.versionArgv(), parse: firstVersion, why: 'the clean, pushed tree Flux deploys' },
  ];
}

/** The sealing certificate and SealedSecrets of this cluster: written by the bootstrap, committed by it. */
export function isBootstrapOwned(cluster: string, path: string): boolean {
  const dir = `kubernetes/clusters/${cluster}/`;
  return path === `${dir}sealed-secrets-cert.pem` || (path.startsWith(`${dir}secrets/`) && path.endsWith('.sealed.yaml'));
}

export async function preflight(p: PhaseContext): Promise<PhaseOutcome> {
  const problems: string[] = [];
  const dry = p.runner.dryRun;

  // Tools, git + GitHub, and SSH hosts are independent: checked at the same time.
  const targets = configuredSshTargets(p);
  const sshChecks = Promise.allSettled(targets.map((t) => checkSshHost(p, t)));
  // Tools, with versions (recorded in the state file).
  const tools = await parallel(p, requiredTools(), async (t) => ({ t, res: await probe(p, t.argv) }));
  for (const { t, res } of tools) {
    if (res.dryRun) continue;
    if (!res.ok) problems.push(`${t.name} is missing or broken (needed for ${t.why}): run \`mise install\` (exit ${res.exitCode}: ${(res.stderr || res.stdout).trim().split('\n')[0] ?? ''})`);
    else p.versions[t.name] = t.parse(res.stdout + res.stderr) ?? 'unknown';
  }

  // Credentials (.env): only a real run needs them.
  if (!dry) {
    try {
      checkSecrets(p.config, p.secrets);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else throw err;
    }
  }

  // Generated files must match the config (Talos patches, tfvars, cluster-settings).
  const { drift } = diffGenerated(p.config);
  if (!isClean(drift)) {
    const stale = [...drift.changed, ...drift.missing, ...drift.extra];
    const msg = `generated files are stale (${stale.slice(0, 4).join(', ')}${stale.length > 4 ? ', …' : ''}): run \`task configure\`, commit and push`;
    if (dry) p.runner.planOnly(`# note: ${msg}`);
    else problems.push(msg);
  }

  // Git: clean tree, and the commit on the branch Flux reads (Flux deploys the remote, not this checkout).
  const status = await probe(p, git.statusArgv(), { cwd: REPO_ROOT });
  const head = await probe(p, git.headArgv(), { cwd: REPO_ROOT });
  let sha: string | undefined;
  if (!status.dryRun) {
    const all = git.parseStatus(status.stdout);
    // Files the bootstrap itself writes (sealing certificate, SealedSecrets) are left by an interrupted secrets or
    // integrations phase; that phase commits and pushes them when it resumes.
    const owned = all.filter((d) => isBootstrapOwned(p.config.cluster.name, d.path));
    if (owned.length) p.note(`bootstrap-written files not yet pushed (the secrets/integrations phase commits them): ${owned.map((d) => d.path).join(', ')}`);
    const dirty = all.filter((d) => !isBootstrapOwned(p.config.cluster.name, d.path));
    if (!status.ok) problems.push(`git status failed in ${REPO_ROOT}: ${status.stderr.trim()}`);
    else if (dirty.length) {
      problems.push(
        `the git working tree is not clean (${dirty.slice(0, 5).map((d) => d.path).join(', ')}${dirty.length > 5 ? ', …' : ''}): commit and push, or stash, first — Flux deploys what is on the remote`,
      );
    }
    if (head.ok) sha = head.stdout.trim();
    else problems.push(`git rev-parse HEAD failed: ${head.stderr.trim()}`);
  }
  // Without GITHUB_TOKEN the GitHub check cannot run; the missing token is already one problem above.
  if (dry || (sha && p.secrets.GITHUB_TOKEN)) {
    try {
      const r = await checkGithubReady(p, { localSha: sha ?? 'HEAD', env: p.opts.env });
      p.note(r.summary);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }

  // SSH hosts: reachable, host key verified against known_hosts.
  const ssh = await sshChecks;
  ssh.forEach((r, i) => {
    const t = targets[i]!;
    if (r.status === 'fulfilled') return;
    problems.push(`SSH ${t.role} ${t.user}@${t.host}:${t.port}: ${(r.reason as Error).message}`);
  });
  // What the VM layer needs of the Proxmox host (version, the image storage's content types), once SSH to it works.
  if (dry || ssh[targets.findIndex((t) => t.role === 'Proxmox')]?.status === 'fulfilled') {
    try {
      problems.push(...(await checkProxmoxPrerequisites(p)));
    } catch (err) {
      problems.push(`Proxmox ${p.config.proxmox.host}: ${(err as Error).message}`);
    }
  }

  // PowerDNS of another cluster (powerdns.external): its zone must exist before this cluster's VMs do — a read only.
  const external = p.config.powerdns?.external;
  if (external && dry) p.runner.planOnly(`? GET ${powerDnsApi(p, false).zoneUrl(fqdn(p.config.powerdns!.zone))}   # the zone must exist there (powerdns.external); a read only`);
  else if (external && p.secrets.PDNS_API_KEY) {
    try {
      const problem = await externalZoneProblem(p);
      if (problem) problems.push(problem);
    } catch (err) {
      problems.push(`PowerDNS at ${p.config.powerdns!.apiUrl} (powerdns.external): ${(err as Error).message}`);
    }
  }

  if (problems.length) {
    throw new BootstrapError(`preflight found ${plural(problems.length, 'problem')}:\n  - ${problems.join('\n  - ')}`, 'fix each item above, then run `task bootstrap` again');
  }
  const toolLine = Object.entries(p.versions).map(([k, v]) => `${k} ${v}`).join(', ');
  return {
    changed: false,
    summary: dry ? 'checks planned' : `tools ok (${toolLine}); tree clean at ${sha?.slice(0, 7)}; ${plural(targets.length, 'SSH host')} verified`,
  };
}
