import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { stringify } from 'yaml';
import { ciliumValuesFile, ensureGatewayApiCrds } from '../bootstrap/cni.ts';
import { ensureMeshCa, meshCaValues } from '../cilium/mesh-ca.ts';
import { readIfExists, writeAtomic } from '../core/files.ts';
import { controlPlanes } from '../config/nodes.ts';
import type { NodeConfig } from '../config/schema.ts';
import type { OpResult } from '../core/context.ts';
import { registerSecret } from '../core/redact.ts';
import { CommandError, formatArgv } from '../core/runner.ts';
import * as helm from '../helm/helm.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import * as kubeconfig from '../kubernetes/kubeconfig.ts';
import { waitNodesReady } from '../kubernetes/nodes.ts';
import * as nodeHealth from '../talos/health.ts';
import * as talosEtcd from '../talos/etcd.ts';
import * as machineConfig from '../talos/machine-config.ts';
import * as talosReset from '../talos/reset.ts';
import { callBootstrap } from '../talos/etcd.ts';
import { etcdView, memberNames, nodeModes, snapshotSource } from '../day2/cluster.ts';
import { confirmByName } from '../core/confirm.ts';
import { RefusalError, UsageError } from '../core/cli.ts';
import { checkQuorum, quorumSize, selectNodes } from '../day2/selection.ts';
import { listSnapshots, snapshotFileProblem, takeSnapshot, type SnapshotEntry } from '../day2/snapshot.ts';
import { act, deadline, fileStamp, lastLine, planNote, poll, probe, waitUntil, type Day2Context } from '../day2/steps.ts';
import type { SnapshotSource } from '../backups/remote.ts';
import { fetchRemoteSnapshot } from './remote-snapshot.ts';

// The recovery sub-actions: each does one repair, with the same probes-first, bounded-wait habits as the rest.

function oneNode(ctx: Day2Context, name: string | undefined, what: string): NodeConfig | undefined {
  if (!name) return undefined;
  const [n] = selectNodes(ctx.config, [name]);
  if (!n) throw new RefusalError(`${what}: no node ${name}`);
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// kubeconfig: a working kubeconfig when the VIP is down (server = one control plane), and back to the VIP later.

export interface KubeconfigOptions {
  node?: string;
  /** Switch the existing kubeconfig back to the VIP (after checking it answers). */
  vip: boolean;
}

export async function kubeconfigAction(ctx: Day2Context, o: KubeconfigOptions): Promise<OpResult> {
  const c = ctx.config;
  const file = ctx.paths.kubeconfig;
  if (o.vip) {
    const vipUrl = kubectl.apiServerUrl(c.network.vip);
    const res = await probe(ctx, kubectl.readyzArgv(vipUrl), { timeoutMs: 20_000 });
    if (!res.dryRun && !res.ok) throw new Error(`the VIP ${c.network.vip} does not answer yet (${lastLine(res)}); keep the node kubeconfig for now`);
    const current = readIfExists(file);
    if (!current && !ctx.runner.dryRun) throw new Error(`no kubeconfig at ${file}: run this sub-action without --vip first`);
    if (planNote(ctx, `switch ${file} to ${vipUrl}`)) return { changed: false, summary: `switching ${file} to the VIP planned; nothing was changed (--dry-run)` };
    writeAtomic(file, kubeconfig.withKubeconfigServer(current!, vipUrl), 0o600);
    return { changed: true, summary: `kubeconfig ${file} points at the VIP ${vipUrl} again` };
  }
  const wanted = oneNode(ctx, o.node, 'kubeconfig --node');
  if (wanted && wanted.role !== 'controlplane') throw new RefusalError(`${wanted.name} is a worker: the API runs on control planes only`);
  const candidates = wanted ? [wanted] : controlPlanes(ctx.config);
  // The first control plane whose API answers; its apid hands out the admin kubeconfig.
  let chosen: NodeConfig | undefined;
  for (const n of candidates) {
    const res = await probe(ctx, kubectl.readyzArgv(kubectl.apiServerUrl(n.ip)), { timeoutMs: 20_000 });
    if (res.dryRun || res.ok) {
      chosen = n;
      break;
    }
    ctx.log.info(`API on ${n.name} (${n.ip}) does not answer: ${lastLine(res)}`);
  }
  if (!chosen) throw new Error(`no control plane serves the API (${candidates.map((n) => n.name).join(', ')}): run \`task cluster:emergency-recovery\` for the diagnosis`);
  const res = await act(ctx, machineConfig.kubeconfigArgv(chosen.ip), { hint: `talosctl could not fetch the kubeconfig from ${chosen.name}; is apid up? \`talosctl -e ${chosen.ip} -n ${chosen.ip} version\`` });
  const server = kubectl.apiServerUrl(chosen.ip);
  if (res.dryRun) {
    planNote(ctx, `back up ${file} to ${file}.<timestamp>.bak, write the fetched kubeconfig with server ${server} (0600)`);
    return { changed: false, summary: `kubeconfig via ${server} planned; nothing was changed (--dry-run)` };
  }
  registerSecret(/client-key-data:\s*(\S+)/.exec(res.stdout)?.[1]);
  if (existsSync(file)) copyFileSync(file, `${file}.${fileStamp()}.bak`);
  writeAtomic(file, kubeconfig.withKubeconfigServer(res.stdout, server), 0o600);
  const check = await probe(ctx, kubectl.readyzArgv(), { timeoutMs: 20_000 });
  if (!check.ok) throw new CommandError(check, `the new kubeconfig does not reach ${server}; the previous one is kept next to it as .bak`);
  return { changed: true, summary: `kubeconfig ${file} now talks to ${chosen.name} (${server}); when the VIP is back: task cluster:emergency-recovery -- kubeconfig --vip` };
}

// ---------------------------------------------------------------------------------------------------------------
// cilium: re-apply the bootstrap's Gateway API CRDs (when missing) and Cilium release (same chart version, same values),
// then wait for every node Ready.

export async function ciliumAction(ctx: Day2Context): Promise<OpResult> {
  const c = ctx.config;
  const ca = await ensureMeshCa(ctx);
  const values = { ...helm.ciliumValues(c), ...(ca ? meshCaValues(ca) : {}) };
  const file = ciliumValuesFile(ctx);
  // Before Cilium, as the bootstrap does: its operator enables the Gateway controller only if they exist at start.
  const crds = await ensureGatewayApiCrds(ctx, deadline(ctx, 'helm'));
  if (!planNote(ctx, `write ${file} (the Cilium values the bootstrap uses, a pure function of the config)`)) writeAtomic(file, stringify(values), 0o600);
  // Always `upgrade --install`: a release that exists but whose objects were deleted is re-applied too.
  await act(ctx, helm.upgradeInstallArgv(helm.ciliumRelease(c, file)), {
    timeoutMs: deadline(ctx, 'helm'),
    hint: 'helm needs the API: if the VIP is down run `task cluster:emergency-recovery -- kubeconfig` first',
  });
  const names = c.nodes.map((n) => n.name);
  await waitNodesReady(ctx, {
    what: `every node to be Ready (${names.length})`,
    timeoutMs: deadline(ctx, 'nodesReady'),
    names,
    planProbe: false,
    diagnose: async () => (await poll(ctx, ['kubectl', '-n', helm.CILIUM_NAMESPACE, 'get', 'pods', '-l', 'k8s-app=cilium', '-o', 'wide'])).stdout,
    hint: '`kubectl -n kube-system logs ds/cilium` shows why the agents do not start',
  });
  if (ctx.runner.dryRun) return { changed: false, summary: `${crds.length ? 'Gateway API CRDs and ' : ''}cilium ${c.versions.cilium} re-apply planned; nothing was changed (--dry-run)` };
  return { changed: true, summary: `${crds.length ? 'Gateway API CRDs and ' : ''}cilium ${c.versions.cilium} re-applied; every node Ready` };
}

// ---------------------------------------------------------------------------------------------------------------
// etcd:snapshot

export async function snapshotAction(ctx: Day2Context, node: string | undefined): Promise<SnapshotEntry> {
  const cps = controlPlanes(ctx.config);
  const wanted = oneNode(ctx, node, 'etcd:snapshot --node');
  if (wanted && wanted.role !== 'controlplane') throw new RefusalError(`${wanted.name} is a worker: etcd runs on control planes only`);
  const modes = await nodeModes(ctx, cps);
  const view = await etcdView(ctx, cps, modes);
  const source = wanted ?? snapshotSource(cps, modes, view);
  if (!source) throw new Error('no configured control plane answers: there is no etcd to snapshot');
  return takeSnapshot(ctx, source, 'manual');
}

// ---------------------------------------------------------------------------------------------------------------
// etcd:restore — the Talos disaster-recovery procedure: wipe EPHEMERAL (etcd data) on every control plane, wait until
// each etcd waits for bootstrap (Preparing), then bootstrap the first control plane from the snapshot.

export interface RestoreOptions {
  snapshot?: string;
  /** Where the snapshot comes from: the state directory (default) or the backup target (fetched there first). */
  from?: SnapshotSource;
  /** The file is a raw copy of member/snap/db (no integrity hash): --recover-skip-hash-check. */
  raw: boolean;
  confirm?: string;
  interactive?: boolean;
  ask?: (q: string) => Promise<string>;
}

export const RESTORE_SAFETY_REASON = 'before etcd-restore';

export function chooseSnapshot(ctx: Day2Context, wanted: string | undefined, raw = false): SnapshotEntry {
  if (wanted) {
    // Checked before anything is wiped, --dry-run too (it only reads the file): a restore from junk would leave etcd empty.
    const problem = snapshotFileProblem(wanted, raw);
    if (problem) throw new RefusalError(`snapshot ${wanted}: ${problem}. Pass a file \`task cluster:emergency-recovery -- etcd:snapshot\` wrote (${ctx.paths.snapshots}/)`);
    const metaFile = `${wanted}.json`;
    let meta: SnapshotEntry['meta'];
    try {
      meta = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as SnapshotEntry['meta']) : undefined;
    } catch {
      ctx.log.warn(`${metaFile} (where and when the snapshot was taken) is not JSON: ignored`);
    }
    return { file: wanted, bytes: statSync(wanted).size, ...(meta ? { meta } : {}) };
  }
  // The newest one, except the safety copies a restore takes of the state it replaces: re-running a failed restore
  // must not pick the broken state it was trying to leave.
  const newest = listSnapshots(ctx.paths.snapshots).find((s) => s.meta?.reason !== RESTORE_SAFETY_REASON);
  if (!newest) throw new RefusalError(`no snapshot in ${ctx.paths.snapshots}: pass --snapshot FILE`);
  const problem = snapshotFileProblem(newest.file, raw);
  if (problem) throw new RefusalError(`the newest snapshot ${newest.file}: ${problem}. Pass another one with --snapshot FILE`);
  return newest;
}

async function waitEtcdState(ctx: Day2Context, nodes: NodeConfig[], want: (state: string | undefined) => boolean, what: string): Promise<void> {
  await waitUntil(ctx, {
    what,
    timeoutMs: deadline(ctx, 'etcd'),
    maxIntervalMs: 5000,
    check: async () => {
      const states = await Promise.all(nodes.map(async (n) => [n.name, (await poll(ctx, nodeHealth.serviceArgv(n.ip, 'etcd'))).stdout] as const));
      const parsed = states.map(([name, out]) => [name, nodeHealth.parseServiceInfo(out).state] as const);
      return { done: parsed.every(([, s]) => want(s)), detail: parsed.map(([name, s]) => `${name} ${s ?? 'no answer'}`).join(', ') };
    },
    hint: '`talosctl -e IP -n IP service etcd` and `talosctl -e IP -n IP logs etcd` on the node that lags',
  });
}

async function waitMembers(ctx: Day2Context, via: NodeConfig, want: string[]): Promise<void> {
  await waitUntil(ctx, {
    what: `etcd to list ${want.join(', ')} as members`,
    timeoutMs: deadline(ctx, 'etcd'),
    maxIntervalMs: 5000,
    check: async () => {
      const res = await poll(ctx, talosEtcd.etcdMembersArgv(via.ip));
      const names = res.ok ? talosEtcd.parseEtcdMemberTable(res.stdout).map((m) => m.hostname) : [];
      return { done: want.every((w) => names.includes(w)), detail: res.ok ? `members: ${names.join(', ') || 'none'}` : lastLine(res) };
    },
  });
}

export async function restoreAction(ctx: Day2Context, o: RestoreOptions): Promise<OpResult> {
  const c = ctx.config;
  const cps = controlPlanes(ctx.config);
  const first = cps[0]!;
  if (o.from?.kind === 's3' && o.snapshot) throw new UsageError('--snapshot FILE and --from s3 name two snapshots: pass one of them');
  // A fetched snapshot is a local one from here on: the same checks, confirmation and safety snapshot.
  const fetched = o.from?.kind === 's3' ? await fetchRemoteSnapshot(ctx, o.from, o.raw) : undefined;
  const snap = fetched && ctx.runner.dryRun ? fetched : chooseSnapshot(ctx, fetched?.file ?? o.snapshot, o.raw);
  if (snap.meta && snap.meta.cluster !== c.cluster.name) {
    throw new RefusalError(`snapshot ${snap.file} belongs to cluster "${snap.meta.cluster}", not "${c.cluster.name}": refusing to restore it here`);
  }
  const modes = await nodeModes(ctx, cps);
  const notConfigured = cps.filter((n) => modes.get(n.name) !== 'configured');
  if (notConfigured.length) {
    throw new RefusalError(
      `${notConfigured.map((n) => `${n.name} (${modes.get(n.name)})`).join(', ')} not configured: a restore needs every control plane running its machine config. ` +
        'After a reset run `task bootstrap` first, then restore.',
    );
  }
  const view = await etcdView(ctx, cps, modes);
  // A snapshot needs a leader: without quorum `etcd snapshot` fails ("no leader"), and that is the usual reason to restore.
  const quorate = !view.probed || view.healthy.length >= quorumSize(memberNames(view, cps).length);
  const safetySource = !view.probed ? first : quorate ? cps.find((n) => view.healthy.includes(n.name)) : undefined;
  ctx.log.print(
    [
      '',
      `etcd:restore of cluster ${c.cluster.name} from ${snap.file} (${fetched && ctx.runner.dryRun ? 'its size is known once fetched' : `${snap.bytes} bytes`}${snap.meta ? `, taken ${snap.meta.takenAt} from ${snap.meta.node}` : ''}${
        snap.meta?.fetched ? `; fetched from s3:${snap.meta.fetched.key}, SHA-256 ${snap.meta.fetched.sha256}` : ''
      })`,
      `  1. snapshot of the current etcd first: ${
        !view.probed
          ? 'from the first healthy member (etcd health is unknown in a dry-run)'
          : safetySource
            ? `from ${safetySource.name}`
            : `not possible (${view.healthy.length ? 'etcd has no quorum, so no leader to stream one' : 'no healthy member'}); a raw copy: talosctl -e ${first.ip} -n ${first.ip} cp /var/lib/etcd/member/snap/db .`
      }`,
      `  2. wipe EPHEMERAL (etcd data; machine config stays) on ${cps.map((n) => n.name).join(', ')}, all at once:`,
      `     ${formatArgv(talosReset.resetManyArgv(first.ip, cps.map((n) => n.ip), { wipe: 'ephemeral', graceful: false }))}`,
      '  3. wait until etcd on every control plane waits for bootstrap (Preparing)',
      `  4. ${formatArgv(talosEtcd.bootstrapRecoverArgv(first.ip, snap.file, o.raw))}`,
      '  5. wait for every control plane to rejoin etcd and for the API',
      '  Workers are not touched. Everything written to the cluster after the snapshot is lost.',
      '',
    ].join('\n'),
  );
  if (!ctx.runner.dryRun) {
    await confirmByName({
      cluster: c.cluster.name,
      action: `restore etcd of cluster ${c.cluster.name} from ${snap.file} (wipes etcd on ${cps.length} control plane(s))`,
      provided: o.confirm,
      scriptHint: `task cluster:emergency-recovery -- etcd:restore --snapshot ${snap.file} --confirm ${c.cluster.name}`,
      log: ctx.log,
      ...(o.interactive !== undefined ? { interactive: o.interactive } : {}),
      ...(o.ask ? { ask: o.ask } : {}),
    });
  }
  let before: SnapshotEntry | undefined;
  if (safetySource) before = await takeSnapshot(ctx, safetySource, RESTORE_SAFETY_REASON);
  else ctx.log.warn('etcd has no quorum: no snapshot of the current state is possible (it is what we are replacing)');

  // All control planes in one call: wiped one after the other, each would rejoin the members not wiped yet.
  await act(ctx, talosReset.resetManyArgv(first.ip, cps.map((n) => n.ip), { wipe: 'ephemeral', graceful: false }), {
    hint: `the EPHEMERAL wipe was refused; \`talosctl -e ${first.ip} -n ${first.ip} version\` checks that apid on ${first.name} answers (it fans the reset out)`,
  });
  await waitEtcdState(ctx, cps, (s) => s === 'Preparing', 'etcd on every control plane to wait for bootstrap (Preparing)');

  const res = await callBootstrap(ctx, talosEtcd.bootstrapRecoverArgv(first.ip, snap.file, o.raw), { retryForMs: deadline(ctx, 'etcd'), timeoutMs: deadline(ctx, 'command') });
  if (!res.ok && !res.dryRun) {
    throw new CommandError(res, `recovery bootstrap on ${first.name} failed; etcd on the control planes is empty now. Fix the cause and run etcd:restore again (the snapshot ${snap.file} is unchanged${before ? `; the pre-restore snapshot is ${before.file}` : ''})`);
  }
  await waitMembers(ctx, first, cps.map((n) => n.name));
  await waitEtcdState(ctx, cps, (s) => s === 'Running', 'etcd Running on every control plane');
  await waitUntil(ctx, {
    what: 'the Kubernetes API',
    timeoutMs: deadline(ctx, 'api'),
    check: async () => {
      const r = await poll(ctx, kubectl.readyzArgv(), { timeoutMs: 15_000 });
      return { done: r.ok, detail: r.ok ? 'ready' : lastLine(r) };
    },
    hint: 'if the VIP does not come back: task cluster:emergency-recovery -- kubeconfig',
  });
  if (ctx.runner.dryRun) return { changed: false, summary: `etcd:restore from ${snap.file} planned; nothing was changed (--dry-run)` };
  return {
    changed: true,
    summary: `etcd restored from ${snap.file}${before ? `; the state before the restore is in ${before.file}` : ''}. Next: task cluster:emergency-recovery (diagnose)`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// etcd:rejoin --node X — one control plane lost its etcd member: drop the stale entry, wipe only its EPHEMERAL
// (etcd data), and let it join again as a new member. Quorum must hold without it.

export interface RejoinOptions {
  node: string | undefined;
  confirm?: string;
  interactive?: boolean;
  ask?: (q: string) => Promise<string>;
}

export async function rejoinAction(ctx: Day2Context, o: RejoinOptions): Promise<OpResult> {
  const c = ctx.config;
  const cps = controlPlanes(ctx.config);
  if (!o.node) throw new UsageError('etcd:rejoin needs --node NAME (the control plane whose etcd member was lost)');
  const n = oneNode(ctx, o.node, 'etcd:rejoin --node')!;
  if (n.role !== 'controlplane') throw new RefusalError(`${n.name} is a worker: it has no etcd member`);
  const modes = await nodeModes(ctx, cps);
  if (modes.get(n.name) !== 'configured') throw new RefusalError(`${n.name} is ${modes.get(n.name)}: rejoin needs it running its machine config (in maintenance mode: task bootstrap)`);
  const view = await etcdView(ctx, cps, modes);
  const q = checkQuorum({ members: memberNames(view, cps), healthy: view.healthy, targets: [n.name], wholeCluster: false, unprobed: !view.probed });
  if (!q.ok) throw new RefusalError(`refusing: ${q.detail}`);
  const others = cps.filter((x) => x.name !== n.name && view.healthy.includes(x.name));
  const via = others[0];
  if (!via && !ctx.runner.dryRun) throw new RefusalError('no other healthy etcd member to rejoin: use etcd:restore');
  const stale = view.members?.find((m) => m.hostname === n.name);
  ctx.log.print(
    [
      '',
      `etcd:rejoin of ${n.name} (${n.ip}): ${q.detail}`,
      `  1. etcd snapshot from ${via?.name ?? '<a healthy member>'}`,
      `  2. ${stale ? `remove the stale member ${stale.id}` : view.probed ? 'no stale member entry to remove' : `remove ${n.name}'s stale member entry if etcd lists one (the member list is unknown in a dry-run)`}`,
      `  3. wipe EPHEMERAL on ${n.name} (etcd data; its machine config stays) and reboot`,
      `  4. wait until ${n.name} is a member again with etcd Running`,
      '',
    ].join('\n'),
  );
  if (!ctx.runner.dryRun) {
    await confirmByName({
      cluster: c.cluster.name,
      action: `wipe etcd data on ${n.name} of cluster ${c.cluster.name} and rejoin it`,
      provided: o.confirm,
      scriptHint: `task cluster:emergency-recovery -- etcd:rejoin --node ${n.name} --confirm ${c.cluster.name}`,
      log: ctx.log,
      ...(o.interactive !== undefined ? { interactive: o.interactive } : {}),
      ...(o.ask ? { ask: o.ask } : {}),
    });
  }
  const source = via ?? cps.find((x) => x.name !== n.name)!;
  const snap = await takeSnapshot(ctx, source, `before etcd-rejoin ${n.name}`);
  if (stale) await act(ctx, talosEtcd.etcdRemoveMemberArgv(source.ip, stale.id));
  await act(ctx, talosReset.resetArgv({ ip: n.ip, wipe: 'ephemeral', graceful: false }));
  await waitMembers(ctx, source, cps.filter((x) => view.healthy.includes(x.name) || x.name === n.name).map((x) => x.name));
  await waitEtcdState(ctx, [n], (s) => s === 'Running', `etcd Running on ${n.name}`);
  if (ctx.runner.dryRun) return { changed: false, summary: `etcd:rejoin of ${n.name} planned; nothing was changed (--dry-run)` };
  return { changed: true, summary: `${n.name} rejoined etcd (snapshot before: ${snap.file})` };
}
