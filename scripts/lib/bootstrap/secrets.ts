import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import type { ClusterConfig } from '../config/load.ts';
import { REPO_ROOT } from '../core/paths.ts';
import * as kubectl from '../kubernetes/kubectl.ts';
import {
  KEY_SECRET_NAME,
  KEY_SECRET_NAMESPACE,
  activeKeyManifest,
  certFingerprint,
  certOfKeySecret,
  createKeyPair,
  keyStores,
  pairMatches,
  sameCert,
  secretDigest,
  type KeyPair,
} from '../sealed-secrets/keypair.ts';
import { sealSecret, sealedSecretPath, sealingCertPath, type PlainSecret } from '../sealed-secrets/seal.ts';
import { BACKUP_SECRET, DATABASES, databaseBackupsOf } from '../backups/target.ts';
import { BootstrapError } from './errors.ts';
import { readIfExists, writeAtomic } from '../core/files.ts';
import { commitAndPush } from './publish.ts';
import { act, planNote, probe, type PhaseContext, type PhaseOutcome } from './steps.ts';

// Phase 5: the stable sealed-secrets keypair and the secrets the GitOps tree needs from .env.
// Order matters: the key Secret is applied before Flux installs the controller (gitops phase), so the controller
// starts with our key instead of generating its own; SealedSecrets committed before a rebuild decrypt after it.

/** The Secrets sealed into the GitOps tree by the bootstrap, from .env values. Pure. */
export function bootstrapSecrets(c: ClusterConfig, secrets: Record<string, string>): PlainSecret[] {
  const out: PlainSecret[] = [];
  if (c.powerdns) {
    // Read by the in-cluster PowerDNS (api-key) and external-dns (PDNS_API_KEY env from the same Secret).
    // Preflight makes sure PDNS_API_KEY is set before a real run; the plan shows the step without it.
    out.push({ name: 'powerdns-api-key', namespace: 'dns-system', stringData: { 'api-key': secrets.PDNS_API_KEY ?? '' } });
    // With PowerDNS elsewhere nothing here puts the key into a Vault (infra's in-cluster PowerDNS does, for its
    // ExternalSecret): the same key, sealed for this cluster — of either role — where the ClusterIssuer reads it
    // (cert-manager's cluster resource namespace; the issuer-only variant of cluster-issuers, flux-entry.ts).
    if (c.powerdns.external) {
      out.push({ name: 'powerdns-api-key', namespace: 'cert-manager', stringData: { 'api-key': secrets.PDNS_API_KEY ?? '' } });
    }
  }
  if (c.backups) {
    // The backup jobs' S3 credentials and encryption passphrase: the etcd job runs in `backups`, the Raft snapshot job
    // next to Vault (it needs Vault's CA from vault/vault-tls).
    const keys = { 'access-key-id': secrets.BACKUP_S3_ACCESS_KEY_ID ?? '', 'secret-access-key': secrets.BACKUP_S3_SECRET_ACCESS_KEY ?? '' };
    const stringData = { ...keys, passphrase: secrets.BACKUP_PASSPHRASE ?? '' };
    for (const namespace of ['backups', 'vault']) out.push({ name: BACKUP_SECRET, namespace, stringData });
    // The same keys for each database's Barman Cloud ObjectStore (which reads the region from a Secret too); Barman
    // does its own thing with the data, so no passphrase there.
    if (databaseBackupsOf(c)) {
      for (const d of DATABASES) out.push({ name: BACKUP_SECRET, namespace: d.namespace, stringData: { ...keys, region: c.backups.s3.region } });
    }
  }
  if (c.monitoring?.alerts.receiver === 'webhook') {
    // Alertmanager reads the URL from this file (webhook_configs url_file): the URL often carries a token.
    out.push({ name: 'alertmanager-receiver', namespace: 'monitoring', stringData: { url: secrets.ALERT_WEBHOOK_URL ?? '' } });
  }
  if (c.monitoring?.alerts.receiver === 'matrix') {
    // matrix-alertmanager-receiver gets the token as an environment variable its config file names; Alertmanager never sees it.
    out.push({ name: 'matrix-alertmanager-receiver', namespace: 'monitoring', stringData: { 'access-token': secrets.ALERT_MATRIX_ACCESS_TOKEN ?? '' } });
  }
  return out;
}

/**
 * File names (without .sealed.yaml) of the sealed secrets, in order: a name's first Secret keeps `<name>`, the same
 * name in a further namespace gets `<namespace>-<name>` (one file per SealedSecret; backup-target is in several).
 */
export function sealedFileNames(list: PlainSecret[]): string[] {
  const seen = new Set<string>();
  return list.map((s) => {
    if (!seen.has(s.name)) {
      seen.add(s.name);
      return s.name;
    }
    return `${s.namespace}-${s.name}`;
  });
}

const PLACEHOLDER: KeyPair = { key: '<redacted>', cert: '' };

async function ensureKeyPair(p: PhaseContext): Promise<{ pair: KeyPair; created: boolean; where: string }> {
  const cluster = p.config.cluster.name;
  const stores = keyStores(p, p.opts.env);
  for (const store of stores.all) {
    if (p.runner.dryRun) {
      p.runner.planOnly(`? look up the sealed-secrets keypair in ${store.describe}`);
      continue;
    }
    const pair = await store.load();
    if (pair) {
      if (!pairMatches(pair)) throw new BootstrapError(`the sealed-secrets key in ${store.describe} does not match its certificate`, 'restore both halves from your backup');
      return { pair, created: false, where: store.describe };
    }
  }
  const committed = readIfExists(sealingCertPath(cluster));
  if (committed && !p.runner.dryRun) {
    throw new BootstrapError(
      `${relative(REPO_ROOT, sealingCertPath(cluster))} is committed, but its private key is in none of: ${stores.all.map((s) => s.describe).join('; ')}`,
      'restore the key (secret-tool store … or the tls.key/tls.crt files) from your backup: a new key could not decrypt the SealedSecrets in git. To start over, delete the certificate and every *.sealed.yaml of this cluster and re-seal',
    );
  }
  const pair = await createKeyPair(p);
  if (!planNote(p, `store the new keypair in ${stores.preferred.describe}`) && pair) await stores.preferred.save(pair);
  return { pair: pair ?? PLACEHOLDER, created: true, where: stores.preferred.describe };
}

async function ensureActiveKey(p: PhaseContext, pair: KeyPair): Promise<boolean> {
  const res = await probe(p, kubectl.getJsonArgv('secret', KEY_SECRET_NAME, KEY_SECRET_NAMESPACE));
  if (res.ok) {
    const current = certOfKeySecret(kubectl.parseObject(res.stdout));
    if (current.active && sameCert(current.cert, pair.cert)) {
      p.note('active sealing key already in the cluster');
      return false;
    }
  }
  await act(p, kubectl.applyStdinArgv(), { input: activeKeyManifest(pair), hint: 'is the API reachable? (kubectl get --raw /readyz)' });
  // A controller that is already running (re-run after gitops) only reads keys at start.
  const ctrl = await probe(p, kubectl.getJsonArgv('deployment', 'sealed-secrets-controller', KEY_SECRET_NAMESPACE));
  if (ctrl.ok && kubectl.parseObject(ctrl.stdout)) {
    await act(p, ['kubectl', '--namespace', KEY_SECRET_NAMESPACE, 'rollout', 'restart', 'deployment/sealed-secrets-controller']);
  }
  p.note(`applied ${KEY_SECRET_NAMESPACE}/${KEY_SECRET_NAME} as the active sealing key`);
  return true;
}

export async function secretsPhase(p: PhaseContext): Promise<PhaseOutcome> {
  const c = p.config;
  const { pair, created, where } = await ensureKeyPair(p);
  p.note(created ? `created the sealed-secrets keypair in ${where}` : `reused the sealed-secrets keypair from ${where}`);
  const certFile = sealingCertPath(c.cluster.name);
  const written: string[] = [certFile];
  if (!sameCert(readIfExists(certFile), pair.cert)) {
    if (!planNote(p, `write ${relative(REPO_ROOT, certFile)} (public certificate, committed)`)) writeAtomic(certFile, pair.cert);
  }
  if (!p.runner.dryRun) p.facts.certFingerprint = certFingerprint(pair.cert);

  const activated = await ensureActiveKey(p, pair);

  // Seal what changed since the last run (a keyed digest of the plaintext and the cert tells; nothing is decrypted).
  const before = (p.previous?.facts?.sealed ?? {}) as Record<string, string>;
  const sealed: Record<string, string> = {};
  let resealed = 0;
  const plain = bootstrapSecrets(c, p.secrets);
  const fileNames = sealedFileNames(plain);
  for (const [i, s] of plain.entries()) {
    const file = sealedSecretPath(c.cluster.name, fileNames[i]!);
    const rel = relative(REPO_ROOT, file);
    const digest = p.runner.dryRun ? '' : secretDigest(pair, { cert: certFingerprint(pair.cert), s });
    sealed[rel] = digest;
    written.push(file);
    if (existsSync(file) && before[rel] === digest && !p.runner.dryRun) continue;
    await sealSecret(p, s, file);
    resealed++;
  }
  p.facts.sealed = sealed;
  if (resealed) p.note(`sealed ${resealed} secret(s)`);

  const { committed, pushed } = await commitAndPush(p, written, `bootstrap(${c.cluster.name}): sealed-secrets certificate and bootstrap secrets`);
  if (committed) p.note('committed the certificate and SealedSecrets');
  if (pushed) p.note(`pushed to ${c.github.branch}`);
  return {
    changed: created || activated || resealed > 0 || committed || pushed,
    summary: [created ? 'keypair created' : 'keypair reused', activated ? 'key applied' : 'key current', `${resealed} sealed`, pushed ? 'pushed' : 'remote current'].join('; '),
  };
}
