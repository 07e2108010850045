/**
 * The dashboard's files (built by runtime/build.mjs into dist/dashboard/), served from memory:
 * read once, gzipped once, with an ETag. Hashed asset names are cached for a year (`immutable`);
 * the page itself is revalidated on every load so a new build is picked up at once.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface StaticFile {
  body: Buffer;
  gzipped: Buffer | null;
  type: string;
  etag: string;
  cacheControl: string;
}

/**
 * Everything on the page comes from this server: no inline script or style, no CDN, no frames.
 * `style-src` allows only files; uPlot and the page set element styles through the CSSOM, which CSP does not govern.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers every dashboard answer carries. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** name → file, for `index.html` and `assets/<name>`. */
export type StaticFiles = ReadonlyMap<string, StaticFile>;

export async function loadStaticFiles(dir: string): Promise<StaticFiles> {
  const files = new Map<string, StaticFile>();
  for (const name of await readdir(dir)) {
    const body = await readFile(join(dir, name));
    const type = TYPES[extname(name)] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 512;
    files.set(name, {
      body,
      gzipped: compressible ? gzipSync(body, { level: 9 }) : null,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      // esbuild names bundles `name-HASH.ext`: such a name never changes content
      cacheControl: /-[A-Z0-9]{8}\.(js|css)$/.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  }
  return files;
}

/** Status, headers and body of a GET for one file, honouring If-None-Match and Accept-Encoding. */
export function answerFile(
  file: StaticFile,
  requestHeaders: { 'if-none-match'?: string | undefined; 'accept-encoding'?: string | undefined },
): { status: number; headers: Record<string, string>; body: Buffer | null } {
  const headers: Record<string, string> = {
    ...PAGE_HEADERS,
    'content-type': file.type,
    'cache-control': file.cacheControl,
    etag: file.etag,
    vary: 'accept-encoding',
  };
  if (requestHeaders['if-none-match'] === file.etag) return { status: 304, headers, body: null };
  if (file.gzipped && /\bgzip\b/.test(requestHeaders['accept-encoding'] ?? '')) {
    headers['content-encoding'] = 'gzip';
    return { status: 200, headers, body: file.gzipped };
  }
  return { status: 200, headers, body: file.body };
}
