import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { executeScript, type OptionSpec, type ScriptSpec } from '../../scripts/lib/core/cli.ts';
import type { OpsContext } from '../../scripts/lib/core/context.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { clusterPaths } from '../../scripts/lib/core/paths.ts';
import { redact } from '../../scripts/lib/core/redact.ts';
import { Runner } from '../../scripts/lib/core/runner.ts';
import { parseConfigText, type ClusterConfig } from '../../scripts/lib/config/load.ts';
import { withEnv } from '../lab/lab.ts';
import { startRemoteHost, type RemoteLab } from '../lab/remote/remote-lab.ts';
import type { SshdServer } from '../servers/sshd.ts';

// Shared setup of the integration tests: a real sshd whose sessions run the lab's remote fakes, a config pointing
// every SSH host at it, and an OpsContext whose output is captured.

export { withEnv };

export class CaptureLogger extends Logger {
  readonly printed: string[] = [];
  readonly lines: string[] = [];
  constructor(file?: string) {
    super({ level: 'debug', write: (l) => this.lines.push(l), ...(file ? { file } : {}) });
  }
  override print(text: string): void {
    this.printed.push(redact(text));
  }
  all(): string {
    return [...this.lines, ...this.printed].join('\n');
  }
}

export interface TestContext {
  ctx: OpsContext;
  log: CaptureLogger;
  /** Lines the runner printed under --dry-run (the plan). */
  plan: string[];
}

export function makeContext(config: ClusterConfig, opts: { dryRun?: boolean; secrets?: Record<string, string>; stateDir?: string } = {}): TestContext {
  const log = new CaptureLogger();
  const plan: string[] = [];
  const runner = new Runner({ log, dryRun: opts.dryRun ?? false, print: (l) => plan.push(l) });
  const paths = clusterPaths(config.cluster.name, { HOME_OPS_STATE_DIR: opts.stateDir ?? join(tmpdir(), 'home-ops-itest-state') });
  return { ctx: { config, runner, log, secrets: opts.secrets ?? {}, paths }, log, plan };
}

export interface ConfigParts {
  clusterName?: string;
  sshPort: number;
  identityFile: string;
  knownHostsFile: string;
  user: string;
  headscale?: Record<string, unknown>;
  powerdns?: Record<string, unknown>;
  proxmoxCsi?: Record<string, unknown>;
  ssh?: Record<string, unknown>;
}

/** A valid cluster config whose SSH hosts (Proxmox, Headscale, DNS parent) are all the test sshd. */
export function configObject(p: ConfigParts): Record<string, unknown> {
  const name = p.clusterName ?? 'itest';
  return {
    cluster: { name, id: 7 },
    versions: { talos: 'v1.11.6', kubernetes: '1.34.1', cilium: '1.18.3', flux: 'v2.7.3' },
    network: { nodeCidr: '10.0.10.0/24', gateway: '10.0.10.1', dnsServers: ['10.0.10.1'], vip: '10.0.10.10', loadBalancerCidr: '10.0.10.192/27', loadBalancerIps: { ingress: '10.0.10.201', dns: '10.0.10.200' } },
    nodes: [
      { name: `${name}-cp-1`, role: 'controlplane', ip: '10.0.10.11', vmId: 1011 },
      { name: `${name}-worker-1`, role: 'worker', ip: '10.0.10.21', vmId: 1021 },
    ],
    proxmox: { host: '127.0.0.1', sshPort: p.sshPort, sshUser: p.user, node: 'pve', storage: 'local-lvm', insecure: true },
    github: { owner: 'example-user', repository: 'home-ops', branch: 'main' },
    ssh: { identityFile: p.identityFile, knownHostsFile: p.knownHostsFile, connectTimeoutMs: 5000, ...(p.ssh ?? {}) },
    ...(p.headscale ? { headscale: { host: '127.0.0.1', sshPort: p.sshPort, sshUser: p.user, loginServer: 'https://hs.example.test', ...p.headscale } } : {}),
    ...(p.powerdns ? { powerdns: p.powerdns } : {}),
    ...(p.proxmoxCsi ? { proxmoxCsi: p.proxmoxCsi } : {}),
  };
}

export function config(p: ConfigParts): ClusterConfig {
  return parseConfigText(stringify(configObject(p)), 'itest.yaml');
}

export interface Harness {
  sshd: SshdServer;
  lab: RemoteLab;
  dir: string;
  stateDir: string;
  parts(extra?: Partial<ConfigParts>): ConfigParts;
  /** Writes the config to a file (for executeScript --config). */
  configFile(p: ConfigParts, name?: string): string;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const host = await startRemoteHost();
  const { sshd, remote: lab } = host;
  const dir = mkdtempSync(join(tmpdir(), 'itest-'));
  const stateDir = join(dir, 'state');
  return {
    sshd,
    lab,
    dir,
    stateDir,
    parts: (extra = {}) => ({ sshPort: sshd.port, identityFile: sshd.identityFile, knownHostsFile: sshd.knownHostsFile, user: sshd.user, ...extra }),
    configFile(p, name = 'cluster.yaml') {
      const file = join(dir, name);
      writeFileSync(file, stringify(configObject(p)));
      return file;
    },
    async stop() {
      await host.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs an entry script in-process (executeScript), capturing what it writes to stdout and stderr. */
export async function runScriptCaptured<O extends Record<string, OptionSpec>>(
  spec: ScriptSpec<O>,
  argv: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    const code = await withEnv(env, () => executeScript(spec, argv));
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
