/**
 * The admin HTTP server (node:http): authenticates, parses the JSON body, hands over to the router,
 * writes the answer. Started before the App connects, so /healthz and /readyz answer while the broker is down.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WarrenError } from '../errors';
import type { AdminBinding } from './auth';
import { checkAccess, forgeryRefusal } from './access';
import { requestUrl } from './request-url';
import { bodyHint } from './validate';
import { fail, type Reply } from './replies';
import type { AdminRequest, Router } from './routes';
import type { WebHandler } from './web';

export interface AdminServer {
  /** where it listens (the real port when WARREN_ADMIN_PORT=0) */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
/**
 * A replay may carry a dead letter's edited body, as large as the letter was (a message under the
 * broker's 128 MiB default): its route takes more. A letter of 100 KB could be opened but not
 * replayed edited.
 */
const MAX_REPLAY_BODY_BYTES = 16 * 1024 * 1024;
const REPLAY_PATH = /^\/functions\/[^/]+\/dead-letters\/replay\/?$/;

/**
 * A client gets 10 s to send its headers and 30 s for the whole request (Node's defaults are 60 s and
 * 5 min, checked every 30 s): a connection trickling bytes is cut off, and never holds up the others,
 * which node:http serves side by side anyway.
 */
const TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000, keepAliveTimeout: 5_000 };

export async function startAdminServer(binding: AdminBinding, router: Router, log: Logger, web?: WebHandler): Promise<AdminServer> {
  const server = createServer(TIMEOUTS, (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'admin request failed');
      if (!res.headersSent) write(res, fail('WARREN_E_INTERNAL', 'internal error; see the runtime log'));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const access = checkAccess(req.headers, binding);
    // The dashboard's page, assets, sign-in and live stream (runtime/admin/web.ts) decide access themselves.
    if (web && (await web(req, res, access))) return;
    if (!access.ok) {
      res.setHeader('www-authenticate', 'Bearer');
      write(res, fail('WARREN_E_ADMIN_AUTH', access.why, access.hint));
      req.resume();
      return;
    }
    const forgery = forgeryRefusal(req.method ?? 'GET', req.headers, access.via);
    if (forgery) {
      write(res, fail('WARREN_E_ADMIN_FORGERY', forgery, 'the dashboard sends the X-Warren-Request header itself; other clients use `Authorization: Bearer`'));
      req.resume();
      return;
    }
    const url = requestUrl(req.url);
    const limit = req.method === 'POST' && REPLAY_PATH.test(url.pathname) ? MAX_REPLAY_BODY_BYTES : MAX_BODY_BYTES;
    const body = await readJson(req, limit);
    if (body instanceof TooLarge) {
      // The rest of the body is not read: the connection closes after this answer.
      res.setHeader('connection', 'close');
      return write(res, fail('WARREN_E_USAGE', body.message, `send at most ${limit} bytes`, 413));
    }
    if (body instanceof Error) return write(res, fail('WARREN_E_USAGE', body.message, bodyHint(url.pathname.replace(/\/+$/, ''))));
    // HEAD is a GET without the body (load balancers and uptime probes send it).
    const head = req.method === 'HEAD';
    const request: AdminRequest = {
      method: head ? 'GET' : (req.method ?? 'GET'),
      path: url.pathname.replace(/\/+$/, '') || '/',
      query: url.searchParams,
      body,
    };
    const reply = await router(request);
    log.debug({ method: req.method, path: request.path, status: reply.status }, 'admin request');
    write(res, reply, head);
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new WarrenError('WARREN_E_ADMIN_ADDRESS', `the admin API cannot listen on ${binding.host}:${binding.port}: ${err.code ?? err.message}`, {
          hint:
            err.code === 'EADDRINUSE' ? 'another process uses that port: set WARREN_ADMIN_PORT to a free one' : 'check WARREN_ADMIN_HOST and WARREN_ADMIN_PORT',
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(binding.port, binding.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'admin API error'));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => answerClientError(err, socket));
  const address = server.address() as AddressInfo;
  log.info({ host: address.address, port: address.port, auth: binding.token ? 'bearer token' : 'none (loopback)' }, 'admin API listening');

  let closing: Promise<void> | null = null;
  return {
    host: address.address,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function write(res: ServerResponse, reply: Reply, head = false): void {
  const payload = reply.text ?? JSON.stringify(reply.body ?? {}) + '\n';
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': reply.contentType ?? (reply.text === undefined ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8'),
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : payload);
}

/**
 * What node:http finds wrong before a request reaches `handle` (malformed request line, headers
 * over 16 KiB, a client too slow to send them): the same JSON error as every other answer, where
 * Node's default would send a bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'request headers too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'the request was not received in time']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ error: message, code: 'WARREN_E_USAGE' }) + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

class TooLarge extends Error {}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return new TooLarge(`request body of ${declared} bytes is over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return new TooLarge(`request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return new Error(`request body is not JSON: ${(err as Error).message}`);
  }
}
