import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { parseConfigText } from '../../scripts/lib/config/load.ts';
import { writeGenerated } from '../../scripts/lib/configure/sync.ts';
import { REPO_ROOT } from '../../scripts/lib/core/paths.ts';
import { sealedSecretPath, sealingCertPath } from '../../scripts/lib/sealed-secrets/seal.ts';
import { labFromConfig, type Lab, type LabOptions } from '../lab/lab.ts';
import { emptyProxmox, startRemoteHost, type RemoteLab } from '../lab/remote/remote-lab.ts';
import type { SshdServer } from '../servers/sshd.ts';
import { startFakeGithub, type FakeGithub } from '../servers/github.ts';

// End-to-end harness: a throw-away copy of this repository (its own git history and a bare "GitHub" remote), the
// simulated lab on PATH, a loopback GitHub API and a loopback sshd standing in for the Proxmox host. The bootstrap runs
// from the copy, so its REPO_ROOT, git checks and commits are the copy's, never this checkout's.

export const OWNER = 'lab-owner';
export const REPO = 'home-ops';
export const GITHUB_TOKEN = 'ghp_labtoken0123456789';
export const PROXMOX_TOKEN = 'terraform@pve!provider=11111111-2222-3333-4444-555555555555';

const COPY = ['scripts', 'talos/patches', 'terraform', 'kubernetes', 'cluster.example.yaml', 'package.json', 'tsconfig.json', '.gitignore'];

export function sh(cwd: string, cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).toString();
}

export interface Repo {
  root: string;
  origin: string;
  configFile: string;
  config: ReturnType<typeof parseConfigText>;
  head(): string;
  remoteHead(): string;
}

/**
 * Copies the product into a temp repo, writes the test config (fixture with the Proxmox host on the loopback sshd and
 * the optional sections removed) and the `peers` configs, renders them (task configure), commits and pushes to a bare
 * origin. The fixture is a
 * file of test/fixtures/config/valid, or a path from the repository root (a shipped example: clusters/apps.example.yaml).
 */
export function makeRepo(base: string, fixture: string, sshd: SshdServer, edit: (c: Record<string, unknown>) => void = () => {}, peers: PeerConfigs = {}): Repo {
  const root = join(base, 'repo');
  const origin = join(base, 'origin.git');
  mkdirSync(root, { recursive: true });
  for (const rel of COPY) if (existsSync(join(REPO_ROOT, rel))) cpSync(join(REPO_ROOT, rel), join(root, rel), { recursive: true });
  for (const gen of ['talos/generated', 'terraform/generated']) rmSync(join(root, gen), { recursive: true, force: true });
  for (const layer of ['00-persistent-auth', '01-infrastructure']) mkdirSync(join(root, 'terraform', layer), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  const source = fixture.includes('/') ? join(REPO_ROOT, fixture) : join(REPO_ROOT, 'test/fixtures/config/valid', fixture);
  const raw = parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
  delete raw.headscale;
  delete raw.powerdns;
  delete raw.proxmoxCsi;
  delete raw.vps;
  delete raw.monitoring;
  delete raw.backups;
  delete raw.clusterMesh;
  raw.proxmox = { ...(raw.proxmox as object), host: '127.0.0.1', sshPort: sshd.port, sshUser: sshd.user };
  raw.ssh = { knownHostsFile: sshd.knownHostsFile, identityFile: sshd.identityFile };
  raw.github = { owner: OWNER, repository: REPO, branch: 'main' };
  edit(raw);
  const configFile = join(root, 'cluster.yaml');
  const text = stringify(raw);
  writeFileSync(configFile, text);
  const config = parseConfigText(text, 'cluster.yaml');
  // Other clusters' configs beside this one (a ClusterMesh's peers), rendered as `task configure` renders them.
  const others = Object.entries(peers).map(([rel, peer]) => {
    const peerText = stringify(peer);
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), peerText);
    return parseConfigText(peerText, rel);
  });
  for (const c of [config, ...others]) {
    // A user's working copy may hold what bootstrapping a cluster of this name left (the sealing certificate, the
    // SealedSecrets, flux-system/): the copy is a cluster never bootstrapped, whatever the checkout it comes from.
    const own = dirname(sealingCertPath(c.cluster.name));
    for (const rel of ['sealed-secrets-cert.pem', 'flux-system']) rmSync(join(root, relative(REPO_ROOT, own), rel), { recursive: true, force: true });
    const secretsDir = join(root, relative(REPO_ROOT, dirname(sealedSecretPath(c.cluster.name, 'any'))));
    for (const f of existsSync(secretsDir) ? readdirSync(secretsDir) : []) if (f.endsWith('.sealed.yaml')) rmSync(join(secretsDir, f));
    writeGenerated(c, root);
  }
  sh(base, 'git', 'init', '--quiet', '--bare', '--initial-branch=main', origin);
  sh(root, 'git', 'init', '--quiet', '--initial-branch=main');
  // The bootstrap commits the sealing certificate: the copy needs an identity (a user's checkout has one).
  sh(root, 'git', 'config', 'user.name', 'Bootstrap Test');
  sh(root, 'git', 'config', 'user.email', 'bootstrap@test.invalid');
  // node_modules is a symlink here: ignore it as the real .gitignore ignores the directory.
  writeFileSync(join(root, '.git', 'info', 'exclude'), 'node_modules\n');
  sh(root, 'git', 'add', '-A');
  sh(root, 'git', 'commit', '--quiet', '-m', 'initial');
  sh(root, 'git', 'remote', 'add', 'origin', origin);
  sh(root, 'git', 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
  return {
    root,
    origin,
    configFile,
    config,
    head: () => sh(root, 'git', 'rev-parse', 'HEAD').trim(),
    remoteHead: () => sh(root, 'git', '--git-dir', origin, 'rev-parse', 'refs/heads/main').trim(),
  };
}

/** Config files written into the copy beside cluster.yaml (path from the repository root → the config). */
export type PeerConfigs = Record<string, Record<string, unknown>>;

export interface RunOutput {
  exitCode: number;
  /** Logger lines (stderr in the real CLI). */
  log: string[];
  /** print() output (stdout in the real CLI): the plan and the summary table. */
  out: string[];
  text: string;
}

/** Runs the bootstrap of the repo copy in this process, against the lab (env), like `executeScript` would. */
export async function runCopy(repo: Repo, env: Record<string, string>, o: { from?: string; only?: string; dryRun?: boolean; waitScale?: number; secrets?: Record<string, string> } = {}): Promise<RunOutput> {
  const mod = async <T>(rel: string) => (await import(pathToFileURL(join(repo.root, 'scripts/lib', rel)).href)) as T;
  const { Logger } = await mod<typeof import('../../scripts/lib/core/log.ts')>('core/log.ts');
  const { Runner } = await mod<typeof import('../../scripts/lib/core/runner.ts')>('core/runner.ts');
  const { clusterPaths } = await mod<typeof import('../../scripts/lib/core/paths.ts')>('core/paths.ts');
  const { loadConfig } = await mod<typeof import('../../scripts/lib/config/load.ts')>('config/load.ts');
  const { registerSecret } = await mod<typeof import('../../scripts/lib/core/redact.ts')>('core/redact.ts');
  const { runBootstrap } = await mod<typeof import('../../scripts/lib/bootstrap/run.ts')>('bootstrap/run.ts');
  const { reportError } = await mod<typeof import('../../scripts/lib/core/cli.ts')>('core/cli.ts');
  const log: string[] = [];
  const out: string[] = [];
  class Capture extends Logger {
    override print(text: string): void {
      out.push(text);
    }
  }
  const logger = new Capture({ level: 'info', write: (l) => log.push(l) });
  const config = loadConfig({ path: repo.configFile, env }).config;
  const paths = clusterPaths(config.cluster.name, env as NodeJS.ProcessEnv);
  const secrets = o.secrets ?? { PROXMOX_VE_API_TOKEN: PROXMOX_TOKEN, GITHUB_TOKEN };
  for (const v of Object.values(secrets)) registerSecret(v);
  const runner = new Runner({ log: logger, dryRun: o.dryRun ?? false, env: { ...env, TALOSCONFIG: paths.talosconfig, KUBECONFIG: paths.kubeconfig } });
  let exitCode: number;
  try {
    const res = await runBootstrap(
      { config, runner, log: logger, secrets, paths },
      { ...(o.from ? { from: o.from } : {}), ...(o.only ? { only: o.only } : {}), waitScale: o.waitScale ?? 0.01, env: { ...process.env, ...env }, configFile: repo.configFile },
    );
    exitCode = res.exitCode;
  } catch (err) {
    exitCode = reportError(logger, err);
  }
  return { exitCode, log, out, text: [...out, ...log].join('\n') };
}

export interface World {
  base: string;
  /** The Proxmox host: a loopback sshd whose sessions run the lab's remote fakes (pveum, pvesm, headscale). */
  sshd: SshdServer;
  remote: RemoteLab;
  github: FakeGithub;
  repo: Repo;
  cleanup(): Promise<void>;
}

export async function makeWorld(fixture: string, edit?: (c: Record<string, unknown>) => void, peers?: PeerConfigs): Promise<World> {
  const base = mkdtempSync(join(tmpdir(), 'bootstrap-e2e-'));
  const host = await startRemoteHost();
  const { sshd, remote } = host;
  // A Proxmox host set up as docs/bootstrap.md asks: its image storage allows the "import" content type.
  const pve = emptyProxmox();
  remote.setProxmox({ ...pve, storages: { ...pve.storages, local: { volumes: [], content: 'backup,import,iso,vztmpl' } } });
  let repo: Repo;
  let github: FakeGithub;
  try {
    repo = makeRepo(base, fixture, sshd, edit, peers);
    github = await startFakeGithub({ owner: OWNER, repo: REPO, token: GITHUB_TOKEN, admin: true, branches: {}, keys: [], bare: repo.origin });
  } catch (err) {
    await host.stop();
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  return {
    base,
    sshd,
    remote,
    github,
    repo,
    cleanup: async () => {
      await host.stop();
      await github.close();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * A config value with the addresses of one private network (10.x.y.0/24, default infra's of the examples) moved to
 * 127.x.y.0/24: all of 127/8 is loopback on Linux, so the test's servers can listen on the config's own addresses.
 */
export const onLoopback = <T>(v: T, net = '10.0.10.'): T => JSON.parse(JSON.stringify(v).replaceAll(net, net.replace(/^10\./, '127.'))) as T;

/**
 * A SealedSecret as pushed to the branch Flux reads, and what it holds, opened with the lab cluster's sealing key
 * (kubeseal --recovery-unseal, as a user restoring from a backup would).
 */
export function unsealPushed(world: World, lab: Lab, rel: string): { text: string; namespace: string; name: string; data: Record<string, string> } {
  const text = sh(world.repo.root, 'git', '--git-dir', world.repo.origin, 'show', `refs/heads/main:${rel}`);
  const copy = join(world.base, `pushed-${rel.replaceAll('/', '_')}`);
  writeFileSync(copy, text);
  const keyFile = join(lab.stateDir, world.repo.config.cluster.name, 'sealed-secrets', 'tls.key');
  const argv = ['--recovery-unseal', '--recovery-private-key', keyFile, '-f', copy, '-o', 'json'];
  const secret = JSON.parse(execFileSync(join(lab.binDir, 'kubeseal'), argv, { env: { ...process.env, ...lab.env }, encoding: 'utf8' })) as { metadata: { namespace: string; name: string }; data: Record<string, string> };
  const data = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  return { text, namespace: secret.metadata.namespace, name: secret.metadata.name, data };
}

/** Lab commands that change the cluster or its machines: a run that changes nothing makes none of them. */
export const STATE_CHANGING = ['talosctl gen secrets', 'talosctl apply-config', 'talosctl bootstrap', 'terraform apply', 'helm upgrade', 'flux bootstrap', 'kubectl apply', 'kubectl label'];

/** Action commands the product ran over SSH on the loopback hosts (the runner logs them at info; reads go to debug). */
export const sshActions = (log: string[]) => log.filter((l) => /\bssh \S+@127\.0\.0\.1:\d+: /.test(l));

/** Requests (as test/servers/faults.ts's proxy records them) that change what a server holds. */
export const MUTATING_HTTP = /^(PUT|PATCH|POST|DELETE) /;

/** The Flux Kustomizations of the bootstrap tests: infrastructure, then apps, after flux-system. */
export const LAB_KUSTOMIZATIONS = [
  { name: 'infrastructure', dependsOn: ['flux-system'] },
  { name: 'apps', dependsOn: ['infrastructure'] },
];

export interface WorldLab {
  lab: Lab;
  /** The lab's environment plus GITHUB_API_URL of the world's fake GitHub. */
  env: Record<string, string>;
  /** The bootstrap of the world's repo copy on the lab (lab.env on process.env for the run). */
  run(o?: Parameters<typeof runCopy>[2]): Promise<RunOutput>;
}

/** A lab shaped like the world's config, reading the world's repo copy, with LAB_KUSTOMIZATIONS unless opts name others. */
export function labForWorld(world: World, opts: Partial<LabOptions> = {}): WorldLab {
  const lab = labFromConfig(world.repo.config, { repoDir: world.repo.root, kustomizations: LAB_KUSTOMIZATIONS, ...opts });
  const env = { ...lab.env, GITHUB_API_URL: world.github.url };
  return { lab, env, run: (o = {}) => lab.withEnv(() => runCopy(world.repo, env, o)) };
}

/** How many times a run made the ClusterMesh CA: the runner's log line of its openssl call (the sealing key's is rsa:4096). */
export const meshCaCalls = (run: RunOutput) => run.log.filter((l) => /ran openssl req -x509 -newkey rsa:2048 /.test(l)).length;

/** The values the lab's Cilium release was installed with (helm upgrade --install ... --values). */
export function ciliumValuesOf(lab: Lab): Record<string, any> {
  return (lab.raw().helm.releases as Record<string, { values: Record<string, any> }>)['kube-system/cilium']!.values;
}

/**
 * The ClusterMesh after a bootstrap: the mesh CA in <state base>/mesh/apps+infra, readable by this user only, a CA
 * certificate with its key; Cilium installed with it, this cluster's clustermesh-apiserver on its LoadBalancer
 * address and the peer's to connect to.
 */
export function assertMeshInstalled(lab: Lab, self: { name: string; id: number; apiServerIp: string }, peer: { name: string; apiServerIp: string }): { dir: string; cert: string; key: string } {
  const ca = meshCaFiles(lab.stateDir);
  assert.is(statSync(join(ca.dir, 'ca.key')).mode & 0o777, 0o600);
  const caCert = new X509Certificate(ca.cert);
  assert.ok(caCert.ca && caCert.subject.includes('CN=Cilium CA') && caCert.checkPrivateKey(createPrivateKey(ca.key)), 'a CA certificate and its key');
  const cilium = ciliumValuesOf(lab);
  assert.equal(cilium.cluster, { name: self.name, id: self.id });
  assert.equal(cilium.clustermesh, {
    useAPIServer: true,
    apiserver: { service: { type: 'LoadBalancer', loadBalancerIP: self.apiServerIp } },
    config: { enabled: true, clusters: [{ name: peer.name, ips: [peer.apiServerIp], port: 2379 }] },
  });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  assert.equal(cilium.tls, { ca: { cert: b64(ca.cert), key: b64(ca.key) } }, 'tls.ca is the mesh CA');
  return ca;
}

/** The mesh CA of infra and apps, as the first bootstrap left it in the state base. */
export function meshCaFiles(stateBase: string): { dir: string; cert: string; key: string } {
  const dir = join(stateBase, 'mesh', 'apps+infra');
  return { dir, cert: readFileSync(join(dir, 'ca.crt'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') };
}
