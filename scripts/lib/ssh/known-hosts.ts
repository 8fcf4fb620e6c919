import { createHash, createHmac } from 'node:crypto';

// known_hosts parsing and host key checking, as OpenSSH does it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): pure
// functions, no I/O. ssh2 has no known_hosts support of its own; the SSH client (client.ts) calls checkHostKey() from
// its hostVerifier and never accepts a key that is not listed (no trust on first use).
//
//   parseKnownHosts(text)                  → entries (plain, hashed |1|salt|hash, wildcards, !negation, markers)
//   hostLookupName(host, port)             → "host" for port 22, "[host]:port" otherwise (how OpenSSH writes them)
//   knownKeysFor(entries, host, port)      → the keys listed for the host (without @revoked/@cert-authority lines)
//   checkHostKey(entries, host, port, key) → ok | unknown | changed | revoked, with what was expected
//   keyTypeOf(blob), fingerprint(blob)     → "ssh-ed25519", "SHA256:…" (as ssh-keygen -l prints it)
//   hostKeyAlgorithms(types)               → the algorithms to offer so the server presents a key we know

export interface KnownHostEntry {
  /** 1-based line in the file, for messages. */
  line: number;
  marker?: '@revoked' | '@cert-authority';
  /** Comma-separated host patterns, or the hashed form. */
  hosts: { kind: 'patterns'; patterns: string[] } | { kind: 'hashed'; salt: Buffer; hash: Buffer };
  keyType: string;
  /** The key blob (base64-decoded third field). */
  key: Buffer;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    const [hostField, keyType, keyB64] = fields;
    if (!hostField || !keyType || !keyB64) return; // malformed lines are skipped, as ssh does
    let hosts: KnownHostEntry['hosts'];
    if (hostField.startsWith('|1|')) {
      const [, , salt, hash] = hostField.split('|');
      if (!salt || !hash) return;
      hosts = { kind: 'hashed', salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      hosts = { kind: 'patterns', patterns: hostField.split(',').filter(Boolean) };
    }
    out.push({ line: i + 1, ...(marker ? { marker } : {}), hosts, keyType, key: Buffer.from(keyB64, 'base64') });
  });
  return out;
}

export function hostLookupName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/** OpenSSH match_hostname(): any positive pattern matches and no negated one does. */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.kind === 'hashed') {
    const mac = createHmac('sha1', entry.hosts.salt).update(name).digest();
    return mac.length === entry.hosts.hash.length && mac.equals(entry.hosts.hash);
  }
  let positive = false;
  for (const p of entry.hosts.patterns) {
    if (p.startsWith('!')) {
      if (globToRegExp(p.slice(1)).test(name)) return false;
    } else if (globToRegExp(p).test(name)) {
      positive = true;
    }
  }
  return positive;
}

export function knownKeysFor(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = hostLookupName(host, port);
  return entries.filter((e) => !e.marker && entryMatches(e, name));
}

/** The key type inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { status: 'ok'; entry: KnownHostEntry }
  | { status: 'unknown' }
  | { status: 'changed'; expected: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const revoked = entries.find((e) => e.marker === '@revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const known = knownKeysFor(entries, host, port);
  const match = known.find((e) => e.key.equals(key));
  if (match) return { status: 'ok', entry: match };
  // A listed key of another type is not a mismatch for OpenSSH either, but we only offer the listed types
  // (hostKeyAlgorithms), so any listed key that does not match means the host presented something else.
  return known.length ? { status: 'changed', expected: known } : { status: 'unknown' };
}

const ALGORITHMS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * Host key algorithms to offer: only those of the key types listed for the host (like OpenSSH's ordering by
 * known_hosts), so a server with several host keys presents the one we can check. Empty: offer the defaults.
 */
export function hostKeyAlgorithms(keyTypes: string[]): string[] {
  const out: string[] = [];
  for (const t of keyTypes) for (const a of ALGORITHMS_BY_KEY_TYPE[t] ?? []) if (!out.includes(a)) out.push(a);
  return out;
}
