/**
 * The admin API's dead-letter routes: a page of a function's dead letters (searched), one opened,
 * replay (all, those a search shows, the selected ones, one with an edited body) into the function's
 * own queue, purge.
 * Each names the function; its dead-letter queue and queue come from the config.
 */
import type { BrowseOptions, DeadLetterDetail, DeadLetterPage, ReplayOptions, ReplayResult } from '../deadletters';
import { functionNamed, type WarrenConfig } from '../config/types';
import { deadLetterQueue } from './view';
import { fail, ok, type Reply } from './replies';
import type { AdminRequest } from './routes';
import { integerField, isReply, noOptions, objectBody, onlyKeys } from './validate';

/** The dead-letter tools (runtime/deadletters/); the admin API and the CLI share them. */
export interface DeadLetterTools {
  browse(url: string, queue: string, options: BrowseOptions): Promise<DeadLetterPage>;
  find(url: string, queue: string, key: string): Promise<DeadLetterDetail[]>;
  replay(url: string, deadQueue: string, options: ReplayOptions): Promise<ReplayResult>;
  purge(url: string, queue: string): Promise<number>;
}

export interface DeadLetterRoute {
  method: string;
  pattern: RegExp;
  run(req: AdminRequest, name: string): Promise<Reply>;
}

export interface DeadLetterRouteDeps {
  tools: DeadLetterTools | null;
  config(): WarrenConfig | undefined;
  url(config: WarrenConfig): string;
  /** a 404 naming the known functions, or null when `name` is one */
  knownFunction(name: string): Reply | null;
}

/** What a route needs about the function whose dead letters it works on. */
interface Target {
  url: string;
  deadQueue: string;
  queue: string;
  tools: DeadLetterTools;
}

const MAX_KEYS = 1_000;
/** the longest search a replay takes (the dashboard's search box) */
const MAX_SEARCH = 512;
const MAX_PAGE = 500;

export function deadLetterRoutes(deps: DeadLetterRouteDeps): DeadLetterRoute[] {
  /** Everything a route needs about the function, or the answer that refuses it. */
  function target(name: string): Target | Reply {
    const unknown = deps.knownFunction(name);
    if (unknown) return unknown;
    if (!deps.tools) return fail('WARREN_E_NOT_IMPLEMENTED', 'dead-letter tools are not available in this build', 'use the RabbitMQ management UI meanwhile');
    const config = deps.config()!;
    const fn = functionNamed(config, name);
    const deadQueue = deadLetterQueue(fn);
    if (!fn || !deadQueue) return fail('WARREN_E_UNKNOWN_FUNCTION', `function ${name} has no dead-letter queue (deadLetter: false)`);
    return { url: deps.url(config), deadQueue, queue: fn.queue, tools: deps.tools };
  }

  return [
    {
      method: 'GET',
      pattern: /^\/functions\/([^/]+)\/dead-letters$/,
      async run(req, name) {
        const t = target(name);
        if (isReply(t)) return t;
        const offset = integerField(req.body, req.query, 'offset', { min: 0, max: 1_000_000, example: '?offset=20' });
        const limit = integerField(req.body, req.query, 'limit', { min: 1, max: MAX_PAGE, example: '?limit=20' });
        if (isReply(offset)) return offset;
        if (isReply(limit)) return limit;
        // ?id= opens one: any id, `.` and `..` too, which no URL path can carry (every client and the
        // server itself take them for "this folder" and "the folder above").
        const id = req.query.get('id');
        if (id !== null) return opened(t, id);
        const search = req.query.get('search') ?? req.query.get('q') ?? undefined;
        return ok(
          await t.tools.browse(t.url, t.deadQueue, {
            ...(search ? { search } : {}),
            ...(offset === undefined ? {} : { offset }),
            ...(limit === undefined ? {} : { limit }),
          }),
        );
      },
    },
    {
      method: 'GET',
      pattern: /^\/functions\/([^/]+)\/dead-letters\/([^/]+)$/,
      async run(req, name) {
        const t = target(name);
        if (isReply(t)) return t;
        const key = keyIn(req.path);
        if (isReply(key)) return key;
        return opened(t, key);
      },
    },
    {
      method: 'POST',
      pattern: /^\/functions\/([^/]+)\/dead-letters\/replay$/,
      async run(req, name) {
        const t = target(name);
        if (isReply(t)) return t;
        const parsed = objectBody(req.body, '{"limit": 10}');
        if (isReply(parsed)) return parsed;
        const extra = onlyKeys(parsed, ['limit', 'keys', 'search', 'body'], '{"limit": 10}, {"keys": ["id-1"]} or {"search": "ECONNREFUSED"}');
        if (extra) return extra;
        const body = (parsed ?? {}) as { keys?: unknown; search?: unknown };
        const limit = integerField(req.body, req.query, 'limit', { min: 1, max: 1_000_000, example: '{"limit": 10}' });
        if (isReply(limit)) return limit;
        let keys: string[] | undefined;
        if (body.keys !== undefined) {
          if (
            !Array.isArray(body.keys) ||
            body.keys.length === 0 ||
            body.keys.length > MAX_KEYS ||
            !body.keys.every((k) => typeof k === 'string' && k.length > 0 && k.length <= 256)
          ) {
            return fail(
              'WARREN_E_USAGE',
              `keys must be a list of 1 to ${MAX_KEYS} message ids`,
              'send {"keys": ["id-1", "id-2"]}, or no keys to replay every dead letter',
            );
          }
          keys = body.keys as string[];
        }
        const edited = (body as { body?: unknown }).body;
        if (edited !== undefined) {
          // One letter with a new body, its id in the body rather than the path (the dashboard's way:
          // an id of `.` or `..` cannot be a path segment).
          if (keys?.length !== 1 || body.search !== undefined || limit !== undefined)
            return fail('WARREN_E_USAGE', 'body replays one dead letter: give exactly one key with it', 'send {"keys": ["id-1"], "body": "{\\"id\\": 1}"}');
          return replayOne(t, keys[0]!, edited);
        }
        let search: string | undefined;
        if (body.search !== undefined) {
          if (typeof body.search !== 'string' || body.search.trim() === '' || body.search.length > MAX_SEARCH) {
            return fail(
              'WARREN_E_USAGE',
              `search must be the words to match, 1 to ${MAX_SEARCH} characters`,
              'send {"search": "ECONNREFUSED"} to replay the dead letters a search shows, or no search to replay every dead letter',
            );
          }
          search = body.search.trim();
        }
        return replied(
          await t.tools.replay(t.url, t.deadQueue, {
            queue: t.queue,
            ...(limit === undefined ? {} : { limit }),
            ...(keys ? { keys } : {}),
            ...(search ? { search } : {}),
          }),
        );
      },
    },
    {
      method: 'POST',
      pattern: /^\/functions\/([^/]+)\/dead-letters\/([^/]+)\/replay$/,
      async run(req, name) {
        const t = target(name);
        if (isReply(t)) return t;
        const key = keyIn(req.path.replace(/\/replay$/, ''));
        if (isReply(key)) return key;
        const parsed = objectBody(req.body, '{"body": "{\\"id\\": 1}"}');
        if (isReply(parsed)) return parsed;
        const extra = onlyKeys(parsed, ['body'], '{"body": "{\\"id\\": 1}"}, or no body to replay it as it is');
        if (extra) return extra;
        return replayOne(t, key, parsed?.body);
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/functions\/([^/]+)\/dead-letters$/,
      async run(req, name) {
        const t = target(name);
        if (isReply(t)) return t;
        const refused = noOptions(req.body);
        if (refused) return refused;
        return ok({ queue: t.deadQueue, purged: await t.tools.purge(t.url, t.deadQueue) });
      },
    },
  ];
}

/** One dead letter opened; a 404 when no dead letter carries that id (replayed or purged meanwhile). */
async function opened(t: Target, key: string): Promise<Reply> {
  if (key.length === 0 || key.length > 256) return fail('WARREN_E_USAGE', 'id must be a message id of 1 to 256 characters', 'send ?id=order-42');
  const copies = await t.tools.find(t.url, t.deadQueue, key);
  if (copies.length === 0) return notFound(t, key);
  return ok({ queue: t.deadQueue, copies: copies.length, letter: copies[0] });
}

/** Every dead letter with that id, with `edited` (a string) as its body when given. */
async function replayOne(t: Target, key: string, edited: unknown): Promise<Reply> {
  if (edited !== undefined && typeof edited !== 'string')
    return fail('WARREN_E_USAGE', 'body must be the new message body as a string', 'send {"body": "{\\"id\\": 1}"}, or no body to replay the message as it is');
  if (typeof edited === 'string') {
    const [letter] = await t.tools.find(t.url, t.deadQueue, key);
    const problem = letter ? jsonProblem(letter.contentType, edited) : null;
    if (problem)
      return fail(
        'WARREN_E_USAGE',
        `the edited body is not JSON (${problem}), and the message's content type is ${letter?.contentType}`,
        'fix the JSON, or replay it unedited',
      );
  }
  const result = await t.tools.replay(t.url, t.deadQueue, {
    queue: t.queue,
    keys: [key],
    ...(typeof edited === 'string' ? { body: Buffer.from(edited, 'utf8') } : {}),
  });
  if (result.missing.length > 0) return notFound(t, key);
  return replied(result);
}

function notFound(t: Target, key: string): Reply {
  return fail(
    'WARREN_E_DEAD_LETTER_NOT_FOUND',
    `no dead letter ${key} in ${t.deadQueue}`,
    'it may have been replayed or purged meanwhile; list the queue again',
  );
}

/** A replay that kept some dead letters answers 409 with every reason (the rest were replayed). */
function replied(result: ReplayResult): Reply {
  if (result.kept.length === 0) return ok(result);
  const reasons = [...new Set(result.kept.map((k) => k.why))].join('; ');
  return {
    status: 409,
    body: {
      ...result,
      error: `${result.kept.length} dead letter${result.kept.length === 1 ? '' : 's'} stayed in ${result.queue}: ${reasons}`,
      code: 'WARREN_E_REPLAY_REFUSED',
    },
  };
}

function jsonProblem(contentType: string | null, text: string): string | null {
  if (contentType !== null && !/json/i.test(contentType)) return null;
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    // No content type: a body that is not JSON is delivered as text, which is fine.
    return contentType === null ? null : (err as Error).message;
  }
}

function keyIn(path: string): string | Reply {
  const raw = /\/dead-letters\/([^/]+)$/.exec(path)?.[1] ?? '';
  try {
    const key = decodeURIComponent(raw);
    if (key.length === 0 || key.length > 256) throw new Error('length');
    return key;
  } catch {
    return fail('WARREN_E_USAGE', `not a message id: ${JSON.stringify(raw.slice(0, 100))}`, 'percent-encode the message id in the path');
  }
}
