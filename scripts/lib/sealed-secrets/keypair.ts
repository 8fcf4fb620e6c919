import { X509Certificate, createHmac, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import type { OpsContext } from '../core/context.ts';
import { registerSecret } from '../core/redact.ts';

// The cluster's stable sealed-secrets keypair: created once with openssl, kept in the user's secret store (the desktop
// keyring through `secret-tool` when there is one, else a 0600 file in the cluster's private state directory), applied
// as the controller's active key before the controller starts. Because the same key comes back after every rebuild,
// SealedSecrets committed before the rebuild still decrypt.
//
// Pure parts (argv builders and manifests):
//   keyPairArgv(days)                    openssl req -x509 -newkey rsa:4096 -nodes -keyout - -days N -subj /CN=sealed-secret/O=sealed-secret
//                                        (key and certificate both on stdout: the key never touches a file)
//   splitKeyPair(stdout)                 → { key, cert } from the two PEM blocks
//   secretToolLookupArgv(cluster, item)  secret-tool lookup service home-ops-sealed-secrets cluster C key ITEM
//   secretToolStoreArgv(cluster, item)   secret-tool store --label … service home-ops-sealed-secrets cluster C key ITEM  (value on stdin)
//   activeKeyManifest(pair)              the kube-system Secret `sealed-secrets-key` labelled …/sealed-secrets-key=active
//   certFingerprint(pem) / pairMatches(pair) / secretDigest(pair, data)

export const KEY_SECRET_NAME = 'sealed-secrets-key';
export const KEY_SECRET_NAMESPACE = 'kube-system';
export const ACTIVE_KEY_LABEL = 'sealedsecrets.bitnami.com/sealed-secrets-key';
export const KEYRING_SERVICE = 'home-ops-sealed-secrets';
export const CERT_DAYS = 3650;

export interface KeyPair {
  /** PEM private key (PKCS#1 or PKCS#8, RSA). */
  key: string;
  /** PEM self-signed certificate: the public half, committed for `kubeseal --cert`. */
  cert: string;
}

export function keyPairArgv(days = CERT_DAYS): string[] {
  return ['openssl', 'req', '-x509', '-newkey', 'rsa:4096', '-nodes', '-keyout', '-', '-days', String(days), '-subj', '/CN=sealed-secret/O=sealed-secret'];
}

/** The private key and certificate PEM blocks of `openssl req … -keyout -` output. */
export function splitKeyPair(stdout: string): KeyPair {
  const block = (label: RegExp) => new RegExp(`-----BEGIN (${label.source})-----[\\s\\S]*?-----END \\1-----`).exec(stdout)?.[0];
  const key = block(/(?:RSA )?PRIVATE KEY/);
  const cert = block(/CERTIFICATE/);
  if (!key || !cert) throw new Error('openssl printed no private key and certificate');
  return { key: `${key}\n`, cert: `${cert}\n` };
}

export function secretToolLookupArgv(cluster: string, item: 'private_key' | 'certificate'): string[] {
  return ['secret-tool', 'lookup', 'service', KEYRING_SERVICE, 'cluster', cluster, 'key', item];
}

export function secretToolStoreArgv(cluster: string, item: 'private_key' | 'certificate'): string[] {
  return ['secret-tool', 'store', '--label', `home-ops sealed-secrets ${item} (${cluster})`, 'service', KEYRING_SERVICE, 'cluster', cluster, 'key', item];
}

/** The controller loads every Secret in its namespace carrying the label with value "active" (tls.key + tls.crt). */
export function activeKeyManifest(pair: KeyPair): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: KEY_SECRET_NAME, namespace: KEY_SECRET_NAMESPACE, labels: { [ACTIVE_KEY_LABEL]: 'active' } },
    data: { 'tls.crt': Buffer.from(pair.cert).toString('base64'), 'tls.key': Buffer.from(pair.key).toString('base64') },
  });
}

/** The certificate in an existing key Secret (kubectl get -o json), to compare with ours. */
export function certOfKeySecret(obj: Record<string, unknown> | undefined): { cert?: string; active: boolean } {
  const data = obj?.data as Record<string, string> | undefined;
  const labels = (obj?.metadata as { labels?: Record<string, string> } | undefined)?.labels;
  return {
    ...(data?.['tls.crt'] ? { cert: Buffer.from(data['tls.crt'], 'base64').toString('utf8') } : {}),
    active: labels?.[ACTIVE_KEY_LABEL] === 'active',
  };
}

export function certFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

export function pairMatches(pair: KeyPair): boolean {
  try {
    return new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return false;
  }
}

export function sameCert(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  try {
    return certFingerprint(a) === certFingerprint(b);
  } catch {
    return false;
  }
}

/**
 * A keyed digest of what was sealed (HMAC with the private key), so a re-run can tell whether a SealedSecret is
 * current without decrypting it, and the state file holds nothing a guess could be checked against.
 */
export function secretDigest(pair: KeyPair, payload: unknown): string {
  return createHmac('sha256', pair.key).update(JSON.stringify(payload)).digest('hex');
}

// ---------------------------------------------------------------------------------------------------------------
// Stores

export interface KeyStore {
  /** Shown to the user: where the key lives. */
  describe: string;
  load(): Promise<KeyPair | undefined>;
  save(pair: KeyPair): Promise<void>;
}

export function onPath(exe: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, exe)));
}

/** The keyring needs secret-tool and a D-Bus session (absent over plain SSH and in CI). */
export function keyringAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  return onPath('secret-tool', env) && !!env.DBUS_SESSION_BUS_ADDRESS;
}

export function fileStore(dir: string): KeyStore {
  const keyFile = join(dir, 'tls.key');
  const certFile = join(dir, 'tls.crt');
  return {
    describe: `${keyFile} (0600)`,
    async load() {
      if (!existsSync(keyFile) || !existsSync(certFile)) return undefined;
      const pair = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
      registerSecret(pair.key);
      return pair;
    },
    async save(pair) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      for (const [file, content] of [[certFile, pair.cert], [keyFile, pair.key]] as const) {
        writeFileSync(`${file}.tmp`, content, { mode: 0o600 });
        renameSync(`${file}.tmp`, file);
      }
    },
  };
}

export function keyringStore(ctx: OpsContext): KeyStore {
  const cluster = ctx.config.cluster.name;
  return {
    describe: `the desktop keyring (secret-tool, service=${KEYRING_SERVICE} cluster=${cluster})`,
    async load() {
      const key = await ctx.runner.probe(secretToolLookupArgv(cluster, 'private_key'));
      const cert = await ctx.runner.probe(secretToolLookupArgv(cluster, 'certificate'));
      if (!key.ok || !cert.ok || !key.stdout.trim() || !cert.stdout.trim()) return undefined;
      registerSecret(key.stdout.trim());
      return { key: ensureNewline(key.stdout), cert: ensureNewline(cert.stdout) };
    },
    async save(pair) {
      await ctx.runner.run(secretToolStoreArgv(cluster, 'certificate'), { input: pair.cert });
      await ctx.runner.run(secretToolStoreArgv(cluster, 'private_key'), { input: pair.key });
    },
  };
}

function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}

/** Where the key is looked for (keyring first when available, then the file) and where a new one is stored. */
export function keyStores(ctx: OpsContext, env: NodeJS.ProcessEnv = process.env): { preferred: KeyStore; all: KeyStore[] } {
  const file = fileStore(ctx.paths.sealedSecretsDir);
  if (keyringAvailable(env)) {
    const ring = keyringStore(ctx);
    return { preferred: ring, all: [ring, file] };
  }
  return { preferred: file, all: [file] };
}

/** Creates a keypair with openssl; the private key only ever travels through a pipe. */
export async function createKeyPair(ctx: OpsContext): Promise<KeyPair | undefined> {
  const res = await ctx.runner.run(keyPairArgv(), { hint: 'openssl must be installed (apt-get install openssl)', timeoutMs: 120_000 });
  if (res.dryRun) return undefined;
  const pair = splitKeyPair(res.stdout);
  registerSecret(pair.key.trim());
  return pair;
}
