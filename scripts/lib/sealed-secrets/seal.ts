import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { OpsContext } from '../core/context.ts';
import { REPO_ROOT } from '../core/paths.ts';

/** The cluster's public sealing certificate: committed, so anyone can seal offline with `kubeseal --cert`. */
export function sealingCertPath(cluster: string): string {
  return join(REPO_ROOT, 'kubernetes', 'clusters', cluster, 'sealed-secrets-cert.pem');
}

/** Where the secrets the scripts seal live in the GitOps tree. */
export function sealedSecretPath(cluster: string, name: string): string {
  return join(REPO_ROOT, 'kubernetes', 'clusters', cluster, 'secrets', `${name}.sealed.yaml`);
}

export interface PlainSecret {
  name: string;
  namespace: string;
  type?: string;
  stringData: Record<string, string>;
  labels?: Record<string, string>;
}

/** The Secret manifest handed to kubeseal on stdin; never written to disk. */
export function secretManifest(s: PlainSecret): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: s.name, namespace: s.namespace, ...(s.labels ? { labels: s.labels } : {}) },
    type: s.type ?? 'Opaque',
    stringData: s.stringData,
  });
}

/**
 * Seals a Secret with the cluster's public certificate (`kubeseal --cert`, strict scope) and writes the SealedSecret.
 * The plaintext goes to kubeseal through stdin only: it never touches disk, argv or the log.
 */
export async function sealSecret(ctx: OpsContext, secret: PlainSecret, outFile: string, certFile = sealingCertPath(ctx.config.cluster.name)): Promise<void> {
  const res = await ctx.runner.run(['kubeseal', '--cert', certFile, '--format', 'yaml'], {
    input: secretManifest(secret),
    hint: `check that ${certFile} is the cluster's sealed-secrets certificate (bootstrap phase "secrets" creates it)`,
  });
  if (res.dryRun) return;
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(`${outFile}.tmp`, res.stdout);
  renameSync(`${outFile}.tmp`, outFile);
  ctx.log.info(`sealed ${secret.namespace}/${secret.name}`, { file: outFile });
}
