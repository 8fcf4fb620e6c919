import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { readIfExists } from '../core/files.ts';
import type { OpResult, OpsContext } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';
import { registerSecret } from '../core/redact.ts';
import { sealedSecretPath, sealingCertPath, sealSecret } from '../sealed-secrets/seal.ts';
import type { SshTarget } from '../ssh/client.ts';
import { withRemote, type RemoteHost, type RemoteOptions } from '../ssh/remote.ts';
import {
  CSI_PRIVILEGES,
  CSI_SECRET,
  SETTINGS_LABEL,
  aclDeleteArgv,
  aclListArgv,
  aclModifyArgv,
  csiConfigYaml,
  csiSettings,
  csiTokenId,
  hasCsiAcl,
  inspectSealedSecret,
  parseAcl,
  parseRoles,
  parseTokenAdd,
  parseTokens,
  parseUsers,
  roleAddArgv,
  roleListArgv,
  roleModifyArgv,
  samePrivileges,
  settingsHash,
  tokenAddArgv,
  tokenListArgv,
  tokenRemoveArgv,
  userAddArgv,
  userDeleteArgv,
  userListArgv,
} from './pveum.ts';

// The Proxmox CSI plugin's API token, over SSH to config.proxmox.host, sealed into the GitOps tree.
//
//   ensureCsiToken(ctx, { rotate?, inspect? })   create (idempotent) or, with rotate, replace the token
//     ssh: pveum role list --output-format json        → pveum role add ROLE --privs P,… | pveum role modify ROLE --privs P,…
//          pveum user list --output-format json        → pveum user add USER --comment '…'
//          pveum acl list --output-format json         → pveum acl modify / --users USER --roles ROLE --propagate 1
//          pveum user token list USER --output-format json
//          [rotate: pveum user token remove USER TOKEN]
//          pveum user token add USER TOKEN --privsep 0 --comment '…' --output-format json   (stdout holds the value)
//     local: kubeseal --cert kubernetes/clusters/<c>/sealed-secrets-cert.pem --format yaml  (Secret on stdin)
//            → kubernetes/clusters/<c>/secrets/proxmox-csi-plugin.sealed.yaml
//     The token value goes from the pveum stdout to kubeseal's stdin: never to disk, argv or the log (it is
//     registered for redaction the moment it is parsed). A token whose value is lost (it exists, its sealed Secret
//     does not) cannot be read back: that is reported, and replaced only with rotate.
//   deleteCsiToken(ctx, { inspect? })            remove the token, the ACL entry and the user (the role stays)
//     ssh: pveum user token list … → pveum user token remove USER TOKEN; pveum acl list … → pveum acl delete / --users
//          USER --roles ROLE; pveum user list … → pveum user delete USER

export interface CsiTokenOptions extends RemoteOptions {
  /** Replace the token (and its sealed Secret) even when both exist. */
  rotate?: boolean;
  /** Where the SealedSecret goes / the sealing certificate (defaults: the cluster's GitOps tree). */
  sealedFile?: string;
  certFile?: string;
}

export function proxmoxTarget(ctx: Pick<OpsContext, 'config'>): SshTarget {
  const p = ctx.config.proxmox;
  return { host: p.host, port: p.sshPort, user: p.sshUser };
}

export class CsiTokenError extends Error {
  override name = 'CsiTokenError';
}

const show = (file: string) => relative(REPO_ROOT, file).startsWith('..') ? file : relative(REPO_ROOT, file);

/** The local tools sealing needs, checked before anything changes on Proxmox (a token made but not sealed is lost). */
async function checkSealingPrerequisites(ctx: OpsContext, certFile: string): Promise<void> {
  if (ctx.runner.dryRun) return;
  if (!existsSync(certFile)) {
    throw new CsiTokenError(
      `the sealing certificate ${show(certFile)} does not exist, so the token could not be sealed; ` +
        'run the bootstrap up to its "secrets" phase (it writes the certificate) before creating the CSI token',
    );
  }
  const probe = await ctx.runner.probe(['kubeseal', '--version'], { timeoutMs: 30_000 });
  if (!probe.ok) {
    const why = (probe.stderr || probe.stdout).trim().split('\n')[0] ?? '';
    throw new CsiTokenError(`kubeseal is not installed or does not run (kubeseal --version: exit ${probe.exitCode}${why ? `, ${why}` : ''}): run \`mise install\``);
  }
}

async function ensureAccess(ctx: OpsContext, host: RemoteHost, changes: string[]): Promise<{ userExisted: boolean }> {
  const csi = ctx.config.proxmoxCsi!;
  const roles = await host.read(roleListArgv());
  const role = roles ? parseRoles(roles.stdout).find((r) => r.roleid === csi.role) : undefined;
  if (!role) {
    await host.change(roleAddArgv(csi.role, CSI_PRIVILEGES));
    changes.push(`role ${csi.role} created`);
  } else if (!samePrivileges(role.privs, CSI_PRIVILEGES)) {
    await host.change(roleModifyArgv(csi.role, CSI_PRIVILEGES));
    changes.push(`role ${csi.role} privileges set to ${CSI_PRIVILEGES.join(',')} (were ${role.privs.join(',') || 'none'})`);
  }
  const users = await host.read(userListArgv());
  const userExisted = users ? parseUsers(users.stdout).includes(csi.user) : false;
  if (!userExisted) {
    await host.change(userAddArgv(csi.user, `Kubernetes CSI plugin (home-ops cluster ${ctx.config.cluster.name})`));
    changes.push(`user ${csi.user} created`);
  }
  const acl = await host.read(aclListArgv());
  const hasAcl = acl ? hasCsiAcl(parseAcl(acl.stdout), csi, true) : false;
  if (!hasAcl) {
    await host.change(aclModifyArgv('/', csi.user, csi.role));
    changes.push(`ACL / ${csi.user} → ${csi.role}`);
  }
  return { userExisted };
}

/** Creates the token and seals its config; if sealing fails the new token is removed again (its value would be lost). */
async function createAndSeal(ctx: OpsContext, host: RemoteHost, sealedFile: string, certFile: string): Promise<void> {
  const csi = ctx.config.proxmoxCsi!;
  const settings = csiSettings(ctx.config);
  const res = await host.change(tokenAddArgv(csi.user, csi.tokenName, `Proxmox CSI plugin, home-ops cluster ${ctx.config.cluster.name}`), { secretOutput: true });
  const secret = (value: string) => ({
    name: CSI_SECRET.name,
    namespace: CSI_SECRET.namespace,
    labels: { [SETTINGS_LABEL]: settingsHash(settings) },
    stringData: { [CSI_SECRET.key]: csiConfigYaml(settings, value) },
  });
  if (!res) {
    // --dry-run: show the sealing step with a placeholder (nothing is sealed).
    await sealSecret(ctx, secret('<token value from pveum>'), sealedFile, certFile);
    return;
  }
  const { value } = parseTokenAdd(res.stdout);
  registerSecret(value);
  try {
    await sealSecret(ctx, secret(value), sealedFile, certFile);
  } catch (err) {
    ctx.log.error(`sealing failed; removing the new token so that a re-run starts clean`);
    await host.change(tokenRemoveArgv(csi.user, csi.tokenName), { check: false });
    throw err;
  }
}

/** Prints the changes (when reads were live or it ran) and the result: "would: …" under --dry-run, else `none`. */
function report(ctx: OpsContext, host: RemoteHost, changes: string[], none: string): OpResult {
  const planned = ctx.runner.dryRun;
  if (host.live || !planned) ctx.log.print(changes.length ? changes.map((c) => `  ${planned ? 'would: ' : ''}${c}`).join('\n') : '  no changes');
  return { changed: changes.length > 0 && !planned, summary: changes.length ? `${planned ? 'would: ' : ''}${changes.join('; ')}` : none };
}

export async function ensureCsiToken(ctx: OpsContext, opts: CsiTokenOptions = {}): Promise<OpResult> {
  const csi = ctx.config.proxmoxCsi;
  if (!csi) return { changed: false, summary: 'no proxmoxCsi section: nothing to do' };
  const cluster = ctx.config.cluster.name;
  const sealedFile = opts.sealedFile ?? sealedSecretPath(cluster, CSI_SECRET.name);
  const certFile = opts.certFile ?? sealingCertPath(cluster);
  const tokenId = csiTokenId(csi);
  ctx.runner.heading(`Proxmox CSI token ${tokenId} on ${ctx.config.proxmox.host} → ${show(sealedFile)}:`);
  // Sealing must be possible before anything changes (a token made but not sealed is lost); a run that finds
  // everything in place needs neither the certificate nor kubeseal.
  const sealed = inspectSealedSecret(readIfExists(sealedFile), csiSettings(ctx.config));
  if (opts.rotate || sealed.state !== 'ok') await checkSealingPrerequisites(ctx, certFile);
  return withRemote(ctx, proxmoxTarget(ctx), opts, async (host) => {
    const changes: string[] = [];
    const { userExisted } = await ensureAccess(ctx, host, changes);
    const tokens = userExisted ? await host.read(tokenListArgv(csi.user)) : undefined;
    const token = tokens ? parseTokens(tokens.stdout).find((t) => t.tokenid === csi.tokenName) : undefined;
    if (!token && !opts.rotate && sealed.state === 'ok') await checkSealingPrerequisites(ctx, certFile);
    if (token && !opts.rotate) {
      const problem =
        sealed.state === 'missing'
          ? `its sealed Secret ${show(sealedFile)} does not exist`
          : sealed.state !== 'ok'
            ? `its sealed Secret ${show(sealedFile)} is ${sealed.why}`
            : token.privsep
              ? 'it was made with privilege separation (privsep=1), so the ACL on the user does not apply to it'
              : undefined;
      if (problem) {
        throw new CsiTokenError(
          `the Proxmox token ${tokenId} exists but ${problem}. A token's value cannot be read back from Proxmox; ` +
            `replace it with: task storage:csi-token -- rotate --confirm ${cluster}`,
        );
      }
    }
    if (token && opts.rotate) {
      await host.change(tokenRemoveArgv(csi.user, csi.tokenName));
      changes.push(`token ${tokenId} removed`);
    }
    if (!token || opts.rotate) {
      await createAndSeal(ctx, host, sealedFile, certFile);
      changes.push(`token ${tokenId} ${token ? 'replaced' : 'created'} and sealed into ${show(sealedFile)}`);
    }
    return report(ctx, host, changes, `no changes (token ${tokenId} and its sealed Secret exist)`);
  });
}

export async function deleteCsiToken(ctx: OpsContext, opts: RemoteOptions = {}): Promise<OpResult> {
  const csi = ctx.config.proxmoxCsi;
  if (!csi) return { changed: false, summary: 'no proxmoxCsi section: nothing to do' };
  const tokenId = csiTokenId(csi);
  ctx.runner.heading(`Remove Proxmox CSI token ${tokenId}, its ACL and user on ${ctx.config.proxmox.host}:`);
  return withRemote(ctx, proxmoxTarget(ctx), opts, async (host) => {
    const changes: string[] = [];
    const users = await host.read(userListArgv());
    const userExists = users ? parseUsers(users.stdout).includes(csi.user) : true;
    if (userExists) {
      const tokens = await host.read(tokenListArgv(csi.user));
      if (!tokens || parseTokens(tokens.stdout).some((t) => t.tokenid === csi.tokenName)) {
        await host.change(tokenRemoveArgv(csi.user, csi.tokenName));
        changes.push(`token ${tokenId} removed`);
      }
    }
    const acl = await host.read(aclListArgv());
    if (!acl || hasCsiAcl(parseAcl(acl.stdout), csi)) {
      await host.change(aclDeleteArgv('/', csi.user, csi.role));
      changes.push(`ACL / ${csi.user} → ${csi.role} removed`);
    }
    if (userExists) {
      await host.change(userDeleteArgv(csi.user));
      changes.push(`user ${csi.user} removed`);
    }
    const sealed = sealedSecretPath(ctx.config.cluster.name, CSI_SECRET.name);
    if (changes.length && existsSync(sealed)) changes.push(`note: ${show(sealed)} now holds a revoked token (create replaces it)`);
    return report(ctx, host, changes, 'no changes (no CSI token, ACL or user)');
  });
}
