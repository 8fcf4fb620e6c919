import { defineScript, UsageError } from '../core/cli.ts';
import type { ApplyMode } from '../talos/machine-config.ts';
import { DESTROY_STEP_IDS, destroyCluster } from './destroy.ts';
import { safeReset } from './reset.ts';
import { parseWaitScale, WAIT_SCALE_OPTION } from '../core/steps.ts';
import { applyNodes, upgradeKubernetes, upgradeNodes } from './upgrade.ts';

// The day-2 entry scripts' specs (scripts/<name>.ts is one `await runScript(spec)`); tests run them in-process with
// executeScript(spec, argv).

const MODES: ApplyMode[] = ['auto', 'no-reboot', 'reboot', 'staged', 'try'];

export const safeResetScript = defineScript({
  name: 'safe-reset',
  task: 'cluster:safe-reset',
  summary: 'snapshot etcd, suspend Flux, then reset Talos nodes to maintenance mode (STATE + EPHEMERAL only; the OS stays)',
  options: {
    confirm: { type: 'string', value: 'NAME', help: 'the cluster name, for scripts and CI (interactive runs ask for it)' },
    nodes: { type: 'string', multiple: true, value: 'N[,N]', help: 'only these nodes (names or IPs, comma-separated or repeated); default all' },
    'full-wipe': { type: 'boolean', help: 'wipe the whole system disk, OS and META (static IP) included; the VM must boot the ISO to come back' },
    ungraceful: { type: 'boolean', help: 'no cordon/drain/etcd leave for a partial reset (nodes too broken to drain)' },
    'skip-snapshot': { type: 'boolean', help: 'reset without an etcd snapshot (only when etcd is beyond saving)' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'What it does, in order (nothing changes before the confirmation, nor when the snapshot fails):',
    '  probe every node and etcd; plan (nodes in maintenance mode are skipped; workers first, then control planes one',
    '  at a time, the first control plane last); refuse a partial set that would break etcd quorum; print the plan;',
    '  ask for the cluster name; take an etcd snapshot into <state dir>/<cluster>/etcd-snapshots/ (timestamped);',
    '  suspend Flux; mark the bootstrap phases talos…verify pending; reset each node and wait until it answers in',
    '  maintenance mode. Afterwards `task bootstrap` builds the cluster again with the same secrets.',
    'A partial reset is graceful (drain, leave etcd); a whole-cluster reset is not (nobody is left to hand over to).',
    'exit codes: 0 done, 1 a step failed (the message says which), 2 usage, 3 config, 4 refused, not confirmed or the',
    '  bootstrap state file is damaged (nothing changed).',
    'examples:',
    '  task cluster:safe-reset -- --dry-run                          # the plan and the exact commands',
    '  task cluster:safe-reset                                       # asks for the cluster name',
    '  task cluster:safe-reset -- --nodes infra-worker-2 --confirm infra',
  ].join('\n'),
  async run(ctx) {
    const waitScale = parseWaitScale(ctx.opts['wait-scale']);
    await safeReset(
      { ...ctx, waitScale },
      {
        ...(ctx.opts.nodes ? { nodes: ctx.opts.nodes } : {}),
        ...(ctx.opts.confirm !== undefined ? { confirm: ctx.opts.confirm } : {}),
        fullWipe: ctx.opts['full-wipe'],
        ungraceful: ctx.opts.ungraceful,
        skipSnapshot: ctx.opts['skip-snapshot'],
      },
    );
    return 0;
  },
});

export const destroyScript = defineScript({
  name: 'destroy',
  task: 'cluster:destroy',
  summary: 'tear the cluster down in reverse order of creation, after showing the plan and asking for the cluster name',
  options: {
    confirm: { type: 'string', value: 'NAME', help: 'the cluster name, for scripts and CI (interactive runs ask for it)' },
    'include-persistent': { type: 'boolean', help: 'also destroy terraform/00-persistent-auth (kept by default: it survives rebuilds)' },
    skip: { type: 'string', multiple: true, value: 'STEP', help: `leave a step out (repeatable): ${DESTROY_STEP_IDS.join(', ')}` },
    'skip-snapshot': { type: 'boolean', help: 'no final etcd snapshot (when etcd is beyond saving)' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'Order: the VPS\'s nginx stream file and secondary zone (vps section) → Flux deploy key (GitHub) → Proxmox CSI token',
    '→ Headscale node entries → terraform 01-infrastructure (the VMs)',
    '→ terraform 00-persistent-auth (only with --include-persistent). Before anything changes it prints every step,',
    'the exact remote commands, and Terraform\'s destroy plan (saved with -out; exactly that plan is applied), then asks',
    'for the cluster name. If etcd still answers, a final snapshot is taken first. Talos secrets, the sealed-secrets key,',
    'snapshots and the git repository are kept, so `task bootstrap` rebuilds the same cluster.',
    'exit codes: 0 done, 1 a step failed (re-run: every step is idempotent), 2 usage, 3 config, 4 refused or not confirmed.',
    'examples:',
    '  task cluster:destroy -- --dry-run',
    '  task cluster:destroy',
    '  task cluster:destroy -- --confirm infra --skip headscale-nodes',
  ].join('\n'),
  async run(ctx) {
    const waitScale = parseWaitScale(ctx.opts['wait-scale']);
    await destroyCluster(
      { ...ctx, waitScale },
      {
        includePersistent: ctx.opts['include-persistent'],
        skip: (ctx.opts.skip ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean),
        ...(ctx.opts.confirm !== undefined ? { confirm: ctx.opts.confirm } : {}),
        skipSnapshot: ctx.opts['skip-snapshot'],
      },
    );
    return 0;
  },
});

export const upgradeNodeScript = defineScript({
  name: 'talos-upgrade-node',
  task: 'talos:upgrade-node',
  summary: "upgrade Talos to the config's version and Image Factory schematic, control planes one at a time behind health gates",
  options: {
    nodes: { type: 'string', multiple: true, value: 'N[,N]', help: 'only these nodes (names or IPs); default every node' },
    force: { type: 'boolean', help: 'also reinstall nodes that run the target version already (e.g. after a schematic change)' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'The image is <imageFactory.url host>/metal-installer/<schematic_id>:<versions.talos>: the schematic from',
    '`terraform output` of terraform/01-infrastructure, the version from the config — never from a running node.',
    'Order: control planes first (config order), then workers, one node at a time. `talosctl health` must pass before',
    'the first node and after every node; a control plane is only taken down while etcd keeps quorum without it.',
    'A re-run skips nodes that already run the target version.',
    'exit codes: 0 done, 1 failed, 2 usage, 3 config, 4 refused.',
    'examples:',
    '  task talos:upgrade-node -- --dry-run',
    '  task talos:upgrade-node -- --nodes infra-worker-1',
  ].join('\n'),
  async run(ctx) {
    const waitScale = parseWaitScale(ctx.opts['wait-scale']);
    const res = await upgradeNodes({ ...ctx, waitScale }, { ...(ctx.opts.nodes ? { nodes: ctx.opts.nodes } : {}), force: ctx.opts.force });
    if (!ctx.runner.dryRun) ctx.log.info(`upgraded: ${res.upgraded.join(', ') || 'none'}; skipped: ${res.skipped.join(', ') || 'none'}`);
    return 0;
  },
});

export const upgradeK8sScript = defineScript({
  name: 'talos-upgrade-k8s',
  task: 'talos:upgrade-k8s',
  summary: "upgrade Kubernetes to the config's versions.kubernetes with talosctl upgrade-k8s, behind health gates",
  options: {
    preview: { type: 'boolean', help: 'run `talosctl upgrade-k8s --dry-run` and print what it would change; changes nothing' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'Skips when every kubelet reports the target version. Otherwise: `talosctl health` must pass, then',
    '`talosctl -e CP1 -n CP1 upgrade-k8s --to <versions.kubernetes>` (it rolls the control-plane components and the',
    'kubelets one node at a time and is safe to re-run), then every kubelet must report the version and health pass again.',
    'exit codes: 0 done, 1 failed, 2 usage, 3 config.',
    'examples:',
    '  task talos:upgrade-k8s -- --preview',
    '  task talos:upgrade-k8s',
  ].join('\n'),
  async run(ctx) {
    const waitScale = parseWaitScale(ctx.opts['wait-scale']);
    const res = await upgradeKubernetes({ ...ctx, waitScale }, { preview: ctx.opts.preview });
    if (!ctx.runner.dryRun) ctx.log.info(res.summary);
    return 0;
  },
});

export const applyNodeScript = defineScript({
  name: 'talos-apply-node',
  task: 'talos:apply-node',
  summary: "apply a node's machine config (the bootstrap's role config + the node's rendered patch), behind health gates",
  options: {
    nodes: { type: 'string', multiple: true, value: 'N[,N]', aliases: ['node'], help: 'the node(s) to apply to (names or IPs, comma-separated or repeated)' },
    mode: { type: 'string', value: 'MODE', choices: MODES, help: `talosctl apply-config mode: ${MODES.join('|')}`, default: 'auto' },
    preview: { type: 'boolean', help: 'talosctl apply-config --dry-run: print the diff and what the node would do; change nothing' },
    'wait-scale': WAIT_SCALE_OPTION,
  },
  details: [
    'Change the config, run `task configure` (renders talos/generated/<cluster>/nodes/<node>.yaml), then this.',
    'If the common or role patches changed after the machine configs were generated, it stops and tells you to',
    'regenerate them (`task bootstrap -- --only talos`). Nodes in maintenance mode get the insecure apply (install).',
    'exit codes: 0 done, 1 failed, 2 usage, 3 config, 4 refused (nothing applied).',
    'examples:',
    '  task talos:apply-node -- --nodes infra-worker-1 --preview',
    '  task talos:apply-node -- --nodes infra-worker-1,infra-worker-2',
  ].join('\n'),
  async run(ctx) {
    const mode = ctx.opts.mode as ApplyMode;
    if (!MODES.includes(mode)) throw new UsageError(`--mode ${ctx.opts.mode}: must be one of ${MODES.join(', ')}`);
    const waitScale = parseWaitScale(ctx.opts['wait-scale']);
    const res = await applyNodes({ ...ctx, waitScale }, { nodes: ctx.opts.nodes ?? [], mode, preview: ctx.opts.preview });
    if (!ctx.runner.dryRun && !ctx.opts.preview) ctx.log.info(`applied: ${res.applied.join(', ') || 'none'}`);
    return 0;
  },
});
