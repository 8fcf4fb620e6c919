import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd, type SshdServer } from '../../servers/sshd.ts';
import type { CommandFault } from '../lab.ts';
import { emptyProxmox as emptyProxmoxState } from './lib.mjs';

// Test-side handle on the remote fakes' state (LAB_REMOTE_DIR): seed headscale/Proxmox worlds, inject faults and
// latency, read the call log. The sshd of the test gets `SetEnv LAB_REMOTE_DIR=<dir>` and the bin dir on its PATH.

export const REMOTE_BIN = join(dirname(fileURLToPath(import.meta.url)), 'bin');

export interface HeadscaleRoute {
  id: number;
  prefix: string;
  advertised: boolean;
  enabled: boolean;
}
export interface HeadscaleNodeState {
  id: number;
  name: string;
  given_name?: string;
  user: number;
  tags?: string[];
  ip?: string;
  online?: boolean;
  routes: HeadscaleRoute[];
}
export interface HeadscaleState {
  version: string;
  seq: { node: number; route: number };
  users: { id: number; name: string }[];
  nodes: HeadscaleNodeState[];
}

export interface ProxmoxVolume {
  name: string;
  vmid?: number;
  size?: number;
  format?: string;
  content?: string;
  protected?: boolean;
}
export interface ProxmoxState {
  roles: Record<string, { privs: string[] }>;
  users: Record<string, { enable?: number; expire?: number; comment?: string; tokens?: Record<string, { privsep: number; expire?: number; comment?: string }> }>;
  acl: { path: string; type: string; ugid: string; roleid: string; propagate: number }[];
  /** Storages; `type`/`content` as in /etc/pve/storage.cfg (defaults: local = dir backup,iso,vztmpl; others lvmthin images,rootdir). */
  storages: Record<string, { volumes: ProxmoxVolume[]; type?: string; content?: string }>;
  /** pve-manager version `pveversion` reports (default 8.4.1). */
  version?: string;
  vms: Record<string, { name: string; node?: string; type?: string; status?: string; config?: Record<string, string> }>;
  /** Written by the fake: every token value issued (the server side knows it; tests compare with the sealed copy). */
  issuedTokens?: { id: string; value: string }[];
  freed?: string[];
}

export interface RemoteFault extends CommandFault {
  /** Sleep this long first (bounded hang: the call ends afterwards). */
  hangMs?: number;
}

export interface RemoteCall {
  tool: string;
  argv: string[];
  line: string;
  exitCode: number;
  error?: string;
}

/** A Proxmox host with only root@pam and the two default storages (the fakes' own default, remote/lib.mjs). */
export const emptyProxmox = emptyProxmoxState as () => ProxmoxState;

const READS = [
  /^headscale version/,
  /^headscale (nodes|routes) (list|ls|show|list-routes)\b/,
  /^headscale routes --help/,
  /^pveum (role|user|acl) list\b/,
  /^pveum user token list\b/,
  /^pvesm list\b/,
  /^pveversion\b/,
  /^pvesh get\b/,
];

export class RemoteLab {
  readonly dir = mkdtempSync(join(tmpdir(), 'remote-lab-'));
  readonly env = { LAB_REMOTE_DIR: this.dir };

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  setHeadscale(state: HeadscaleState): void {
    writeFileSync(this.file('headscale'), JSON.stringify(state, null, 1));
  }
  headscale(): HeadscaleState {
    return JSON.parse(readFileSync(this.file('headscale'), 'utf8')) as HeadscaleState;
  }
  setProxmox(state: ProxmoxState): void {
    writeFileSync(this.file('proxmox'), JSON.stringify(state, null, 1));
  }
  proxmox(): ProxmoxState {
    return existsSync(this.file('proxmox')) ? (JSON.parse(readFileSync(this.file('proxmox'), 'utf8')) as ProxmoxState) : emptyProxmox();
  }
  injectFault(f: RemoteFault): void {
    const faults = existsSync(this.file('faults')) ? (JSON.parse(readFileSync(this.file('faults'), 'utf8')) as RemoteFault[]) : [];
    writeFileSync(this.file('faults'), JSON.stringify([...faults, f]));
  }
  clearFaults(): void {
    writeFileSync(this.file('faults'), '[]');
  }
  setLatency(latencyMs: Record<string, number>, defaultLatencyMs = 0): void {
    writeFileSync(this.file('config'), JSON.stringify({ latencyMs, defaultLatencyMs }));
  }
  calls(filter: { tool?: string; cmd?: string } = {}): RemoteCall[] {
    const file = join(this.dir, 'calls.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as RemoteCall)
      .filter((c) => (!filter.tool || c.tool === filter.tool) && (!filter.cmd || c.line.startsWith(filter.cmd)));
  }
  /** Calls that changed state (anything but listings/reads), for "the second run changes nothing" assertions. */
  mutatingCalls(): RemoteCall[] {
    return this.calls().filter((c) => !READS.some((r) => r.test(c.line)));
  }
  resetCalls(): void {
    writeFileSync(join(this.dir, 'calls.jsonl'), '');
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The stand-in for a remote host (Proxmox, Headscale): a loopback sshd whose sessions run the remote fakes on `remote`. */
export interface RemoteHost {
  sshd: SshdServer;
  remote: RemoteLab;
  /** Stops the sshd and removes the remote fakes' state. */
  stop(): Promise<void>;
}

export async function startRemoteHost(): Promise<RemoteHost> {
  const remote = new RemoteLab();
  let sshd: SshdServer;
  try {
    sshd = await startSshd({ pathPrefix: [REMOTE_BIN], env: remote.env });
  } catch (err) {
    remote.cleanup();
    throw err;
  }
  return {
    sshd,
    remote,
    stop: async () => {
      await sshd.stop();
      remote.cleanup();
    },
  };
}
