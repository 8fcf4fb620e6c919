import { createServer as createHttpServer, request } from 'node:http';
import { createServer, connect, type Socket } from 'node:net';

// Fault-injecting proxies in front of the real servers:
//   startTcpProxy    drops the first N connections (accept, then reset) — an SSH server refusing connections
//   startHttpProxy   answers the first N requests with a 5xx — a PowerDNS API in trouble — then forwards; with
//                    `open`, also every request while open() is false (a Service with no endpoints yet)

export interface Proxy {
  port: number;
  close(): Promise<void>;
}

export interface HttpProxy extends Proxy {
  /** "METHOD /path" of every request, in order. */
  requests: string[];
  /** The next n requests get the 5xx. */
  failNext(n: number): void;
  /** How many requests got the 5xx. */
  refused(): number;
}

export async function startTcpProxy(target: { host: string; port: number }, opts: { dropFirst: number }): Promise<Proxy> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    count++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (count <= opts.dropFirst) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export async function startHttpProxy(
  target: { host: string; port: number },
  opts: { failFirst: number; status?: number; open?: () => boolean; body?: string; listen?: { host: string; port: number } },
): Promise<HttpProxy> {
  let count = 0;
  let refused = 0;
  let failUntil = opts.failFirst;
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    count++;
    requests.push(`${req.method} ${decodeURIComponent((req.url ?? '').split('?')[0]!)}`);
    if (count <= failUntil || (opts.open && !opts.open())) {
      refused++;
      req.resume();
      res.writeHead(opts.status ?? 503, { 'Content-Type': 'application/json' });
      res.end(opts.body ?? JSON.stringify({ error: 'Service Unavailable (injected)' }));
      return;
    }
    const up = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(e.message);
    });
    req.pipe(up);
  });
  // A fixed address (`listen`: a config rule pins the port) may be taken; say so rather than hang.
  const at = opts.listen ?? { host: '127.0.0.1', port: 0 };
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`the HTTP proxy cannot listen on ${at.host}:${at.port}: ${e.message}`)));
    server.listen(at.port, at.host, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    requests,
    failNext: (n: number) => {
      failUntil = count + n;
    },
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
