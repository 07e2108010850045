/**
 * The dashboard's own HTTP answers, beside the JSON routes: the page and its assets, sign-in and
 * sign-out (the session cookie), and the live stream. Returns false for every other request, which
 * then goes through the admin API's router.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AdminBinding } from './auth';
import { clearedSessionCookie, forgeryRefusal, sameSecret, sessionCookie, type Access } from './access';
import { answerFile, loadStaticFiles, PAGE_HEADERS, type StaticFiles } from './static';
import { requestUrl } from './request-url';
import type { LiveClient, LiveFeed } from './live-feed';
import { constants as zlib, createGzip } from 'node:zlib';

export type WebHandler = (req: IncomingMessage, res: ServerResponse, access: Access) => Promise<boolean>;

export interface WebOptions {
  binding: Pick<AdminBinding, 'token'>;
  /** dist/dashboard */
  assetsDir: string;
  feed: LiveFeed;
  log: Logger;
}

const SIGN_IN_BODY_BYTES = 4_096;
/** a wrong token answers after this pause: guessing stays slow */
const WRONG_TOKEN_DELAY_MS = 300;

export function createWebHandler(options: WebOptions): WebHandler {
  let files: Promise<StaticFiles> | null = null;
  const loadFiles = () => {
    files ??= loadStaticFiles(options.assetsDir).catch((err: unknown) => {
      files = null;
      throw err;
    });
    return files;
  };

  async function serveFile(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    let file;
    try {
      file = (await loadFiles()).get(name);
    } catch (err) {
      options.log.error({ err, dir: options.assetsDir }, 'dashboard assets missing');
      return plain(res, 503, 'The dashboard is not built: run `npm run build` (it writes dist/dashboard/).\n');
    }
    if (!file) return plain(res, 404, `no dashboard asset ${name}\n`);
    const answer = answerFile(file, { 'if-none-match': req.headers['if-none-match'], 'accept-encoding': req.headers['accept-encoding'] as string | undefined });
    res.writeHead(answer.status, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : (answer.body ?? undefined));
  }

  async function signIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = options.binding.token;
    const refusal = forgeryRefusal('POST', req.headers, 'open');
    if (refusal) return json(res, 403, { error: refusal, code: 'WARREN_E_ADMIN_FORGERY' });
    const given = await readSignIn(req);
    if (token === null) return json(res, 200, { signedIn: true, tokenRequired: false });
    if (given === null) {
      // Not a wrong token: no token at all (curl's -d sends a form type with a JSON body, say).
      return json(res, 400, {
        error: 'the sign-in request carries no token',
        code: 'WARREN_E_USAGE',
        hint: `send {"token": "…"} as JSON (content-type: application/json), or a form's token=…`,
      });
    }
    if (!sameSecret(given, token)) {
      await new Promise((r) => setTimeout(r, WRONG_TOKEN_DELAY_MS));
      return json(res, 401, { error: 'wrong token', code: 'WARREN_E_ADMIN_AUTH', hint: 'paste the value of WARREN_ADMIN_TOKEN' });
    }
    res.setHeader('set-cookie', sessionCookie(token));
    json(res, 200, { signedIn: true, tokenRequired: true });
  }

  function stream(req: IncomingMessage, res: ServerResponse): void {
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res.writeHead(200, {
      ...PAGE_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
    });
    res.socket?.setNoDelay(true);
    const unsubscribe = options.feed.subscribe(gzip ? gzipped(res) : res);
    req.on('close', unsubscribe);
  }

  return async (req, res, access) => {
    const path = requestUrl(req.url).pathname;
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (read && (path === '/' || path === '/index.html')) {
      await serveFile(req, res, 'index.html');
      return true;
    }
    if (read && path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      if (!/^[\w.-]+$/.test(name) || name === 'index.html') plain(res, 404, 'not found\n');
      else await serveFile(req, res, name);
      return true;
    }
    if (path === '/session') {
      if (method === 'POST') await signIn(req, res);
      else if (method === 'DELETE') {
        res.setHeader('set-cookie', clearedSessionCookie());
        json(res, 200, { signedIn: false });
      } else if (method === 'GET') {
        // Always 200: the page asks this before anything else, and "not signed in" is an answer, not an
        // error (a 401 here put red lines in the browser's console on every visit to the sign-in form).
        json(res, 200, { signedIn: access.ok, tokenRequired: options.binding.token !== null, ...(access.ok ? {} : { why: access.why, hint: access.hint }) });
      } else json(res, 405, { error: `${method} /session is not supported; use GET, POST or DELETE`, code: 'WARREN_E_USAGE' });
      return true;
    }
    if (path === '/events' && read) {
      if (!access.ok) json(res, 401, { error: access.why, code: 'WARREN_E_ADMIN_AUTH', hint: access.hint });
      else stream(req, res);
      return true;
    }
    // The page, its assets and its feed exist, only not for this method: HTTP's answer is 405, with Allow.
    if (!read && (path === '/' || path === '/index.html' || path === '/events' || path.startsWith('/assets/'))) {
      res.setHeader('allow', 'GET, HEAD');
      json(res, 405, { error: `${method} ${path} is not supported; use GET`, code: 'WARREN_E_USAGE', hint: `send GET ${path}` });
      return true;
    }
    return false;
  };
}

/** `{"token": "…"}` or a form's `token=…`; null when neither. */
async function readSignIn(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > SIGN_IN_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  // A JSON body sent with a form's type (`curl -d '{"token":…}'`) is still read as JSON.
  if (/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') && !text.trimStart().startsWith('{'))
    return new URLSearchParams(text).get('token');
  try {
    const body = JSON.parse(text) as { token?: unknown };
    return typeof body.token === 'string' ? body.token : null;
  } catch {
    return null;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...PAGE_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body) + '\n');
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The live feed gzipped: its frames repeat each other, and with twenty functions the first load sent
 * 240 KB of history and 22 KB a second uncompressed (SPEC §9: a first load under 300 KB). Each event is
 * flushed whole at once (a sync flush keeps the dictionary, so a frame like the last costs little).
 */
function gzipped(res: ServerResponse): LiveClient {
  const z = createGzip();
  z.pipe(res);
  res.on('close', () => z.destroy());
  return {
    write(chunk: string) {
      z.write(chunk);
      z.flush(zlib.Z_SYNC_FLUSH);
      return true;
    },
    get writableLength() {
      return res.writableLength + z.writableLength;
    },
    end: () => z.end(),
  };
}
