import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { httpFetch, NoAnswerError } from '../../scripts/lib/core/http.ts';
import { Logger } from '../../scripts/lib/core/log.ts';
import { PowerDnsApi, PowerDnsError } from '../../scripts/lib/powerdns/api.ts';

// Every HTTP call gets a deadline, bounded retries, a progress line while it waits and an error in our words
// (scripts/lib/core/http.ts), against real local servers: one that never answers, one that answers 503 first.

function capture() {
  const lines: string[] = [];
  return { lines, log: new Logger({ level: 'debug', write: (l) => lines.push(l) }) };
}

/** A TCP server that accepts and never answers. */
async function silentServer(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => sockets.add(s));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((res) => (sockets.forEach((s) => s.destroy()), server.close(() => res()))),
  };
}

test('no answer: retried within bounds, a progress line while waiting, then NoAnswerError in our words', async () => {
  const silent = await silentServer();
  const { lines, log } = capture();
  try {
    const f = httpFetch({ what: 'Example API', log, timeoutMs: 300, attempts: 2, backoffMs: 5, progressEveryMs: 100 });
    await f(`${silent.url}/x`).then(
      () => assert.unreachable('answered'),
      (err: unknown) => {
        assert.instance(err, NoAnswerError);
        assert.is((err as Error).message, `Example API did not answer GET ${silent.url}/x (2 attempts): no answer within 0.3s`);
      },
    );
  } finally {
    await silent.close();
  }
  assert.ok(lines.some((l) => l.startsWith(`waiting for Example API (GET ${silent.url}/x): no answer yet after`)), lines.join('\n'));
  assert.is(lines.filter((l) => l.includes('retrying in 5ms (attempt 2/2)')).length, 1);
});

test('a refused connection is retried and then named; a 503 is retried and the next answer returned', async () => {
  const { log } = capture();
  const closed = await silentServer();
  const url = closed.url;
  await closed.close();
  await httpFetch({ what: 'Example API', log, attempts: 2, backoffMs: 5 })(url).then(
    () => assert.unreachable(),
    (err: unknown) => assert.match((err as Error).message, /Example API did not answer GET .* \(2 attempts\): ECONNREFUSED/),
  );
  let n = 0;
  const server = createHttpServer((_, res) => {
    n++;
    res.writeHead(n === 1 ? 503 : 200).end(n === 1 ? 'busy' : 'ok');
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  try {
    const res = await httpFetch({ what: 'Example API', log, attempts: 3, backoffMs: 5 })(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    assert.is(res.status, 200);
    assert.is(await res.text(), 'ok');
    assert.is(n, 2);
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
  }
});

test('the PowerDNS API client: a silent server gets a progress line and a bounded, clear failure', async () => {
  const silent = await silentServer();
  const { lines, log } = capture();
  try {
    const api = new PowerDnsApi({ apiUrl: silent.url, serverId: 'localhost', apiKey: 'pdns-secret-key-1', log, attempts: 2, backoffMs: 5, timeoutMs: 300, progressEveryMs: 100 });
    await api.getZone('k8s.example.org').then(
      () => assert.unreachable(),
      (err: unknown) => {
        assert.instance(err, PowerDnsError);
        assert.match((err as Error).message, /failed after 2 attempts: no answer within 0\.3s; is the server up at/);
      },
    );
  } finally {
    await silent.close();
  }
  assert.ok(lines.some((l) => l.startsWith('waiting for PowerDNS API (GET ')), lines.join('\n'));
  assert.not.ok(lines.join('\n').includes('pdns-secret-key-1'));
});

test.run();
