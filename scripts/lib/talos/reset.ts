import { at } from './talosctl.ts';

// `talosctl reset`: what a reset wipes, for one node or several at once. Pure argv builders.

/**
 * What a reset wipes. 'state-ephemeral': machine config and data, the OS and META (static IP, key 10) stay, the node
 * boots into maintenance mode. 'ephemeral': only /var (etcd data, containers); the machine config stays, the node
 * rejoins as it was. 'all': the whole system disk, META included — the VM keeps no bootable OS unless it boots from
 * the Image Factory ISO.
 */
export type WipeScope = 'state-ephemeral' | 'ephemeral' | 'all';

export interface ResetInput {
  ip: string;
  wipe: WipeScope;
  /** Cordon/drain and leave etcd first. Impossible for the last etcd member and pointless when the whole cluster goes. */
  graceful: boolean;
}

export function resetArgv(r: ResetInput): string[] {
  const wipe =
    r.wipe === 'all'
      ? ['--wipe-mode', 'all']
      : r.wipe === 'ephemeral'
        ? ['--system-labels-to-wipe', 'EPHEMERAL']
        : ['--system-labels-to-wipe', 'STATE', '--system-labels-to-wipe', 'EPHEMERAL'];
  // --reboot: without it the node shuts down and never reaches maintenance mode. --wait=false: we poll ourselves
  // (bounded, with progress), because the node drops the connection mid-reset.
  return [...at(r.ip), 'reset', ...wipe, `--graceful=${r.graceful}`, '--reboot', '--wait=false'];
}

/**
 * One reset call for several nodes, fanned out by apid on `endpoint`: they all start wiping at the same moment. The etcd
 * restore needs that — wiped one by one, a control plane would rejoin the members not wiped yet.
 */
export function resetManyArgv(endpoint: string, ips: string[], r: Omit<ResetInput, 'ip'>): string[] {
  const one = resetArgv({ ...r, ip: endpoint });
  return ['talosctl', '--endpoints', endpoint, '--nodes', ips.join(','), ...one.slice(5)];
}
