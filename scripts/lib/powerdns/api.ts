import type { Logger } from '../core/log.ts';
import { fetchOnce, NoAnswerError } from '../core/http.ts';
import { retry } from '../core/retry.ts';
import { redact, registerSecret } from '../core/redact.ts';

// A small PowerDNS Authoritative HTTP API client (tool-facts.md §5.2–5.3): X-API-Key auth, Accept: application/json,
// bounded retries with backoff on network errors, timeouts, 429 and 5xx; 4xx fail at once with PowerDNS's message.
//
//   GET   {api}/api/v1/servers/{id}/zones/{zone}.      → zone with rrsets (404 → undefined)
//   POST  {api}/api/v1/servers/{id}/zones               {name, kind: Native, nameservers}  → 201 (409: exists)
//   PATCH {api}/api/v1/servers/{id}/zones/{zone}.       {rrsets: [… changetype REPLACE]}   → 204
//   PUT   {api}/api/v1/servers/{id}/zones/{zone}.       {kind: Master}                     → 204
//   GET   {api}/api/v1/servers/{id}/zones/{zone}./metadata/{KIND}                          → {metadata: [...]}
//   PUT   {api}/api/v1/servers/{id}/zones/{zone}./metadata/{KIND}  {kind, metadata: [...]} → 200
//   PUT   {api}/api/v1/servers/{id}/zones/{zone}./notify                                   → 200 (NOTIFY to secondaries)

export interface PdnsZone {
  id: string;
  name: string;
  kind: string;
  rrsets?: { name: string; type: string; ttl: number; records: { content: string; disabled?: boolean }[] }[];
}

export class PowerDnsError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly attempts: number,
  ) {
    super(redact(message));
    this.name = 'PowerDnsError';
  }
}

export interface PowerDnsApiOptions {
  apiUrl: string;
  serverId: string;
  apiKey: string;
  log: Logger;
  /** Attempts per request on transient failures (default 4). */
  attempts?: number;
  /** First pause between attempts, doubled each time (default 500 ms). */
  backoffMs?: number;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
  /** A progress line this often while a request waits (default 5 s). */
  progressEveryMs?: number;
}

export class PowerDnsApi {
  readonly base: string;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: PowerDnsApiOptions) {
    registerSecret(opts.apiKey);
    const root = opts.apiUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
    this.base = `${root}/api/v1/servers/${encodeURIComponent(opts.serverId)}`;
    this.attempts = Math.max(1, opts.attempts ?? 4);
    this.backoffMs = opts.backoffMs ?? 500;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  zonesUrl(): string {
    return `${this.base}/zones`;
  }

  zoneUrl(zone: string): string {
    const id = zone.endsWith('.') ? zone : `${zone}.`;
    return `${this.base}/zones/${encodeURIComponent(id)}`;
  }

  async getZone(zone: string): Promise<PdnsZone | undefined> {
    const res = await this.request('GET', this.zoneUrl(zone), undefined, [404]);
    return res.status === 404 ? undefined : (res.body as PdnsZone);
  }

  /** Creates a Native zone; an existing one (409, e.g. after a retried request) is read instead. */
  async createZone(body: { name: string; kind: string; nameservers: string[] }): Promise<PdnsZone> {
    const res = await this.request('POST', this.zonesUrl(), body, [409]);
    if (res.status === 409) {
      const zone = await this.getZone(body.name);
      if (!zone) throw new PowerDnsError(`POST ${this.zonesUrl()} answered 409 Conflict but zone ${body.name} cannot be read`, 409, 1);
      return zone;
    }
    return res.body as PdnsZone;
  }

  async patchZone(zone: string, body: { rrsets: unknown[] }): Promise<void> {
    await this.request('PATCH', this.zoneUrl(zone), body);
  }

  /** Changes zone properties (e.g. kind). */
  async putZone(zone: string, body: Record<string, unknown>): Promise<void> {
    await this.request('PUT', this.zoneUrl(zone), body);
  }

  metadataUrl(zone: string, kind: string): string {
    return `${this.zoneUrl(zone)}/metadata/${encodeURIComponent(kind)}`;
  }

  /** The values of one zone metadata kind (empty when unset). */
  async getMetadata(zone: string, kind: string): Promise<string[]> {
    const res = await this.request('GET', this.metadataUrl(zone, kind), undefined, [404]);
    return res.status === 404 ? [] : ((res.body as { metadata?: string[] } | undefined)?.metadata ?? []);
  }

  /** Replaces every value of one zone metadata kind. */
  async putMetadata(zone: string, kind: string, values: string[]): Promise<void> {
    await this.request('PUT', this.metadataUrl(zone, kind), { kind, metadata: values });
  }

  notifyUrl(zone: string): string {
    return `${this.zoneUrl(zone)}/notify`;
  }

  /** Queues a NOTIFY to the zone's secondaries (the zone must be a primary and the server run with primary=yes). */
  async notify(zone: string): Promise<void> {
    await this.request('PUT', this.notifyUrl(zone));
  }

  private async request(method: string, url: string, body?: unknown, accept: number[] = []): Promise<{ status: number; body: unknown }> {
    return retry(
      {
        attempts: this.attempts,
        backoffMs: this.backoffMs,
        log: this.opts.log,
        what: `PowerDNS ${method} ${url}`,
        // 4xx (PowerDnsError) fail at once; network errors, timeouts, 429 and 5xx are retried.
        retryable: (err) => !(err instanceof PowerDnsError),
        describe: (err) => (err as Error).message,
        fail: (err, attempts) =>
          err instanceof PowerDnsError
            ? err
            : new PowerDnsError(`PowerDNS API ${method} ${url} failed after ${attempts} attempts: ${(err as Error).message}; is the server up at ${this.opts.apiUrl}?`, undefined, attempts),
      },
      (attempt) => this.attempt(method, url, body, accept, attempt),
    );
  }

  /** One request; a transient failure throws a plain Error whose message is the reason. */
  private async attempt(method: string, url: string, body: unknown, accept: number[], attempt: number): Promise<{ status: number; body: unknown }> {
    let res: Response;
    let text: string;
    try {
      // The deadline and the progress line while it waits: core/http.ts (the retries stay here, with PowerDNS's rules).
      res = await fetchOnce(
        url,
        {
          method,
          headers: { 'X-API-Key': this.opts.apiKey, Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        },
        { what: 'PowerDNS API', log: this.opts.log, timeoutMs: this.timeoutMs, ...(this.opts.progressEveryMs ? { progressEveryMs: this.opts.progressEveryMs } : {}) },
      );
      text = await res.text();
    } catch (err) {
      if (err instanceof NoAnswerError) throw new Error(err.message);
      const e = err as Error & { cause?: { code?: string; message?: string } };
      throw new Error(e.name === 'TimeoutError' ? `no answer within ${this.timeoutMs}ms` : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`);
    }
    const status = res.status;
    this.opts.log.debug(`PowerDNS ${method} ${url}`, { status, attempt });
    if (res.ok || accept.includes(status)) {
      return { status, body: text ? (JSON.parse(text) as unknown) : undefined };
    }
    const detail = (() => {
      try {
        const j = JSON.parse(text) as { error?: string; errors?: string[] };
        return [j.error, ...(j.errors ?? [])].filter(Boolean).join('; ');
      } catch {
        return text.trim().slice(0, 300);
      }
    })();
    const last = `${status} ${res.statusText}${detail ? `: ${detail}` : ''}`;
    if (status < 500 && status !== 429) {
      const hint =
        status === 401 || status === 403
          ? ' (check that PDNS_API_KEY in .env matches api-key in the server\'s pdns.conf)'
          : status === 404
            ? ` (check powerdns.apiUrl and powerdns.serverId "${this.opts.serverId}")`
            : '';
      throw new PowerDnsError(`PowerDNS API ${method} ${url} failed: ${last}${hint}`, status, attempt);
    }
    throw new Error(last);
  }
}
