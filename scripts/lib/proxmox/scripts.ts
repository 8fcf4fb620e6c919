import type { ScriptContext, ScriptSpec } from '../core/cli.ts';
import { confirmByName } from '../core/confirm.ts';
import { deleteCsiToken, ensureCsiToken } from './csi-token.ts';
import { csiTokenId } from './pveum.ts';
import { cleanupOrphanedVolumes } from './volumes.ts';

// Specs of scripts/proxmox-csi-token.ts (task storage:csi-token) and scripts/proxmox-cleanup-volumes.ts
// (task storage:cleanup-volumes), here so tests can run them in-process.

// No --yes: every step these scripts confirm destroys something, so the confirmation is always the cluster's name.
const confirmOptions = {
  confirm: { type: 'string', value: 'NAME', help: 'the cluster name, for scripts and CI (interactive runs ask for it)' },
} as const;

/** The shared typed confirmation (exit 4 when refused). Not asked under --dry-run. */
async function confirmDestructive(ctx: ScriptContext<typeof confirmOptions>, action: string, scriptHint: string): Promise<void> {
  if (ctx.runner.dryRun) return;
  const cluster = ctx.config.cluster.name;
  await confirmByName({ cluster, action, provided: ctx.opts.confirm, scriptHint: `${scriptHint} --confirm ${cluster}`, log: ctx.log });
}

export const csiTokenScript: ScriptSpec<typeof confirmOptions> = {
  name: 'proxmox-csi-token',
  task: 'storage:csi-token',
  summary: 'the Proxmox CSI role, user, ACL and API token, sealed into the GitOps tree (create | rotate | delete)',
  positionals: 'create|rotate|delete',
  dryRunHelp: 'read Proxmox over SSH (read-only; needs SSH access) and print what would change; change nothing',
  options: confirmOptions,
  details: [
    'create (default): ensure role, user, ACL and token; seal the plugin config Secret with kubeseal --cert. Re-running',
    '  changes nothing. A token whose sealed Secret is missing cannot be read back: the script says so; use rotate.',
    'rotate: replace the token and its sealed Secret (asks for confirmation).',
    'delete: remove the token, the ACL entry and the user (asks for confirmation); the role stays.',
    '--dry-run reads Proxmox over SSH (read-only, so it needs SSH access to proxmox.host) and prints the exact',
    '  commands it would run; a read it cannot make is named.',
    'exit codes: 0 done, 1 a command failed, 2 usage, 3 config, 4 not confirmed (nothing changed).',
    'examples:',
    '  task storage:csi-token -- --dry-run',
    '  task storage:csi-token',
    '  task storage:csi-token -- rotate --confirm infra',
  ].join('\n'),
  async run(ctx) {
    const action = ctx.positionals[0] ?? 'create';
    if (!['create', 'rotate', 'delete'].includes(action) || ctx.positionals.length > 1) {
      ctx.log.error(`unknown subcommand "${ctx.positionals.join(' ')}": use create, rotate or delete`);
      return 2;
    }
    const csi = ctx.config.proxmoxCsi;
    if (!csi) {
      ctx.log.info('no proxmoxCsi section in the config: nothing to do');
      return 0;
    }
    const tokenId = csiTokenId(csi);
    if (action === 'delete') {
      await confirmDestructive(ctx, `delete the Proxmox token ${tokenId}, its ACL and the user on ${ctx.config.proxmox.host}`, 'task storage:csi-token -- delete');
      ctx.log.info((await deleteCsiToken(ctx, { inspect: true })).summary);
      return 0;
    }
    if (action === 'rotate') {
      await confirmDestructive(ctx, `replace the Proxmox token ${tokenId} (the CSI plugin needs the new sealed Secret)`, 'task storage:csi-token -- rotate');
    }
    const r = await ensureCsiToken(ctx, { rotate: action === 'rotate', inspect: true });
    ctx.log.info(r.summary);
    return 0;
  },
};

export const cleanupVolumesScript: ScriptSpec<typeof confirmOptions> = {
  name: 'proxmox-cleanup-volumes',
  task: 'storage:cleanup-volumes',
  summary: 'list Proxmox CSI volumes left by destroyed clusters and free them after confirmation',
  dryRunHelp: 'list the volumes over SSH (read-only; needs SSH access) and free nothing',
  options: confirmOptions,
  details: [
    'Lists vm-<id>-pvc-* volumes on proxmoxCsi.storage that no existing VM owns or has attached (and, while this',
    'cluster\'s VMs exist, that none of its PersistentVolumes uses), then frees them with pvesm free after',
    'confirmation. --dry-run only lists them (it reads Proxmox over SSH, so it needs SSH access).',
    'exit codes: 0 done (or nothing to free), 1 a command failed, 2 usage, 3 config, 4 not confirmed (nothing freed).',
    'examples:',
    '  task storage:cleanup-volumes -- --dry-run',
    '  task storage:cleanup-volumes -- --confirm infra',
  ].join('\n'),
  async run(ctx) {
    const r = await cleanupOrphanedVolumes(ctx, {
      inspect: true,
      confirm: async (orphans) => {
        await confirmDestructive(ctx, `free ${orphans.length} volume(s) on ${ctx.config.proxmox.host} (their data is lost)`, 'task storage:cleanup-volumes --');
        return true;
      },
    });
    ctx.log.info(r.summary);
    return 0;
  },
};
