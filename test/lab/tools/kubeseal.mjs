// Fake kubeseal (sealed-secrets v0.36): seals with the documented hybrid scheme (RSA-OAEP-SHA256 with the scope
// label wrapping an AES-256-GCM session key, zero nonce), so the output decrypts with the real private key.
// Offline with --cert; online --fetch-cert/sealing reads the active sealing key Secret in the simulated cluster.
// Follows kubeseal v0.32: bitnami-labs/sealed-secrets cmd/kubeseal/main.go and pkg/kubeseal/kubeseal.go (ParseKey,
// Seal, errors); flags are pflag's: an undeclared one fails with `Error: unknown flag: --x`, exit 1.
import fs from 'node:fs';
import crypto from 'node:crypto';
import { main, parseArgs, fail, snapshot, readStdin, yaml } from './lib/core.mjs';
import { loadKubeconfig, apiAccess, kubectlAccessError } from './lib/kube.mjs';
import { listObjects, RESOURCES, sealedSecretsInstalled } from './lib/objects.mjs';

const SPEC = {
  cert: { type: 'string' }, format: { short: 'o', type: 'string' }, scope: { type: 'string' }, namespace: { short: 'n', type: 'string' },
  name: { type: 'string' }, raw: { type: 'bool' }, 'from-file': { type: 'array' }, 'secret-file': { short: 'f', type: 'string' },
  'sealed-secret-file': { short: 'w', type: 'string' }, 'recovery-unseal': { type: 'bool' }, 'recovery-private-key': { type: 'slice' },
  'allow-empty-data': { type: 'bool' }, 'controller-name': { type: 'string' }, 'controller-namespace': { type: 'string' },
  'fetch-cert': { type: 'bool' }, version: { type: 'bool' }, validate: { type: 'bool' }, 're-encrypt': { type: 'bool' }, 'merge-into': { type: 'string' },
  kubeconfig: { type: 'string' }, context: { type: 'string' }, version: { type: 'bool' }, 'strict': { type: 'bool' }, 'namespace-wide': { type: 'bool' }, 'cluster-wide': { type: 'bool' },
};

const SCOPE_ANN = { 'namespace-wide': 'sealedsecrets.bitnami.com/namespace-wide', 'cluster-wide': 'sealedsecrets.bitnami.com/cluster-wide' };

export function label(scope, ns, name) {
  if (scope === 'cluster-wide') return Buffer.alloc(0);
  if (scope === 'namespace-wide') return Buffer.from(ns);
  return Buffer.from(`${ns}/${name}`);
}

export function hybridEncrypt(pubKey, plaintext, lbl) {
  const sessionKey = crypto.randomBytes(32);
  const rsaCt = crypto.publicEncrypt({ key: pubKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: lbl }, sessionKey);
  const c = crypto.createCipheriv('aes-256-gcm', sessionKey, Buffer.alloc(12));
  const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(rsaCt.length);
  return Buffer.concat([len, rsaCt, body]);
}

export function hybridDecrypt(privKey, ciphertext, lbl) {
  const n = ciphertext.readUInt16BE(0);
  const rsaCt = ciphertext.subarray(2, 2 + n);
  const rest = ciphertext.subarray(2 + n);
  const key = crypto.privateDecrypt({ key: privKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: lbl }, rsaCt);
  const d = crypto.createDecipheriv('aes-256-gcm', key, Buffer.alloc(12));
  d.setAuthTag(rest.subarray(rest.length - 16));
  return Buffer.concat([d.update(rest.subarray(0, rest.length - 16)), d.final()]);
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function parseCert(pem, source) {
  let cert;
  try {
    cert = new crypto.X509Certificate(pem);
  } catch {
    fail(`error: failed to read any certificates`);
  }
  const pub = cert.publicKey;
  if (pub.asymmetricKeyType !== 'rsa') fail(`error: expected RSA public key but found ${pub.asymmetricKeyType === 'ec' ? '&{0xc000 ...} (*ecdsa.PublicKey)' : pub.asymmetricKeyType}`);
  const notAfter = new Date(cert.validTo);
  if (Date.now() > notAfter.getTime()) fail(`error: failed to encrypt using an expired certificate on ${MONTHS[notAfter.getUTCMonth()]} ${notAfter.getUTCDate()}, ${notAfter.getUTCFullYear()}`);
  void source;
  return pub;
}

async function certFromCluster(flags) {
  const kc = await loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags.context });
  if (kc.error) fail(kc.error);
  const { st, lab, now } = snapshot();
  const a = apiAccess(st, lab, now, kc);
  if (!a.ok) fail(`error: cannot fetch certificate: ${kubectlAccessError(a)}`);
  const ns = flags['controller-namespace'] ?? 'kube-system';
  const name = flags['controller-name'] ?? 'sealed-secrets-controller';
  const secrets = listObjects(st, lab, now, RESOURCES.find((r) => r.kind === 'Secret')).filter(
    (o) => o.metadata.namespace === ns && o.metadata.labels?.['sealedsecrets.bitnami.com/sealed-secrets-key'] === 'active',
  );
  const controller = sealedSecretsInstalled(st, now);
  if (!controller || !secrets.length) {
    fail(`error: cannot get sealed secret service: services "${name}" not found.\nPlease, use the flag --controller-name and --controller-namespace to set up the name and namespace of the sealed secrets controller`);
  }
  const newest = secrets.sort((x, y) => String(y.metadata.creationTimestamp).localeCompare(String(x.metadata.creationTimestamp)))[0];
  return Buffer.from(newest.data['tls.crt'], 'base64').toString('utf8');
}

async function render(obj, format) {
  if ((format ?? 'json') === 'json') return `${JSON.stringify(obj, null, 2)}\n`;
  if (format !== 'yaml') fail(`error: unsupported output format: ${format}`);
  const { stringify } = await yaml();
  return `${stringify(obj, { sortMapEntries: true, lineWidth: 0 })}`;
}

async function readInput(flags) {
  if (flags['secret-file']) {
    try {
      return fs.readFileSync(flags['secret-file'], 'utf8');
    } catch {
      fail(`error: open ${flags['secret-file']}: no such file or directory`);
    }
  }
  return readStdin(2000);
}

async function parseDoc(text) {
  const { parseAllDocuments } = await yaml();
  const docs = parseAllDocuments(text).filter((d) => d.contents !== null);
  if (docs.length > 1) fail('error: Multistream YAML not supported yet');
  if (!docs.length) fail("error: Object 'Kind' is missing in ''");
  if (docs[0].errors.length) fail(`error: ${docs[0].errors[0].message.split('\n')[0]}`);
  return docs[0].toJS() ?? {};
}

async function seal(flags, pub) {
  const secret = await parseDoc(await readInput(flags));
  if (!secret.kind) fail(`error: Object 'Kind' is missing in '${JSON.stringify(secret)}'`);
  const data = { ...(secret.data ?? {}) };
  const stringData = secret.stringData ?? {};
  if (!Object.keys(data).length && !Object.keys(stringData).length && !flags['allow-empty-data']) {
    fail('error: secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used');
  }
  const meta = { ...(secret.metadata ?? {}) };
  if (flags.name) meta.name = flags.name;
  if (!meta.name) fail('error: missing metadata.name in input Secret');
  if (flags.namespace) meta.namespace = flags.namespace;
  const ann = { ...(meta.annotations ?? {}) };
  delete ann['kubectl.kubernetes.io/last-applied-configuration'];
  let scope = flags.scope ?? (flags['cluster-wide'] ? 'cluster-wide' : flags['namespace-wide'] ? 'namespace-wide' : undefined);
  if (scope && scope !== 'strict') ann[SCOPE_ANN[scope]] = 'true';
  if (!scope) scope = ann[SCOPE_ANN['cluster-wide']] === 'true' ? 'cluster-wide' : ann[SCOPE_ANN['namespace-wide']] === 'true' ? 'namespace-wide' : 'strict';
  if (scope !== 'cluster-wide' && !meta.namespace) {
    const kc = await loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags.context });
    if (!kc.file) fail('error: input secret has no namespace and cannot infer the namespace automatically when no kube config is available');
    meta.namespace = kc.namespace ?? 'default';
  }
  const lbl = label(scope, meta.namespace ?? '', meta.name);
  const encryptedData = {};
  for (const [k, v] of Object.entries(data)) encryptedData[k] = hybridEncrypt(pub, Buffer.from(String(v), 'base64'), lbl).toString('base64');
  for (const [k, v] of Object.entries(stringData)) encryptedData[k] = hybridEncrypt(pub, Buffer.from(String(v), 'utf8'), lbl).toString('base64');
  const tmeta = { creationTimestamp: null, name: meta.name, ...(meta.namespace ? { namespace: meta.namespace } : {}) };
  if (meta.labels) tmeta.labels = meta.labels;
  if (Object.keys(ann).length) tmeta.annotations = ann;
  const out = {
    kind: 'SealedSecret',
    apiVersion: 'bitnami.com/v1alpha1',
    metadata: { creationTimestamp: null, name: meta.name, ...(meta.namespace ? { namespace: meta.namespace } : {}), ...(Object.keys(ann).length ? { annotations: ann } : {}) },
    spec: { template: { metadata: tmeta, ...(secret.type ? { type: secret.type } : {}) }, encryptedData },
  };
  return render(out, flags.format);
}

async function unseal(flags) {
  const keys = [];
  for (const f of flags['recovery-private-key'] ?? []) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      fail(`error: open ${f}: no such file or directory`);
    }
    if (text.includes('PRIVATE KEY')) {
      try {
        keys.push(crypto.createPrivateKey(text));
      } catch (e) {
        fail(`error: ${e.message}`);
      }
    } else {
      const doc = await parseDoc(text);
      const items = doc.kind === 'List' ? doc.items : [doc];
      for (const s of items) {
        if (!s.data?.['tls.key']) fail("error: secret must contain a 'tls.data' key");
        keys.push(crypto.createPrivateKey(Buffer.from(s.data['tls.key'], 'base64').toString('utf8')));
      }
    }
  }
  if (!keys.length) fail('error: --recovery-private-key is required with --recovery-unseal');
  const ss = await parseDoc(await readInput(flags));
  const meta = ss.spec?.template?.metadata ?? ss.metadata ?? {};
  const ann = { ...(ss.metadata?.annotations ?? {}), ...(meta.annotations ?? {}) };
  const scope = ann[SCOPE_ANN['cluster-wide']] === 'true' ? 'cluster-wide' : ann[SCOPE_ANN['namespace-wide']] === 'true' ? 'namespace-wide' : 'strict';
  const lbl = label(scope, ss.metadata?.namespace ?? meta.namespace ?? '', ss.metadata?.name ?? meta.name);
  const data = {};
  for (const [k, v] of Object.entries(ss.spec?.encryptedData ?? {})) {
    let plain;
    for (const key of keys) {
      try {
        plain = hybridDecrypt(key, Buffer.from(v, 'base64'), lbl);
        break;
      } catch {
        /* try the next key */
      }
    }
    if (!plain) fail(`error: no key could decrypt secret (${Object.keys(ss.spec.encryptedData).join(', ')})`);
    data[k] = plain.toString('base64');
  }
  const secret = {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata: { name: ss.metadata?.name, namespace: ss.metadata?.namespace, creationTimestamp: null, ownerReferences: [{ apiVersion: 'bitnami.com/v1alpha1', kind: 'SealedSecret', name: ss.metadata?.name, uid: '', controller: true }] },
    data,
    ...(ss.spec?.template?.type ? { type: ss.spec.template.type } : {}),
  };
  return render(secret, flags.format);
}

main('kubeseal', async (argv, io) => {
  const { flags, unknown } = parseArgs(argv, SPEC);
  const cmd = flags.version ? 'version' : flags['recovery-unseal'] ? 'recovery-unseal' : flags['fetch-cert'] ? 'fetch-cert' : flags.raw ? 'raw' : 'seal';
  if (unknown.length) return { cmd, noFaults: true, run: async () => fail(`Error: unknown flag: ${unknown[0]}\n(lab: flag not simulated; see test/lab/README.md)`) };
  // Real: cmd/kubeseal/main.go `--version` prints "kubeseal version: <v>" and exits 0.
  return {
    cmd,
    run: async () => {
      let out;
      if ((flags['from-file'] ?? []).length && !flags.raw) fail('error: --from-file requires --raw');
      if (cmd === 'version') out = `kubeseal version: ${process.env.LAB_KUBESEAL_VERSION ?? '0.36.1'}\n`;
      else if (cmd === 'recovery-unseal') out = await unseal(flags);
      else {
        let pem;
        if (flags.cert) {
          if (/^https?:\/\//.test(flags.cert)) fail('lab: kubeseal --cert URL is not simulated; pass a file');
          try {
            pem = fs.readFileSync(flags.cert, 'utf8');
          } catch {
            fail(`error: open ${flags.cert}: no such file or directory`);
          }
        } else pem = await certFromCluster(flags);
        if (cmd === 'fetch-cert') out = pem;
        else {
          const pub = parseCert(pem, flags.cert);
          if (cmd === 'raw') {
            const files = flags['from-file'] ?? [];
            if (files.length !== 1) fail('error: must provide exactly one --from-file when using --raw');
            const file = files[0].includes('=') ? files[0].split('=').slice(1).join('=') : files[0];
            const data = file === '/dev/stdin' || file === '-' ? Buffer.from(await readStdin()) : fs.readFileSync(file);
            const scope = flags.scope ?? 'strict';
            if (scope !== 'cluster-wide' && !flags.namespace) fail('error: must provide the --namespace flag with --raw and --scope strict');
            if (scope === 'strict' && !flags.name) fail('error: must provide the --name flag with --raw and --scope strict');
            out = hybridEncrypt(pub, data, label(scope, flags.namespace ?? '', flags.name ?? '')).toString('base64');
          } else out = await seal(flags, pub);
        }
      }
      if (flags['sealed-secret-file']) fs.writeFileSync(flags['sealed-secret-file'], out);
      else io.out(out);
      return 0;
    },
  };
});
