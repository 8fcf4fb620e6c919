import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { OpsContext, OpResult } from '../core/context.ts';

// The teardown operations other modules own (GitHub deploy keys, the Proxmox CSI token, Headscale node entries).
// Each is `(ctx) => Promise<OpResult>` and honours ctx.runner.dryRun through runner.planOnly(). They are looked up by
// name in their folder, so destroy reports precisely which one is missing instead of failing to load.

const LIB = join(dirname(fileURLToPath(import.meta.url)), '..');

export type TeardownOp = (ctx: OpsContext) => Promise<OpResult>;

export interface TeardownSpec {
  folder: string;
  /** Accepted export names, preferred first. */
  names: string[];
}

export const TEARDOWN = {
  fluxDeployKey: { folder: 'github', names: ['removeFluxDeployKeys', 'removeFluxDeployKey', 'deleteFluxDeployKeys', 'deleteDeployKeys'] },
  csiToken: { folder: 'proxmox', names: ['deleteCsiToken', 'removeCsiToken', 'csiTokenDelete'] },
  headscaleNodes: { folder: 'headscale', names: ['removeHeadscaleNodes', 'deleteHeadscaleNodes', 'removeNodes', 'expireNodes'] },
} as const satisfies Record<string, TeardownSpec>;

export async function findTeardown(spec: TeardownSpec): Promise<TeardownOp | string> {
  const dir = join(LIB, spec.folder);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort() : [];
  for (const name of spec.names) {
    for (const file of files) {
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
      if (typeof mod[name] === 'function') return mod[name] as TeardownOp;
    }
  }
  return `scripts/lib/${spec.folder}/ exports none of ${spec.names.map((n) => `${n}()`).join(', ')}`;
}
