import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, requireBinary, serveUntilStopped, startProcess } from './common.ts';

// A real PowerDNS Authoritative server (pdns_server + gsqlite3 backend) on free loopback ports, in a temp dir:
// DNS on dnsPort, HTTP API on apiPort with `apiKey`. `pdnsutil` edits the same database (pdnsutilArgv is the
// command prefix, as powerdns.delegation.pdnsutil takes it). Caches are off so answers follow changes at once.
// Always `await server.stop()`.

export interface PdnsServer {
  dir: string;
  dnsPort: number;
  apiPort: number;
  apiUrl: string;
  apiKey: string;
  pdnsutilArgv: string[];
  /** Runs pdnsutil against this server's database (test setup). */
  pdnsutil(args: string[]): string;
  output(): string;
  stop(): Promise<void>;
}

const SCHEMA = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql';

export interface PdnsOptions {
  apiKey?: string;
  zones?: { name: string; nameserver: string }[];
  /** More pdns.conf lines, e.g. primary=yes / secondary=yes for a zone-transfer pair. */
  extraConfig?: string[];
}

export async function startPdns(opts: PdnsOptions = {}): Promise<PdnsServer> {
  const pdnsServer = requireBinary('/usr/sbin/pdns_server', 'pdns-server');
  const pdnsutil = requireBinary('/usr/bin/pdnsutil', 'pdns-server');
  requireBinary(SCHEMA, 'pdns-backend-sqlite3');
  const sqlite = requireBinary('/usr/bin/sqlite3', 'sqlite3');
  const dir = mkdtempSync(join(tmpdir(), 'pdns-'));
  const db = join(dir, 'pdns.sqlite3');
  execFileSync(sqlite, [db], { input: readFileSync(SCHEMA) });
  const [dnsPort, apiPort] = [await freePort(), await freePort()];
  const apiKey = opts.apiKey ?? `test-key-${Math.random().toString(36).slice(2)}`;
  writeFileSync(
    join(dir, 'pdns.conf'),
    [
      'launch=gsqlite3',
      `gsqlite3-database=${db}`,
      'local-address=127.0.0.1',
      `local-port=${dnsPort}`,
      'api=yes',
      `api-key=${apiKey}`,
      'webserver=yes',
      'webserver-address=127.0.0.1',
      `webserver-port=${apiPort}`,
      'webserver-allow-from=127.0.0.0/8',
      `socket-dir=${dir}`,
      'guardian=no',
      'daemon=no',
      'disable-syslog=yes',
      'security-poll-suffix=',
      'cache-ttl=0',
      'negquery-cache-ttl=0',
      'query-cache-ttl=0',
      'zone-cache-refresh-interval=0',
      'receiver-threads=1',
      'distributor-threads=1',
      'loglevel=4',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );
  const pdnsutilArgv = [pdnsutil, `--config-dir=${dir}`];
  const run = (args: string[]) => execFileSync(pdnsutilArgv[0]!, [...pdnsutilArgv.slice(1), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  for (const z of opts.zones ?? []) run(['create-zone', z.name, z.nameserver]);
  const proc = startProcess([pdnsServer, `--config-dir=${dir}`], { logFile: join(dir, 'pdns.log') });
  // Ready when the API answers with the key (the DNS listener is up by then).
  const stop = await serveUntilStopped(proc, dir, async () => {
    const deadline = Date.now() + 15_000;
    let last = '';
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/servers/localhost`, { headers: { 'X-API-Key': apiKey }, signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (proc.exited || Date.now() > deadline) throw new Error(`pdns_server did not become ready on 127.0.0.1:${apiPort} (${last})\n${proc.output()}`);
      await sleep(50);
    }
  });
  return { dir, dnsPort, apiPort, apiUrl: `http://127.0.0.1:${apiPort}`, apiKey, pdnsutilArgv, pdnsutil: run, output: proc.output, stop };
}
