import { createServer, type Server } from 'node:http';

// A fake S3-compatible endpoint on loopback for ListObjectsV2 and GetObject, the calls `task backup:status` makes. It
// follows the S3 API reference (ListObjectsV2: path-style GET /<bucket>?list-type=2&prefix=…&continuation-token=…, XML
// ListBucketResult, at most `pageSize` keys per page with NextContinuationToken; GetObject: GET /<bucket>/<key>, the
// body, or 404 NoSuchKey) and refuses a request whose SigV4 Authorization header does not name the expected access
// key, as S3 does (403 InvalidAccessKeyId).

export interface FakeObject {
  key: string;
  lastModified: Date;
  size: number;
  /** What GetObject returns (absent: an empty body). */
  body?: string;
}

export interface FakeS3 {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startFakeS3(o: { bucket: string; accessKeyId: string; objects: FakeObject[]; pageSize?: number }): Promise<FakeS3> {
  const requests: string[] = [];
  const pageSize = o.pageSize ?? 1000;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const xml = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
    };
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith('AWS4-HMAC-SHA256 ') || !auth.includes(`Credential=${o.accessKeyId}/`)) {
      return xml(403, '<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>');
    }
    const bucket = url.pathname.replace(/^\/+|\/+$/g, '');
    const objectPath = /^\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (req.method === 'GET' && objectPath && objectPath[1] === o.bucket && !url.searchParams.has('list-type')) {
      const key = decodeURIComponent(objectPath[2]!);
      const found = o.objects.find((x) => x.key === key);
      if (!found) return xml(404, `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>${esc(key)}</Key></Error>`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'last-modified': found.lastModified.toUTCString() });
      return res.end(found.body ?? '');
    }
    if (req.method !== 'GET' || url.searchParams.get('list-type') !== '2') {
      return xml(400, '<Error><Code>NotImplemented</Code><Message>only ListObjectsV2 and GetObject are simulated</Message></Error>');
    }
    if (bucket !== o.bucket) return xml(404, `<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>${esc(bucket)}</BucketName></Error>`);
    const prefix = url.searchParams.get('prefix') ?? '';
    const all = o.objects.filter((x) => x.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
    const start = Number(url.searchParams.get('continuation-token') ?? '0');
    const page = all.slice(start, start + pageSize);
    const truncated = start + pageSize < all.length;
    const contents = page
      .map((x) => `<Contents><Key>${esc(x.key)}</Key><LastModified>${x.lastModified.toISOString()}</LastModified><ETag>"0"</ETag><Size>${x.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`)
      .join('');
    xml(
      200,
      `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${esc(bucket)}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${pageSize}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${contents}${truncated ? `<NextContinuationToken>${start + pageSize}</NextContinuationToken>` : ''}</ListBucketResult>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}
