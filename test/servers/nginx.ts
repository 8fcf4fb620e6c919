import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireBinary, serveUntilStopped, startProcess, waitForPort } from './common.ts';

// A real nginx (Debian's, with libnginx-mod-stream) laid out like a Debian VPS in a temp dir: nginx.conf includes
// modules-enabled/*.conf at top level, where 50-mod-stream.conf loads the stream module (as the package installs it),
// and an http site of its own on `sitePort` (the VPS's other site, which must keep working). `command` is the prefix
// the tested code gets (nginx -p DIR -c DIR/nginx.conf), to which it adds -t or -s reload.
// Always `await server.stop()`.

export interface NginxServer {
  dir: string;
  /** Where the tool's own file goes (Debian: /etc/nginx/modules-enabled). */
  modulesEnabled: string;
  sitePort: number;
  command: string[];
  /** How many times nginx reloaded its configuration (SIGHUP lines in the error log). */
  reloads(): number;
  output(): string;
  stop(): Promise<void>;
}

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

export async function startNginx(): Promise<NginxServer> {
  const nginx = requireBinary('/usr/sbin/nginx', 'nginx');
  requireBinary(STREAM_MODULE, 'libnginx-mod-stream');
  const dir = mkdtempSync(join(tmpdir(), 'nginx-'));
  const modulesEnabled = join(dir, 'modules-enabled');
  mkdirSync(modulesEnabled);
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(modulesEnabled, '50-mod-stream.conf'), `load_module ${STREAM_MODULE};\n`);
  const sitePort = await freePort();
  const errorLog = join(dir, 'error.log');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLog} notice;`,
      `include ${modulesEnabled}/*.conf;`,
      'worker_processes 1;',
      'events { worker_connections 64; }',
      'http {',
      '    access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(dir, 'tmp', t)};`),
      '    server {',
      `        listen 127.0.0.1:${sitePort};`,
      '        location / { return 200 "the VPS\'s own site\\n"; }',
      '    }',
      '}',
      '',
    ].join('\n'),
  );
  const command = [nginx, '-p', `${dir}/`, '-c', conf];
  const proc = startProcess([...command, '-g', 'daemon off;'], { logFile: join(dir, 'stdout.log') });
  const output = () => {
    try {
      return `${proc.output()}\n${readFileSync(errorLog, 'utf8').slice(-10_000)}`;
    } catch {
      return proc.output();
    }
  };
  const stop = await serveUntilStopped(proc, dir, () => waitForPort(sitePort, { what: 'nginx', timeoutMs: 10_000, output }));
  return {
    dir,
    modulesEnabled,
    sitePort,
    command,
    reloads: () => (readFileSync(errorLog, 'utf8').match(/signal 1 \(SIGHUP\) received/g) ?? []).length,
    output,
    stop,
  };
}
