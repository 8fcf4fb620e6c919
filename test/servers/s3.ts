import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

// A fake S3-compatible endpoint on loopback, path-style (/<bucket>/<key>), serving what its two clients send:
// `task backup:status` (AWS SDK v3: ListObjectsV2) and rclone 1.60 with provider=Other (the in-cluster upload.sh and
// etcd:restore --from s3: HEAD and PUT of objects, ListObjects v1 with delimiter/marker, GET of objects). It follows
// the S3 API reference: ListObjects (v1: marker, NextMarker when a delimiter is given) and ListObjectsV2
// (continuation-token, start-after, KeyCount) with prefix, delimiter/CommonPrefixes, max-keys and encoding-type=url;
// PutObject checks Content-MD5 (400 BadDigest) and keeps the x-amz-meta-* headers rclone stores the mtime in;
// HeadObject/GetObject answer 404 NoSuchKey for a missing key (HEAD without a body), GET honours one byte range.
// Strict: any other operation (a sub-resource such as ?uploads, ?acl, another method) is 501 NotImplemented, and a
// request whose SigV4 Authorization header does not name the expected access key is 403 InvalidAccessKeyId, as S3 does.

export interface FakeObject {
  key: string;
  lastModified: Date;
  size: number;
  /** The content; without it, `size` zero bytes. */
  body?: Buffer | string;
}

interface Stored {
  body: Buffer;
  lastModified: Date;
  contentType: string;
  meta: Record<string, string>;
}

export interface FakeS3 {
  url: string;
  /** "METHOD /path?query" of every request, in order. */
  requests: string[];
  /** The stored objects by key (what clients PUT, and the initial ones). */
  objects: Map<string, Stored>;
  close(): Promise<void>;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** The query parameters each listing takes (S3 API reference, ListObjects and ListObjectsV2). */
const LIST_V1 = new Set(['delimiter', 'encoding-type', 'marker', 'max-keys', 'prefix']);
const LIST_V2 = new Set(['list-type', 'continuation-token', 'delimiter', 'encoding-type', 'fetch-owner', 'max-keys', 'prefix', 'start-after']);

export async function startFakeS3(o: { bucket: string; accessKeyId: string; objects?: FakeObject[]; pageSize?: number }): Promise<FakeS3> {
  const requests: string[] = [];
  const pageSize = o.pageSize ?? 1000;
  const objects = new Map<string, Stored>(
    (o.objects ?? []).map((x) => [x.key, { body: x.body === undefined ? Buffer.alloc(x.size) : Buffer.from(x.body), lastModified: x.lastModified, contentType: 'application/octet-stream', meta: {} }]),
  );

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const xml = (status: number, content: string) => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n${content}`);
    };
    const error = (status: number, code: string, message: string, extra = '') =>
      xml(status, `<Error><Code>${code}</Code><Message>${esc(message)}</Message>${extra}<RequestId>fake</RequestId></Error>`);
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith('AWS4-HMAC-SHA256 ') || !auth.includes(`Credential=${o.accessKeyId}/`)) {
      return error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    }
    const [, bucketPart = '', ...rest] = url.pathname.split('/');
    const bucket = decodeURIComponent(bucketPart);
    const key = decodeURIComponent(rest.join('/'));
    const params = [...url.searchParams.keys()];
    if (bucket !== o.bucket) return error(404, 'NoSuchBucket', 'The specified bucket does not exist', `<BucketName>${esc(bucket)}</BucketName>`);
    const notImplemented = (what: string) => error(501, 'NotImplemented', `${what} is not simulated by the fake S3 (test/servers/s3.ts)`);

    if (!key) {
      if (req.method !== 'GET') return notImplemented(`${req.method} on a bucket`);
      const v2 = url.searchParams.get('list-type') === '2';
      const allowed = v2 ? LIST_V2 : LIST_V1;
      const unknown = params.filter((p) => !allowed.has(p));
      if (unknown.length || (url.searchParams.has('list-type') && !v2)) return notImplemented(`bucket sub-resource ?${unknown.join('&') || 'list-type'}`);
      return list(url.searchParams, v2);
    }
    // AWS SDK v3 names the operation in the query (?x-id=GetObject); S3 ignores it. Any other parameter is a sub-resource.
    const operation = { GET: 'GetObject', HEAD: 'HeadObject', PUT: 'PutObject' }[req.method ?? ''];
    const subResources = params.filter((p) => !(p === 'x-id' && url.searchParams.get('x-id') === operation));
    if (subResources.length) return notImplemented(`object sub-resource ?${subResources.join('&')}`);
    if (req.method === 'PUT') {
      if (req.headers['x-amz-copy-source']) return notImplemented('CopyObject');
      const wanted = req.headers['content-md5'];
      if (wanted && String(wanted) !== md5(body).toString('base64')) return error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
      const meta = Object.fromEntries(Object.entries(req.headers).filter(([h]) => h.startsWith('x-amz-meta-')).map(([h, v]) => [h, String(v)]));
      objects.set(key, { body, lastModified: new Date(), contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'), meta });
      res.writeHead(200, { etag: `"${md5(body).toString('hex')}"` });
      return res.end();
    }
    if (req.method === 'HEAD' || req.method === 'GET') {
      const obj = objects.get(key);
      if (!obj) return error(404, 'NoSuchKey', 'The specified key does not exist.', `<Key>${esc(key)}</Key>`);
      const headers = {
        'content-type': obj.contentType,
        etag: `"${md5(obj.body).toString('hex')}"`,
        'last-modified': obj.lastModified.toUTCString(),
        'accept-ranges': 'bytes',
        ...obj.meta,
      };
      const range = req.method === 'GET' ? req.headers.range : undefined;
      if (range) {
        const m = /^bytes=(\d+)-(\d*)$/.exec(range);
        if (!m) return notImplemented(`Range ${range}`);
        const start = Number(m[1]);
        const end = Math.min(m[2] ? Number(m[2]) : obj.body.length - 1, obj.body.length - 1);
        if (start > end) return error(416, 'InvalidRange', 'The requested range is not satisfiable');
        res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${obj.body.length}` });
        return res.end(obj.body.subarray(start, end + 1));
      }
      res.writeHead(200, { ...headers, 'content-length': obj.body.length });
      return res.end(req.method === 'GET' ? obj.body : undefined);
    }
    return notImplemented(`${req.method} on an object`);

    function list(q: URLSearchParams, v2: boolean) {
      const prefix = q.get('prefix') ?? '';
      const delimiter = q.get('delimiter') ?? '';
      const maxKeys = Math.min(Number(q.get('max-keys') ?? '1000'), pageSize);
      const enc = q.get('encoding-type') === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
      const after = v2 ? (q.get('continuation-token') ?? q.get('start-after') ?? '') : (q.get('marker') ?? '');
      // Keys and common prefixes in key order, each common prefix once: what one page of S3 holds.
      const entries: { key: string; common: boolean }[] = [];
      for (const k of [...objects.keys()].sort()) {
        if (!k.startsWith(prefix)) continue;
        const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
        const entry = cut >= 0 ? { key: k.slice(0, cut + delimiter.length), common: true } : { key: k, common: false };
        if (entry.key <= after) continue;
        if (entries.at(-1)?.key !== entry.key) entries.push(entry);
      }
      const page = entries.slice(0, maxKeys);
      const truncated = entries.length > maxKeys;
      const last = page.at(-1)?.key ?? '';
      const contents = page
        .filter((e) => !e.common)
        .map((e) => {
          const x = objects.get(e.key)!;
          return `<Contents><Key>${esc(enc(e.key))}</Key><LastModified>${x.lastModified.toISOString()}</LastModified><ETag>"${md5(x.body).toString('hex')}"</ETag><Size>${x.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        })
        .join('');
      const commons = page.filter((e) => e.common).map((e) => `<CommonPrefixes><Prefix>${esc(enc(e.key))}</Prefix></CommonPrefixes>`).join('');
      const head = `<Name>${esc(o.bucket)}</Name><Prefix>${esc(enc(prefix))}</Prefix>${delimiter ? `<Delimiter>${esc(enc(delimiter))}</Delimiter>` : ''}<MaxKeys>${maxKeys}</MaxKeys>${q.get('encoding-type') ? '<EncodingType>url</EncodingType>' : ''}<IsTruncated>${truncated}</IsTruncated>`;
      const paging = v2
        ? `<KeyCount>${page.length}</KeyCount>${truncated ? `<NextContinuationToken>${esc(last)}</NextContinuationToken>` : ''}`
        : `<Marker>${esc(enc(after))}</Marker>${truncated && delimiter ? `<NextMarker>${esc(enc(last))}</NextMarker>` : ''}`;
      return xml(200, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${head}${paging}${contents}${commons}</ListBucketResult>`);
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, requests, objects, close: () => new Promise((r) => server.close(() => r())) };
}
