import type { OpResult, OpsContext } from '../core/context.ts';
import { parseJsonList, parseJsonObject } from '../core/json.ts';
import { Runner, type RunResult } from '../core/runner.ts';
import { withRemote, type RemoteHost, type RemoteOptions } from '../ssh/remote.ts';
import { proxmoxTarget } from './csi-token.ts';

// Orphaned Proxmox CSI volumes (disks named vm-<id>-pvc-<uuid>, left behind by destroyed clusters) on the CSI
// storage, over SSH to config.proxmox.host:
//
//   findOrphanedVolumes(ctx, { inspect? })         list them, with the reason every other CSI volume is kept
//     ssh: pvesh get /nodes/NODE/storage/STORAGE/content --content images --output-format json
//          (`pvesm list` prints only a text table: pve-storage src/PVE/CLI/pvesm.pm declares no --output-format)
//          pvesh get /cluster/resources --type vm --output-format json
//          pvesh get /nodes/NODE/qemu/VMID/config --output-format json      (per existing VM: attached disks)
//     local: kubectl get pv -o json   (only while this cluster's VMs exist: its PersistentVolumes are kept)
//   cleanupOrphanedVolumes(ctx, { confirm, inspect? })   list, ask `confirm(list)`, list again, free those still
//                                                        orphaned:  ssh: pvesm free VOLID   (per volume)
//
// Never freed: volumes whose VM id is an existing VM, volumes attached to (referenced by the config of) any existing
// VM, protected volumes, and — while the cluster's VMs exist — volumes behind its PersistentVolumes; if those cannot
// be listed then, nothing is freed.

/** The images on a storage as pve-storage src/PVE/API2/Storage/Content.pm `index` returns them: [{volid, format, size, vmid?, protected?, …}]. */
export const storageListArgv = (node: string, storage: string): string[] => ['pvesh', 'get', `/nodes/${node}/storage/${storage}/content`, '--content', 'images', '--output-format', 'json'];
export const resourcesArgv = (): string[] => ['pvesh', 'get', '/cluster/resources', '--type', 'vm', '--output-format', 'json'];
export const vmConfigArgv = (node: string, type: string, vmid: number): string[] => ['pvesh', 'get', `/nodes/${node}/${type}/${vmid}/config`, '--output-format', 'json'];
export const freeArgv = (volid: string): string[] => ['pvesm', 'free', volid];
export const pvListArgv = (): string[] => ['kubectl', 'get', 'pv', '-o', 'json'];

export interface Volume {
  volid: string;
  vmid: number | undefined;
  size: number;
  protected: boolean;
}

export interface VmResource {
  vmid: number;
  node: string;
  type: string;
  name: string;
}

export function parseVolumes(stdout: string): Volume[] {
  return parseJsonList(stdout, 'pvesh get …/storage/…/content').map((v) => ({
    volid: String(v.volid),
    vmid: v.vmid === undefined || v.vmid === null || v.vmid === '' ? undefined : Number(v.vmid),
    size: Number(v.size ?? 0),
    protected: Number(v.protected ?? 0) === 1,
  }));
}

export function parseResources(stdout: string): VmResource[] {
  return parseJsonList(stdout, 'pvesh get /cluster/resources')
    .filter((r) => r.type === 'qemu' || r.type === 'lxc')
    .map((r) => ({ vmid: Number(r.vmid), node: String(r.node), type: String(r.type), name: String(r.name ?? '') }));
}

/** The volume ids a VM config references: "scsi1: local-lvm:vm-9999-pvc-x,size=1G" → "local-lvm:vm-9999-pvc-x". */
export function referencedVolumes(config: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (typeof value !== 'string') continue;
    if (!/^(scsi|virtio|sata|ide|efidisk|tpmstate|unused|mp|rootfs)\d*$/.test(key)) continue;
    const volid = value.split(',')[0]!;
    if (/^[A-Za-z0-9][\w.-]*:/.test(volid)) out.push(volid);
  }
  return out;
}

/** A CSI volume name: vm-<id>-pvc-<uuid>, as the plugin creates them (LVM name or <id>/<name>.raw on file storages). */
export function isCsiVolume(volid: string): boolean {
  const name = volid.slice(volid.indexOf(':') + 1).split('/').pop() ?? '';
  return /^vm-\d+-pvc-[A-Za-z0-9-]+(\.(raw|qcow2))?$/.test(name);
}

/** The disk name of a PV volume handle "region/zone/storage/disk" (disk may contain "/"). */
export function diskOfHandle(handle: string): string | undefined {
  const parts = handle.split('/');
  if (parts.length < 4) return undefined;
  return `${parts[2]}:${parts.slice(3).join('/')}`;
}

export function parsePvHandles(stdout: string): string[] {
  const data = parseJsonObject(stdout, 'kubectl get pv -o json') as { items?: { spec?: { csi?: { driver?: string; volumeHandle?: string } } }[] };
  return (data.items ?? [])
    .filter((pv) => pv.spec?.csi?.driver === 'csi.proxmox.sinextra.dev' && pv.spec.csi.volumeHandle)
    .map((pv) => diskOfHandle(pv.spec!.csi!.volumeHandle!))
    .filter((d): d is string => !!d);
}

export interface OrphanPlan {
  orphans: Volume[];
  kept: { volid: string; reason: string }[];
}

export function planOrphans(input: { volumes: Volume[]; vms: VmResource[]; attached: Set<string>; pvDisks: Set<string> }): OrphanPlan {
  const vmIds = new Set(input.vms.map((v) => v.vmid));
  const orphans: Volume[] = [];
  const kept: OrphanPlan['kept'] = [];
  for (const v of input.volumes) {
    if (!isCsiVolume(v.volid)) continue;
    if (v.vmid !== undefined && vmIds.has(v.vmid)) kept.push({ volid: v.volid, reason: `belongs to existing VM ${v.vmid}` });
    else if (input.attached.has(v.volid)) kept.push({ volid: v.volid, reason: 'attached to an existing VM' });
    else if (v.protected) kept.push({ volid: v.volid, reason: 'protected' });
    else if (input.pvDisks.has(v.volid)) kept.push({ volid: v.volid, reason: 'a PersistentVolume of this cluster' });
    else orphans.push(v);
  }
  return { orphans, kept };
}


function human(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(gib >= 10 ? 0 : 1)}G` : `${Math.round(bytes / 1024 ** 2)}M`;
}

/**
 * kubectl get pv. Like the SSH reads, it runs for real when reads are live (also under --dry-run with inspect, where
 * ctx.runner would skip it and the plan would refuse for want of the list); it only reads.
 */
function listPersistentVolumes(ctx: OpsContext, host: RemoteHost): Promise<RunResult> {
  const reader = ctx.runner.dryRun && host.live ? new Runner({ log: ctx.log, env: { KUBECONFIG: ctx.paths.kubeconfig } }) : ctx.runner;
  return reader.probe(pvListArgv(), { timeoutMs: 60_000 });
}

async function inspect(ctx: OpsContext, host: RemoteHost): Promise<OrphanPlan | undefined> {
  const storage = ctx.config.proxmoxCsi?.storage ?? ctx.config.proxmox.storage;
  const vols = await host.read(storageListArgv(ctx.config.proxmox.node, storage));
  const res = await host.read(resourcesArgv());
  if (!vols || !res) {
    host.note(`for each existing VM: pvesh get /nodes/NODE/qemu/VMID/config --output-format json (attached disks are kept)`);
    return undefined;
  }
  const volumes = parseVolumes(vols.stdout);
  const vms = parseResources(res.stdout);
  const attached = new Set<string>();
  for (const vm of vms) {
    const cfg = await host.read(vmConfigArgv(vm.node, vm.type, vm.vmid));
    if (cfg) for (const v of referencedVolumes(parseJsonObject(cfg.stdout, `pvesh get /nodes/${vm.node}/${vm.type}/${vm.vmid}/config`))) attached.add(v);
  }
  // While this cluster's VMs exist, its detached PersistentVolumes look orphaned too: keep them, or refuse.
  const ours = vms.filter((vm) => ctx.config.nodes.some((n) => n.vmId === vm.vmid));
  const pvDisks = new Set<string>();
  if (ours.length && volumes.some((v) => isCsiVolume(v.volid))) {
    const pv = await listPersistentVolumes(ctx, host);
    if (!pv.ok) {
      throw new Error(
        `the cluster's VMs still exist (${ours.map((v) => v.vmid).join(', ')}) and its PersistentVolumes could not be listed ` +
          `(kubectl get pv failed: ${(pv.stderr || pv.stdout).trim().split('\n')[0] ?? ''}); refusing to treat any CSI volume as orphaned. ` +
          'Run this once the cluster answers, or after destroying its VMs',
      );
    }
    for (const d of parsePvHandles(pv.stdout)) pvDisks.add(d);
  }
  return planOrphans({ volumes, vms, attached, pvDisks });
}

export async function findOrphanedVolumes(ctx: OpsContext, opts: RemoteOptions = {}): Promise<OrphanPlan | undefined> {
  return withRemote(ctx, proxmoxTarget(ctx), opts, (host) => inspect(ctx, host));
}

export interface CleanupOptions extends RemoteOptions {
  /** Asked with the list before anything is freed; false or a throw → nothing is freed. Not asked under --dry-run. */
  confirm: (orphans: Volume[]) => Promise<boolean>;
}

export function formatOrphans(plan: OrphanPlan): string {
  const lines = plan.orphans.map((v) => `  ${v.volid}  ${human(v.size)}${v.vmid !== undefined ? `  (vm id ${v.vmid}: no such VM)` : ''}`);
  const kept = plan.kept.map((k) => `  kept ${k.volid}: ${k.reason}`);
  return [plan.orphans.length ? `orphaned CSI volumes (${plan.orphans.length}):` : 'no orphaned CSI volumes', ...lines, ...kept].join('\n');
}

export async function cleanupOrphanedVolumes(ctx: OpsContext, opts: CleanupOptions): Promise<OpResult> {
  const storage = ctx.config.proxmoxCsi?.storage ?? ctx.config.proxmox.storage;
  ctx.runner.heading(`Orphaned CSI volumes on ${ctx.config.proxmox.host} storage ${storage}:`);
  return withRemote(ctx, proxmoxTarget(ctx), opts, async (host) => {
    const plan = await inspect(ctx, host);
    if (!plan) {
      host.note('after confirmation, for each orphaned CSI volume: pvesm free VOLID');
      return { changed: false, summary: 'would list orphaned CSI volumes and free them after confirmation' };
    }
    ctx.log.print(formatOrphans(plan));
    if (!plan.orphans.length) return { changed: false, summary: 'no changes (no orphaned CSI volumes)' };
    if (ctx.runner.dryRun) {
      for (const v of plan.orphans) await host.change(freeArgv(v.volid));
      return { changed: false, summary: `would free ${plan.orphans.length} orphaned CSI volume(s) after confirmation` };
    }
    if (!(await opts.confirm(plan.orphans))) return { changed: false, summary: 'not confirmed: nothing freed' };
    // Look again: a volume attached or claimed since the listing is no longer orphaned.
    // A real run with a session: inspect lists (it returns undefined only in plan mode).
    const again = (await inspect(ctx, host))!;
    const still = new Set(again.orphans.map((v) => v.volid));
    const freed: string[] = [];
    for (const v of plan.orphans) {
      if (!still.has(v.volid)) {
        ctx.log.warn(`${v.volid} is no longer orphaned; left alone`);
        continue;
      }
      await host.change(freeArgv(v.volid));
      freed.push(v.volid);
    }
    ctx.log.print(freed.length ? `freed ${freed.length} volume(s): ${freed.join(', ')}` : 'nothing freed');
    return { changed: freed.length > 0, summary: freed.length ? `freed ${freed.length} orphaned CSI volume(s)` : 'no changes' };
  });
}
