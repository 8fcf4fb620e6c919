import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { planFile, prepareLayer, terraformEnv } from '../terraform/layers.ts';
import { PHASES } from '../bootstrap/phases.ts';
import type { ClusterConfig } from '../config/load.ts';
import { TERRAFORM_LAYERS, generatedPaths, type TerraformLayer } from '../configure/render.ts';
import type { OpResult, OpsContext } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { CommandError, Runner } from '../core/runner.ts';
import * as tf from '../terraform/terraform.ts';
import { etcdView, nodeModes, snapshotSource } from './cluster.ts';
import { invalidateBootstrapState } from './reset.ts';
import { controlPlanes } from '../config/nodes.ts';
import { confirmByName } from '../core/confirm.ts';
import { removeFluxDeployKeys } from '../github/github.ts';
import { removeHeadscaleNodes } from '../headscale/routes.ts';
import { deleteCsiToken } from '../proxmox/csi-token.ts';
import { removeVpsExposure } from '../vps/expose.ts';
import { UsageError } from '../core/cli.ts';
import { takeSnapshot, type SnapshotEntry } from './snapshot.ts';
import { act, deadline, type Day2Context } from './steps.ts';

// cluster:destroy: everything the bootstrap created, in reverse order — the public entry on the VPS (its nginx stream
// file and secondary zone), the Flux deploy key (GitHub), the Proxmox CSI token, the Headscale node entries, then the
// Terraform layers (01-infrastructure: the VMs; 00-persistent-auth
// only with --include-persistent). Terraform destroys exactly the plan it showed (plan -destroy -out, then apply of
// that file). Nothing changes before the typed confirmation.

export type DestroyStepId = 'vps-expose' | 'flux-deploy-key' | 'csi-token' | 'headscale-nodes' | `terraform:${TerraformLayer}`;

export interface DestroyStep {
  id: DestroyStepId;
  title: string;
  enabled: boolean;
  /** Why a step is off (not configured, --skip, persistent layer kept). */
  why?: string;
}

export const DESTROY_STEP_IDS: DestroyStepId[] = ['vps-expose', 'flux-deploy-key', 'csi-token', 'headscale-nodes', ...[...TERRAFORM_LAYERS].reverse().map((l) => `terraform:${l}` as const)];

export interface DestroyOptions {
  includePersistent: boolean;
  skip: string[];
  confirm?: string;
  skipSnapshot: boolean;
  interactive?: boolean;
  ask?: (q: string) => Promise<string>;
}

/** Pure: the steps in teardown order, each on or off with the reason. */
export function planDestroy(c: ClusterConfig, o: Pick<DestroyOptions, 'includePersistent' | 'skip'>): DestroyStep[] {
  const unknown = o.skip.filter((s) => !(DESTROY_STEP_IDS as string[]).includes(s));
  if (unknown.length) throw new UsageError(`--skip ${unknown.join(',')}: unknown step; steps are ${DESTROY_STEP_IDS.join(', ')}`);
  const skipped = (id: DestroyStepId) => o.skip.includes(id);
  const step = (id: DestroyStepId, title: string, on: boolean, off: string): DestroyStep =>
    skipped(id) ? { id, title, enabled: false, why: '--skip' } : on ? { id, title, enabled: true } : { id, title, enabled: false, why: off };
  const vps = c.vps && c.powerdns ? `${c.vps.nginx.file} and secondary zone ${c.powerdns.zone} on the VPS ${c.vps.host}` : 'the VPS';
  return [
    step('vps-expose', `Public entry: nginx ${vps}`, !!(c.vps && c.powerdns), 'no vps section'),
    step('flux-deploy-key', `Flux deploy key on ${c.github.owner}/${c.github.repository}`, true, ''),
    step('csi-token', `Proxmox CSI token${c.proxmoxCsi ? ` ${c.proxmoxCsi.user}!${c.proxmoxCsi.tokenName}` : ''}`, !!c.proxmoxCsi, 'no proxmoxCsi section'),
    step('headscale-nodes', `Headscale node entries${c.headscale ? ` on ${c.headscale.host}` : ''}`, !!c.headscale, 'no headscale section'),
    ...[...TERRAFORM_LAYERS].reverse().map((layer) =>
      layer === '00-persistent-auth'
        ? step(`terraform:${layer}`, `terraform destroy ${layer} (credentials that survive rebuilds)`, o.includePersistent, 'kept: survives rebuilds (--include-persistent destroys it)')
        : step(`terraform:${layer}`, `terraform destroy ${layer} (the VMs)`, true, ''),
    ),
  ];
}

/** The teardown operations other modules own; each honours ctx.runner.dryRun through runner.planOnly(). */
type TeardownOp = (ctx: OpsContext) => Promise<OpResult>;

const TEARDOWN: Partial<Record<DestroyStepId, TeardownOp>> = {
  'vps-expose': (ctx) => removeVpsExposure(ctx),
  'flux-deploy-key': (ctx) => removeFluxDeployKeys(ctx),
  'csi-token': (ctx) => deleteCsiToken(ctx),
  'headscale-nodes': (ctx) => removeHeadscaleNodes(ctx),
};

/** `Plan: 0 to add, 0 to change, 5 to destroy.` and the `# … will be destroyed` lines. */
export function summarizeDestroyPlan(stdout: string): { count: number; resources: string[] } {
  const count = Number(/Plan: \d+ to add, \d+ to change, (\d+) to destroy/.exec(stdout)?.[1] ?? 0);
  const resources = stdout
    .split('\n')
    .map((l) => /^\s*# (\S+) will be destroyed/.exec(l)?.[1])
    .filter((r): r is string => !!r);
  return { count, resources };
}

export function keptAfterDestroy(ctx: Day2Context, steps: DestroyStep[]): string[] {
  const persistentKept = steps.some((s) => s.id === 'terraform:00-persistent-auth' && !s.enabled);
  return [
    `Talos secrets and talosconfig: ${ctx.paths.talosDir} (a rebuild reuses them)`,
    `sealed-secrets key: ${ctx.paths.sealedSecretsDir} (or the desktop keyring): sealed Secrets in git stay readable`,
    `etcd snapshots: ${ctx.paths.snapshots}`,
    'the git repository (Flux tree, sealed Secrets): nothing is deleted from git',
    ...(persistentKept ? ['Terraform layer 00-persistent-auth (--include-persistent to destroy it)'] : []),
    'CSI volumes with reclaimPolicy Retain on the Proxmox storage: `task storage:cleanup-volumes` lists and frees them',
  ];
}

interface LayerPlan {
  layer: TerraformLayer;
  planFile: string;
  changes: boolean;
}

async function planLayerDestroy(ctx: Day2Context, layer: TerraformLayer): Promise<LayerPlan> {
  const env = terraformEnv(ctx);
  const opts = { cwd: REPO_ROOT, env, timeoutMs: deadline(ctx, 'command') };
  const varFile = join(REPO_ROOT, generatedPaths(ctx.config.cluster.name).tfvars(layer));
  const file = planFile(ctx, layer, 'destroy');
  await prepareLayer(ctx, layer, opts);
  // A destroy plan saved to a file: what is shown is exactly what is applied after the confirmation.
  const res = await act(ctx, [...tf.planArgv(layer, varFile, file), '-destroy'], { ...opts, check: false });
  if (res.dryRun) return { layer, planFile: file, changes: true };
  const outcome = tf.planOutcome(res.exitCode);
  if (outcome === 'error') throw new CommandError(res, `terraform could not plan the destroy of ${layer}; nothing was changed`);
  const s = summarizeDestroyPlan(res.stdout);
  ctx.log.print(
    outcome === 'no-changes'
      ? `  terraform ${layer}: nothing to destroy`
      : [`  terraform ${layer}: ${s.count} resource(s) to destroy`, ...s.resources.map((r) => `    - ${r}`)].join('\n'),
  );
  return { layer, planFile: file, changes: outcome === 'changes' };
}

export async function destroyCluster(ctx: Day2Context, o: DestroyOptions): Promise<{ done: string[] }> {
  const c = ctx.config;
  const steps = planDestroy(c, o);
  const enabled = steps.filter((s) => s.enabled);

  ctx.log.print(
    [
      '',
      `destroy of cluster ${c.cluster.name}, in this order:`,
      ...steps.map((s, i) => `  ${i + 1}. ${s.enabled ? '' : '(skip) '}${s.title}${s.why ? ` — ${s.why}` : ''}`),
      'kept:',
      ...keptAfterDestroy(ctx, steps).map((k) => `  - ${k}`),
      '',
      'exact commands:',
    ].join('\n'),
  );
  // The remote commands, printed by the operations themselves in plan mode.
  const planCtx: OpsContext = ctx.runner.dryRun ? ctx : { ...ctx, runner: new Runner({ log: ctx.log, dryRun: true }) };
  for (const s of enabled) {
    const op = TEARDOWN[s.id];
    if (op) await op(planCtx);
  }
  ctx.runner.heading('');
  const layers: LayerPlan[] = [];
  for (const s of enabled.filter((x) => x.id.startsWith('terraform:'))) {
    layers.push(await planLayerDestroy(ctx, s.id.slice('terraform:'.length) as TerraformLayer));
  }
  if (ctx.runner.dryRun) {
    for (const l of layers) await act(ctx, tf.applyPlanArgv(l.layer, l.planFile));
    return { done: [] };
  }

  await confirmByName({
    cluster: c.cluster.name,
    action: `DESTROY cluster ${c.cluster.name}: ${enabled.map((s) => s.id).join(', ')}`,
    provided: o.confirm,
    scriptHint: `task cluster:destroy -- --confirm ${c.cluster.name}`,
    log: ctx.log,
    ...(o.interactive !== undefined ? { interactive: o.interactive } : {}),
    ...(o.ask ? { ask: o.ask } : {}),
  });

  // The last way back: the cluster state, if etcd still answers.
  let snapshot: SnapshotEntry | undefined;
  if (o.skipSnapshot) ctx.log.warn('--skip-snapshot: destroying without a final etcd snapshot');
  else {
    const cps = controlPlanes(c);
    const modes = await nodeModes(ctx, cps, true);
    const view = await etcdView(ctx, cps, modes, true);
    const source = snapshotSource(cps, modes, view);
    if (source) snapshot = await takeSnapshot(ctx, source, 'before destroy');
    else ctx.log.info('no control plane answers: no etcd to snapshot');
  }

  const done: string[] = [];
  for (const s of enabled) {
    const op = TEARDOWN[s.id];
    if (op) {
      const res = await op(ctx);
      ctx.log.info(`${s.id}: ${res.summary}`);
      done.push(s.id);
      continue;
    }
    const l = layers.find((x) => `terraform:${x.layer}` === s.id)!;
    if (l.changes) {
      await act(ctx, tf.applyPlanArgv(l.layer, l.planFile), {
        cwd: REPO_ROOT,
        env: terraformEnv(ctx),
        timeoutMs: deadline(ctx, 'terraform'),
        hint: `terraform destroy of ${l.layer} stopped: read the error, then run \`task cluster:destroy\` again (a new plan is made; what is gone stays gone)`,
      });
    }
    rmSync(l.planFile, { force: true });
    done.push(s.id);
  }
  // The bootstrap starts from scratch next time (its state file must not claim the VMs exist).
  invalidateBootstrapState(ctx, `destroyed at ${new Date().toISOString()}`, PHASES[0]);
  ctx.log.print(
    [
      '',
      `destroyed: ${done.join(', ')}`,
      ...(snapshot ? [`final etcd snapshot: ${snapshot.file}`] : []),
      'kept:',
      ...keptAfterDestroy(ctx, steps).map((k) => `  - ${k}`),
      'rebuild: task bootstrap',
      '',
    ].join('\n'),
  );
  return { done };
}
