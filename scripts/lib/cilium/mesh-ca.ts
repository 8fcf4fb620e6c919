import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ClusterConfig } from '../config/load.ts';
import { RefusalError } from '../core/cli.ts';
import type { OpsContext } from '../core/context.ts';
import { readIfExists, writeAtomic } from '../core/files.ts';
import { registerSecret } from '../core/redact.ts';
import { splitKeyPair, type KeyPair } from '../sealed-secrets/keypair.ts';

// The CA every cluster of a Cilium ClusterMesh shares (Cilium's chart signs the clustermesh-apiserver server and
// remote client certificates with `tls.ca`; peers trust each other because they share it). Created once with openssl
// (the key only travels through a pipe), kept 0600 in a private state directory named after the mesh's clusters, so
// the bootstrap of each peer finds the same one — also when two run at once (the directory appears whole, once).
//
//   meshCaArgv(days)        openssl req -x509 -newkey rsa:2048 -nodes -keyout - -days N -subj /CN=Cilium CA
//   meshCaDir(dir, names)   <state base>/mesh/<sorted cluster names joined by +>, beside the clusters' own directories
//   meshCaValues(pair)      the Cilium values { tls: { ca: { cert, key } } } (base64 PEM, as the chart wants them)

export const MESH_CA_DAYS = 3650;

export function meshCaArgv(days = MESH_CA_DAYS): string[] {
  return ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '-', '-days', String(days), '-subj', '/CN=Cilium CA'];
}

/** The clusters of this cluster's mesh: itself and its peers. */
export function meshMembers(c: ClusterConfig): string[] {
  return [c.cluster.name, ...(c.clusterMesh?.remotes ?? []).map((r) => r.name)].sort();
}

/** `clusterStateDir`: this cluster's private state directory (<base>/<cluster>). */
export function meshCaDir(clusterStateDir: string, members: string[]): string {
  return join(dirname(clusterStateDir), 'mesh', [...members].sort().join('+'));
}

export function meshCaValues(pair: KeyPair): Record<string, unknown> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return { tls: { ca: { cert: b64(pair.cert), key: b64(pair.key) } } };
}

/**
 * The mesh CA: read from the mesh's state directory, or created there (a dry run plans it and returns undefined).
 * Undefined as well when the config has no clusterMesh.
 */
export async function ensureMeshCa(ctx: OpsContext): Promise<KeyPair | undefined> {
  const c = ctx.config;
  if (!c.clusterMesh) return undefined;
  const dir = meshCaDir(ctx.paths.dir, meshMembers(c));
  const files = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  const cert = readIfExists(files.cert);
  const key = readIfExists(files.key);
  if (cert && key) {
    registerSecret(key.trim());
    return { cert, key };
  }
  if (cert || key) {
    throw new RefusalError(`${dir} holds ${cert ? 'ca.crt without ca.key' : 'ca.key without ca.crt'}: copy the missing file from the machine that bootstrapped a peer, or, if no peer runs Cilium with it yet, remove the directory (a new CA is then made)`);
  }
  const res = await ctx.runner.run(meshCaArgv(), { hint: 'openssl must be installed (apt-get install openssl)', timeoutMs: 120_000 });
  if (res.dryRun) return undefined;
  const pair = splitKeyPair(res.stdout);
  registerSecret(pair.key.trim());
  // Both files appear at once (a directory renamed into place), and only once: the bootstraps of two peers run at the
  // same time must not each install a CA of their own (nor a key of one with the certificate of the other).
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  const staged = mkdtempSync(`${dir}.new-`);
  writeAtomic(join(staged, 'ca.key'), pair.key, 0o600);
  writeAtomic(join(staged, 'ca.crt'), pair.cert, 0o600);
  try {
    renameSync(staged, dir);
  } catch (err) {
    rmSync(staged, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    // Another peer's bootstrap made it meanwhile: use that one.
    const theirs = { cert: readIfExists(files.cert), key: readIfExists(files.key) };
    if (!theirs.cert || !theirs.key) throw new RefusalError(`${dir} appeared without both ca.crt and ca.key; remove it if no peer runs Cilium with it yet, and run again`);
    registerSecret(theirs.key.trim());
    return { cert: theirs.cert, key: theirs.key };
  }
  ctx.log.info(`created the ClusterMesh CA in ${dir}: the bootstrap of every peer (${meshMembers(c).join(', ')}) uses it`);
  return pair;
}
