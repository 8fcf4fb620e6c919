import type { OpsContext } from '../core/context.ts';
import { parseJsonObject } from '../core/json.ts';
import { withRemote } from '../ssh/remote.ts';
import { proxmoxTarget } from './csi-token.ts';

// What the VM layer needs of the Proxmox host, checked over SSH before anything is created. Terraform's
// proxmox_virtual_environment_download_file with content_type = "import" (the Talos disk image, bpg/proxmox) needs
// Proxmox VE ≥ 8.4 (the `import` content type arrived with pve-storage 8.4) and an image storage whose content list
// allows `import`.
//
//   ssh: pveversion                                            pve-manager/8.4.1/2a5fa54a8503f96d (running kernel: …)
//   ssh: pvesh get /storage/STORAGE --output-format json       {"content":"backup,iso,vztmpl","storage":"local",…}

export const MIN_PVE_VERSION = [8, 4] as const;

export const pveversionArgv = (): string[] => ['pveversion'];
export const storageConfigArgv = (storage: string): string[] => ['pvesh', 'get', `/storage/${storage}`, '--output-format', 'json'];

/** `pve-manager/8.4.1/2a5fa54a… (running kernel: …)` → [8, 4, 1]; undefined when the line is not there. */
export function parsePveVersion(stdout: string): number[] | undefined {
  const m = /pve-manager\/(\d+)\.(\d+)(?:[.-](\d+))?/.exec(stdout);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** The storage's content types (pve-storage Config.pm `read`: `content` is a comma-separated list). */
export function parseStorageContent(stdout: string): string[] {
  const cfg = parseJsonObject(stdout, 'pvesh get /storage/…') as { content?: unknown };
  return String(cfg.content ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

const atLeast = (v: number[], min: readonly number[]) => v[0]! > min[0]! || (v[0] === min[0] && v[1]! >= min[1]!);

/** Problems with the host's version and image storage (each with its fix); [] when both are fine. */
export function proxmoxPrerequisiteProblems(input: { host: string; storage: string; version?: number[]; versionText: string; content?: string[]; contentError?: string }): string[] {
  const out: string[] = [];
  if (!input.version) out.push(`cannot read the Proxmox VE version on ${input.host} (pveversion printed: ${input.versionText.trim().split('\n')[0] || 'nothing'})`);
  else if (!atLeast(input.version, MIN_PVE_VERSION)) {
    out.push(
      `Proxmox VE on ${input.host} is ${input.version.join('.')}; the Talos image download (content type "import") needs ${MIN_PVE_VERSION.join('.')} or later: ` +
        'upgrade the host (`apt update && apt full-upgrade` on a current repository), then run again',
    );
  }
  if (input.contentError) out.push(`cannot read storage '${input.storage}' (proxmox.imageStorage) on ${input.host}: ${input.contentError}`);
  else if (input.content && !input.content.includes('import')) {
    out.push(
      `storage '${input.storage}' (proxmox.imageStorage) on ${input.host} does not allow the "import" content type the Talos disk image is downloaded as ` +
        `(it allows ${input.content.join(',') || 'nothing'}): run \`pvesm set ${input.storage} --content ${[...input.content, 'import'].join(',')}\` on the host, or pick another storage`,
    );
  }
  return out;
}

/** Reads both over SSH; under --dry-run only prints the reads. Returns the problems found. */
export async function checkProxmoxPrerequisites(ctx: OpsContext): Promise<string[]> {
  const { host, imageStorage } = ctx.config.proxmox;
  return withRemote(ctx, proxmoxTarget(ctx), {}, async (remote) => {
    const ver = await remote.read(pveversionArgv(), { check: false });
    const st = await remote.read(storageConfigArgv(imageStorage), { check: false });
    if (!ver || !st) return [];
    const version = ver.ok ? parsePveVersion(ver.stdout) : undefined;
    let content: string[] | undefined;
    let contentError: string | undefined;
    if (!st.ok) contentError = (st.stderr || st.stdout).trim().split('\n')[0] ?? `exit ${st.exitCode}`;
    else {
      try {
        content = parseStorageContent(st.stdout);
      } catch (err) {
        contentError = (err as Error).message;
      }
    }
    return proxmoxPrerequisiteProblems({
      host,
      storage: imageStorage,
      ...(version ? { version } : {}),
      versionText: ver.stdout + ver.stderr,
      ...(content ? { content } : {}),
      ...(contentError ? { contentError } : {}),
    });
  });
}
