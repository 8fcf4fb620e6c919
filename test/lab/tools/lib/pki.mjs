// Real (minimal) X.509 certificates for the lab's CAs and client certificates, built with node:crypto: the secrets
// bundle, machine configs, talosconfig and kubeconfig carry certificates real tools can parse (the real kubectl run for
// client-side commands loads the kubeconfig's CA), and the fakes check that a client's certificate chains to the CA
// of the node or cluster it talks to — the way mTLS fails with "certificate signed by unknown authority".
import crypto from 'node:crypto';

export function sha(text, n = 16) {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, n);
}

// ---------------------------------------------------------------------------------------------------------------
// DER

function len(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>= 8;
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag, body) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...xs) => tlv(0x30, Buffer.concat(xs));
const set = (...xs) => tlv(0x31, Buffer.concat(xs));
const bool = (b) => tlv(0x01, Buffer.from([b ? 0xff : 0]));
const octet = (b) => tlv(0x04, b);
const bits = (b) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const utf8 = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
const explicit = (n, x) => tlv(0xa0 + n, x);
function int(buf) {
  let b = Buffer.from(buf);
  while (b.length > 1 && b[0] === 0 && !(b[1] & 0x80)) b = b.subarray(1);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}
function oid(s) {
  const p = s.split('.').map(Number);
  const out = [p[0] * 40 + p[1]];
  for (const v of p.slice(2)) {
    const enc = [v & 0x7f];
    let x = v >> 7;
    while (x > 0) {
      enc.unshift(0x80 | (x & 0x7f));
      x >>= 7;
    }
    out.push(...enc);
  }
  return tlv(0x06, Buffer.from(out));
}
function time(d) {
  const iso = d.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}
function name({ cn, o }) {
  const rdns = [];
  if (o) rdns.push(set(seq(oid('2.5.4.10'), utf8(o))));
  if (cn) rdns.push(set(seq(oid('2.5.4.3'), utf8(cn))));
  return seq(...rdns);
}

function sigAlg(key) {
  return key.asymmetricKeyType === 'ed25519' ? seq(oid('1.3.101.112')) : seq(oid('1.2.840.10045.4.3.2'));
}

/** A certificate for `subjectKey` (public KeyObject), signed by `issuerKey` (private KeyObject). */
function certificate({ subject, issuer, subjectPub, issuerKey, ca, clientAuth, days = 3650 }) {
  const now = Date.now();
  const exts = [
    seq(oid('2.5.29.19'), bool(true), octet(seq(...(ca ? [bool(true)] : [])))),
    seq(oid('2.5.29.15'), bool(true), octet(bits(Buffer.from([ca ? 0x86 : 0xa0])))),
  ];
  if (clientAuth) exts.push(seq(oid('2.5.29.37'), octet(seq(oid('1.3.6.1.5.5.7.3.2')))));
  const alg = sigAlg(issuerKey);
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(crypto.randomBytes(16)),
    alg,
    name(issuer),
    seq(time(new Date(now - 60000)), time(new Date(now + days * 86400000))),
    name(subject),
    subjectPub.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...exts)),
  );
  const sig = crypto.sign(issuerKey.asymmetricKeyType === 'ed25519' ? null : 'sha256', tbs, issuerKey);
  const der = seq(tbs, alg, bits(sig));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function newKey(type) {
  return type === 'ed25519' ? crypto.generateKeyPairSync('ed25519') : crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function keyPem(privateKey) {
  return privateKey.export({ type: privateKey.asymmetricKeyType === 'ec' ? 'sec1' : 'pkcs8', format: 'pem' });
}

export function b64(text) {
  return Buffer.from(text).toString('base64');
}

/** A self-signed CA as { crt, key }: base64 of PEM, the way Talos secrets and machine configs carry them. */
export function newCa(cn, type = 'ec', o) {
  const { publicKey, privateKey } = newKey(type);
  const crt = certificate({ subject: { cn, o: o ?? cn }, issuer: { cn, o: o ?? cn }, subjectPub: publicKey, issuerKey: privateKey, ca: true });
  return { crt: b64(crt), key: b64(keyPem(privateKey)) };
}

/** A client certificate issued by the CA ({ crt, key } base64 PEM). */
export function issue(ca, cn, org, type = 'ec') {
  const caCert = new crypto.X509Certificate(Buffer.from(ca.crt, 'base64'));
  const caKey = crypto.createPrivateKey(Buffer.from(ca.key, 'base64'));
  const { publicKey, privateKey } = newKey(type);
  const subjectName = caCert.subject.split('\n').reduce((acc, l) => {
    const [k, v] = l.split('=');
    if (k === 'CN') acc.cn = v;
    if (k === 'O') acc.o = v;
    return acc;
  }, {});
  const crt = certificate({ subject: { cn, o: org }, issuer: subjectName, subjectPub: publicKey, issuerKey: caKey, ca: false, clientAuth: true, days: 365 });
  return { crt: b64(crt), key: b64(keyPem(privateKey)) };
}

function parse(crt) {
  if (!crt || typeof crt !== 'string') return undefined;
  const text = crt.includes('-----BEGIN') ? crt : Buffer.from(crt, 'base64').toString('utf8');
  try {
    return new crypto.X509Certificate(text);
  } catch {
    return undefined;
  }
}

/** Stable identity of a certificate given as base64 PEM (or PEM): sha256 of its DER. */
export function fingerprint(crt) {
  const c = parse(crt);
  return c ? c.fingerprint256.replace(/:/g, '').toLowerCase().slice(0, 16) : sha(`not-a-certificate:${crt}`);
}

/** Is the client certificate signed by this CA certificate? */
export function issuedBy(crt, caCrt) {
  const c = parse(crt);
  const ca = parse(caCrt);
  if (!c || !ca) return false;
  try {
    return c.checkIssued(ca) && c.verify(ca.publicKey);
  } catch {
    return false;
  }
}

export function randomToken(a = 6, b = 16) {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const pick = (n) => Array.from(crypto.randomBytes(n), (x) => chars[x % chars.length]).join('');
  return `${pick(a)}.${pick(b)}`;
}
