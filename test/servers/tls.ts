import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, serveUntilStopped, startProcess, waitForPort } from './common.ts';

// A TLS server on loopback (`openssl s_server`) with its own self-signed certificate: it stands in for the cluster's
// ingress (or the VPS's own HTTPS site), on `host` (any 127.x address: all of 127/8 is loopback on Linux). `fingerprint` is the certificate's SHA-256, as X509Certificate prints it.

export interface TlsServer {
  port: number;
  fingerprint: string;
  subject: string;
  stop(): Promise<void>;
}

export async function startTlsServer(commonName: string, host = '127.0.0.1'): Promise<TlsServer> {
  const openssl = requireBinary('/usr/bin/openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${commonName}`, '-days', '2'], { stdio: 'ignore' });
  const x509 = new X509Certificate(readFileSync(cert));
  const port = await freePort();
  const proc = startProcess([openssl, 's_server', '-accept', `${host}:${port}`, '-cert', cert, '-key', key, '-www'], { logFile: join(dir, 's_server.log') });
  const stop = await serveUntilStopped(proc, dir, () => waitForPort(port, { host, what: 'openssl s_server', timeoutMs: 10_000, output: proc.output }));
  return {
    port,
    fingerprint: x509.fingerprint256,
    subject: x509.subject,
    stop,
  };
}

/** The SHA-256 fingerprint of the certificate a TLS handshake with host:port for `servername` shows (s_client). */
export function handshakeFingerprint(port: number, servername: string): string | undefined {
  const out = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], { input: '', encoding: 'utf8', timeout: 15_000 });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out.stdout ?? '')?.[0];
  return pem ? new X509Certificate(pem).fingerprint256 : undefined;
}
