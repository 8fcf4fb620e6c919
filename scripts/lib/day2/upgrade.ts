import { existsSync, readFileSync, statSync } from 'node:fs';
import { readIfExists } from '../core/files.ts';
import { join } from 'node:path';
import { readInfrastructureOutputs } from '../terraform/layers.ts';
import { generatedPaths } from '../configure/render.ts';
import type { NodeConfig } from '../config/schema.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { CommandError, formatArgv } from '../core/runner.ts';
import * as kubeNodes from '../kubernetes/nodes.ts';
import * as machineConfig from '../talos/machine-config.ts';
import * as talosModes from '../talos/modes.ts';
import * as talosUpgrade from '../talos/upgrade.ts';
import * as talosctl from '../talos/talosctl.ts';
import * as tf from '../terraform/terraform.ts';
import { assertQuorumWithout, nodeModes, type NodeMode } from './cluster.ts';
import { controlPlanes } from '../config/nodes.ts';
import { talosHealth } from '../talos/health.ts';
import { RefusalError, UsageError } from '../core/cli.ts';
import { selectNodes, upgradeOrder } from './selection.ts';
import { act, deadline, lastLine, poll, probe, waitUntil, type Day2Context } from './steps.ts';

// talos:upgrade-node, talos:upgrade-k8s and talos:apply-node. Shared rules: the target (image, versions) comes from
// the config and Terraform's outputs, never from a running node; `talosctl health` gates before the first node and
// after every node; control planes go one at a time and only while etcd keeps quorum without them.

/** Runs a long command while logging a heartbeat, so a 20-minute step is never silent. */
async function withHeartbeat<T>(ctx: Day2Context, what: string, work: Promise<T>, everyMs = 30_000): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => ctx.log.info(`still running: ${what} (${Math.round((Date.now() - started) / 1000)}s)`), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * `talosctl health` from a control plane other than `except` (which may be rebooting), over every node of the config.
 * Throws a CommandError naming the failing check.
 */
export async function healthGate(ctx: Day2Context, label: string, except?: NodeConfig): Promise<void> {
  const cps = controlPlanes(ctx.config);
  const via = cps.find((n) => n.name !== except?.name) ?? cps[0]!;
  const timeout = deadline(ctx, 'health');
  ctx.log.info(`health gate (${label}) via ${via.name}`);
  const res = await withHeartbeat(
    ctx,
    `talosctl health (${label})`,
    talosHealth(ctx, via, timeout),
  );
  if (res.dryRun) return;
  if (!res.ok) {
    throw new CommandError(res, `the cluster is not healthy (${label}): nothing more is changed. Fix what the failing check names (task cluster:emergency-recovery helps), then run the same command again — nodes already done are skipped`);
  }
}

/** The node answers with our certificates and reports the given boot (a reboot changes the boot id). */
async function readBootId(ctx: Day2Context, n: NodeConfig): Promise<string | undefined> {
  const r = await poll(ctx, talosctl.bootIdArgv(n.ip), { timeoutMs: 20_000 });
  return r.ok ? r.stdout.trim() || undefined : undefined;
}

async function readVersion(ctx: Day2Context, n: NodeConfig, quiet = true): Promise<string | undefined> {
  const r = quiet ? await poll(ctx, talosctl.versionArgv(n.ip), { timeoutMs: 20_000 }) : await probe(ctx, talosctl.versionArgv(n.ip), { timeoutMs: 20_000 });
  return r.ok ? talosctl.parseServerVersion(r.stdout) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// talos:upgrade-node

/** factory/<platform>-installer/<schematic_id>:<versions.talos>, the schematic from Terraform's output. */
export async function targetInstallerImage(ctx: Day2Context): Promise<string> {
  const c = ctx.config;
  const out = await readInfrastructureOutputs(ctx);
  if (out.dryRun) return `${new URL(c.imageFactory.url).host}/metal-installer/<schematic_id from terraform output>:${c.versions.talos}`;
  if (!out.ok) throw new CommandError(out, 'terraform output of terraform/01-infrastructure failed: the schematic id comes from there (run `task bootstrap --only infra` if the layer was never applied)');
  const o = tf.infrastructureOutputs(tf.parseOutputs(out.stdout));
  const image = talosUpgrade.installerImage(c.imageFactory.url, o.schematicId, c.versions.talos);
  if (talosUpgrade.imageTag(o.installerImage) !== c.versions.talos) {
    ctx.log.info(`terraform's installer_image is ${o.installerImage}; upgrading to the config's ${c.versions.talos} with the same schematic`);
  }
  return image;
}

export interface UpgradeNodesOptions {
  nodes?: string[];
  /** Upgrade nodes that already run the target version (e.g. after a schematic change). */
  force: boolean;
}

export async function upgradeNodes(ctx: Day2Context, o: UpgradeNodesOptions): Promise<{ upgraded: string[]; skipped: string[] }> {
  const c = ctx.config;
  const targets = upgradeOrder(c, selectNodes(c, o.nodes));
  const image = await targetInstallerImage(ctx);
  const target = c.versions.talos;
  const modes = await nodeModes(ctx, c.nodes);
  const bad = targets.filter((n) => modes.get(n.name) !== 'configured');
  if (bad.length) {
    throw new RefusalError(`${bad.map((n) => `${n.name} is ${modes.get(n.name)}`).join(', ')}: an upgrade needs configured, answering nodes (maintenance mode: task bootstrap)`);
  }
  const plan: { node: NodeConfig; from: string | undefined; action: 'upgrade' | 'skip' }[] = [];
  for (const n of targets) {
    const from = await readVersion(ctx, n, false);
    plan.push({ node: n, from, action: from === target && !o.force ? 'skip' : 'upgrade' });
  }
  ctx.log.print(
    [
      '',
      `talos:upgrade-node to ${target} with ${image}`,
      ...plan.map((p, i) => `  ${String(i + 1).padStart(2)}. ${p.node.name.padEnd(18)} ${p.node.role.padEnd(12)} ${p.from ?? '?'} → ${p.action === 'skip' ? 'skip (already there; --force to reinstall)' : target}`),
      '  health gate before the first node and after every node; control planes one at a time, only while etcd keeps quorum',
      '',
    ].join('\n'),
  );
  const todo = plan.filter((p) => p.action === 'upgrade');
  if (todo.length === 0) return { upgraded: [], skipped: plan.map((p) => p.node.name) };

  await healthGate(ctx, 'before the upgrade');
  const upgraded: string[] = [];
  for (const { node: n } of todo) {
    if (n.role === 'controlplane' && !ctx.runner.dryRun) {
      await assertQuorumWithout(ctx, n, controlPlanes(c).length === 1, (detail) => `stopping before ${n.name}: ${detail}; upgraded so far: ${upgraded.join(', ') || 'none'}`);
    }
    const bootBefore = ctx.runner.dryRun ? undefined : await readBootId(ctx, n);
    const versionBefore = ctx.runner.dryRun ? undefined : await readVersion(ctx, n);
    await act(ctx, talosUpgrade.upgradeArgv(n.ip, image), { hint: `\`talosctl -e ${n.ip} -n ${n.ip} dmesg\` shows why the upgrade of ${n.name} was refused` });
    await waitUntil(ctx, {
      what: `${n.name} to reboot into ${target}`,
      timeoutMs: deadline(ctx, 'reboot'),
      maxIntervalMs: 5000,
      check: async () => {
        const v = await readVersion(ctx, n);
        if (!v) return { done: false, detail: 'rebooting (not answering)' };
        const boot = await readBootId(ctx, n);
        // Rebooted = a new boot id; without one (read refused), a changed version is the proof.
        const rebooted = bootBefore !== undefined && boot !== undefined ? boot !== bootBefore : v !== versionBefore;
        return { done: v === target && rebooted, detail: `running ${v}${rebooted ? '' : ' (not rebooted yet)'}` };
      },
      diagnose: async () => (await poll(ctx, talosModes.machineStatusArgv(n.ip))).stdout || 'no answer',
      hint: `watch ${n.name} (talosctl -e ${n.ip} -n ${n.ip} dmesg -f); a failed upgrade rolls back to the previous version by itself`,
    });
    upgraded.push(n.name);
    await healthGate(ctx, `after ${n.name}`, n);
  }
  return { upgraded, skipped: plan.filter((p) => p.action === 'skip').map((p) => p.node.name) };
}

// ---------------------------------------------------------------------------------------------------------------
// talos:upgrade-k8s

export async function upgradeKubernetes(ctx: Day2Context, o: { preview: boolean }): Promise<{ changed: boolean; summary: string }> {
  const c = ctx.config;
  const first = controlPlanes(ctx.config)[0]!;
  const want = `v${c.versions.kubernetes}`;
  const nodes = await probe(ctx, kubeNodes.nodesArgv());
  const versions = nodes.ok ? kubeNodes.kubeletVersions(nodes.stdout) : {};
  const behind = c.nodes.filter((n) => versions[n.name] !== want);
  if (!nodes.dryRun) {
    if (!nodes.ok) throw new CommandError(nodes, 'the API does not answer: run `task cluster:emergency-recovery` first');
    ctx.log.print(`kubelet versions: ${Object.entries(versions).map(([n, v]) => `${n} ${v}`).join(', ')}; target ${want}`);
    if (behind.length === 0 && !o.preview) return { changed: false, summary: `every node runs Kubernetes ${want} already` };
  }
  if (o.preview) {
    const res = await probe(ctx, talosUpgrade.upgradeK8sArgv(first.ip, c.versions.kubernetes, true), { timeoutMs: deadline(ctx, 'upgradeK8s') });
    if (!res.dryRun) {
      ctx.log.print(res.stdout + res.stderr);
      if (!res.ok) throw new CommandError(res, 'talosctl upgrade-k8s --dry-run names what blocks the upgrade (removed APIs, version skew)');
    }
    return { changed: false, summary: 'preview only (talosctl upgrade-k8s --dry-run)' };
  }
  await healthGate(ctx, 'before upgrade-k8s');
  const res = await withHeartbeat(
    ctx,
    `talosctl upgrade-k8s --to ${c.versions.kubernetes}`,
    act(ctx, talosUpgrade.upgradeK8sArgv(first.ip, c.versions.kubernetes), {
      timeoutMs: deadline(ctx, 'upgradeK8s'),
      hint: 'talosctl upgrade-k8s is safe to re-run: it continues where it stopped. `--preview` shows what it would do',
    }),
  );
  if (!res.dryRun) ctx.log.print((res.stdout + res.stderr).trim());
  await waitUntil(ctx, {
    what: `every kubelet to report ${want}`,
    timeoutMs: deadline(ctx, 'reboot'),
    check: async () => {
      const r = await poll(ctx, kubeNodes.nodesArgv());
      if (!r.ok) return { done: false, detail: lastLine(r) };
      const v = kubeNodes.kubeletVersions(r.stdout);
      const left = c.nodes.filter((n) => v[n.name] !== want).map((n) => `${n.name} ${v[n.name] ?? 'absent'}`);
      return { done: left.length === 0, detail: left.length ? `behind: ${left.join(', ')}` : 'all current' };
    },
  });
  await healthGate(ctx, 'after upgrade-k8s');
  return { changed: true, summary: `Kubernetes upgraded to ${want}` };
}

// ---------------------------------------------------------------------------------------------------------------
// talos:apply-node

export interface ApplyNodesOptions {
  nodes: string[];
  mode: machineConfig.ApplyMode;
  preview: boolean;
}

/**
 * The machine config the bootstrap generated must still match the config: same versions (upgrade-k8s moves the nodes'
 * Kubernetes without touching the local files), VIP and patches (recorded at generation; mtimes without a record).
 */
export function staleMachineConfig(ctx: Day2Context, role: 'controlplane' | 'worker'): string | undefined {
  const files = machineConfig.talosFiles(ctx.paths);
  const roleFile = role === 'controlplane' ? files.controlPlane : files.worker;
  if (!existsSync(roleFile)) return `${roleFile} does not exist: run \`task bootstrap\` (its talos phase generates the machine configs)`;
  const gen = generatedPaths(ctx.config.cluster.name);
  const c = ctx.config;
  const recordText = readIfExists(files.inputsRecord);
  const record = recordText ? (JSON.parse(recordText) as machineConfig.GenConfigRecord) : undefined;
  const patchFiles = [gen.talosCommon, role === 'controlplane' ? gen.talosControlPlane : gen.talosWorker];
  const drift = machineConfig.genConfigDrift(
    { clusterName: c.cluster.name, vip: c.network.vip, talosVersion: c.versions.talos, kubernetesVersion: c.versions.kubernetes, patches: Object.fromEntries(patchFiles.map((f) => [f, readIfExists(join(REPO_ROOT, f))])) },
    { text: readFileSync(roleFile, 'utf8'), ...(record ? { record } : {}) },
  );
  if (drift.length) {
    return `${roleFile} is stale (${drift.join('; ')}): applying it would revert the node. Run \`task bootstrap -- --only talos\` to regenerate the machine configs, then apply again`;
  }
  if (record) return undefined;
  const inputs = patchFiles.map((f) => join(REPO_ROOT, f));
  const newer = inputs.filter((f) => existsSync(f) && statSync(f).mtimeMs > statSync(roleFile).mtimeMs);
  if (newer.length) {
    return `${newer.map((f) => f.slice(REPO_ROOT.length + 1)).join(', ')} changed after ${roleFile} was generated: run \`task bootstrap -- --only talos\` to regenerate the machine configs, then apply again`;
  }
  return undefined;
}

export async function applyNodes(ctx: Day2Context, o: ApplyNodesOptions): Promise<{ applied: string[] }> {
  const c = ctx.config;
  if (o.nodes.length === 0) throw new UsageError('talos:apply-node needs --nodes N[,N] (the nodes to apply to)');
  const targets = upgradeOrder(c, selectNodes(c, o.nodes));
  const files = machineConfig.talosFiles(ctx.paths);
  const gen = generatedPaths(c.cluster.name);
  for (const role of new Set(targets.map((n) => n.role))) {
    const stale = ctx.runner.dryRun ? undefined : staleMachineConfig(ctx, role);
    if (stale) throw new RefusalError(stale);
  }
  const modes: Map<string, NodeMode> = await nodeModes(ctx, targets);
  const down = targets.filter((n) => modes.get(n.name) === 'down');
  if (down.length) throw new RefusalError(`${down.map((n) => n.name).join(', ')} do not answer the Talos API`);
  const argvOf = (n: NodeConfig, preview: boolean) => {
    const file = n.role === 'controlplane' ? files.controlPlane : files.worker;
    return modes.get(n.name) === 'maintenance'
      ? machineConfig.applyConfigInsecureArgv(n.ip, file, gen.talosNode(n.name))
      : machineConfig.applyConfigArgv({ ip: n.ip, file, patch: gen.talosNode(n.name), mode: o.mode, preview });
  };
  if (o.preview) {
    for (const n of targets) {
      if (modes.get(n.name) === 'maintenance') {
        ctx.log.print(`${n.name}: in maintenance mode; applying installs Talos with the full config (${formatArgv(argvOf(n, false))})`);
        continue;
      }
      const res = await probe(ctx, argvOf(n, true), { cwd: REPO_ROOT });
      if (!res.dryRun) ctx.log.print(`--- ${n.name}\n${(res.stdout + res.stderr).trim()}`);
      if (!res.dryRun && !res.ok) throw new CommandError(res, `talosctl rejected the config for ${n.name}`);
    }
    return { applied: [] };
  }
  const anyConfigured = targets.some((n) => modes.get(n.name) === 'configured');
  if (anyConfigured) await healthGate(ctx, 'before apply-config');
  const applied: string[] = [];
  for (const n of targets) {
    if (n.role === 'controlplane' && modes.get(n.name) === 'configured' && !ctx.runner.dryRun && o.mode !== 'no-reboot' && o.mode !== 'staged') {
      await assertQuorumWithout(ctx, n, controlPlanes(c).length === 1, (detail) => `stopping before ${n.name} (it may reboot): ${detail}`);
    }
    await act(ctx, argvOf(n, false), { cwd: REPO_ROOT, hint: `\`${formatArgv(argvOf(n, true))}\` shows what ${n.name} objects to` });
    await waitUntil(ctx, {
      what: `${n.name} to answer with its machine config`,
      timeoutMs: deadline(ctx, 'reboot'),
      maxIntervalMs: 5000,
      check: async () => {
        const r = await poll(ctx, talosModes.machineStatusArgv(n.ip), { timeoutMs: 20_000 });
        const stage = r.ok ? talosModes.machineStage(r.stdout) : undefined;
        return { done: r.ok && (stage === undefined || stage === 'running'), detail: r.ok ? `stage ${stage}` : lastLine(r) };
      },
    });
    applied.push(n.name);
    if (modes.get(n.name) === 'configured') await healthGate(ctx, `after ${n.name}`, n);
  }
  return { applied };
}
