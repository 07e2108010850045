/**
 * The error for a broker Warren could not use, whichever command met it (start, publish, the
 * dead-letter tools): what the broker said, in a person's words, and what to do about it.
 */
import { WarrenError, redactUrl } from '../errors';
import { NO_HANDSHAKE } from './connect';
import { splitUrls } from './urls';
import { vhostOf } from '../config/connection';

/** What the broker's answer means: `down` is a broker that is not there (the retry handles it); the others need a person. */
type BrokerTrouble = { kind: 'down' | 'silent' | 'refused' | 'no-vhost'; message: string; hint: string };

/** `url`: the URL (or a cluster's list) tried; `vhost`: the one it names. */
function brokerTrouble(url: string, vhost: string, err: unknown): BrokerTrouble {
  const shown = redactUrl(url);
  const text = redactUrl(String((err as { message?: unknown })?.message ?? err));
  if (text.includes(NO_HANDSHAKE))
    return {
      kind: 'silent',
      message: `the broker at ${shown} accepts connections but does not answer them (${text})`,
      hint:
        'a RabbitMQ node out of file descriptors stops answering new connections: `rabbitmq-diagnostics status` shows "File Descriptors"; ' +
        'raise its limit (LimitNOFILE under systemd, `ulimit -n` before `rabbitmq-server`) and restart it. A node that is starting or stopping does the same for a while',
    };
  // Not a bare 403: a broker down at port 37403 said "connect ECONNREFUSED 127.0.0.1:37403", and
  // was taken for refused credentials.
  if (/ACCESS[-_]REFUSED/.test(text))
    return {
      kind: 'refused',
      message: `the broker at ${shown} refused the credentials`,
      hint: 'check the user and password in AMQP_URL or rascal.json (`rabbitmqctl list_users` lists the users)',
    };
  // amqplib drops the reply text of a close during the handshake: one right after the credentials
  // were accepted is RabbitMQ saying NOT_ALLOWED, the vhost is missing or the user may not use it
  if (/vhost .* not found|NOT[-_]ALLOWED|ConnectionOpenOk; got <ConnectionClose/.test(text))
    return {
      kind: 'no-vhost',
      message: `the broker at ${shown} has no vhost "${vhost}" (or the user may not use it)`,
      hint: `create it: \`rabbitmqctl add_vhost ${vhost}\` and \`rabbitmqctl set_permissions -p ${vhost} <user> ".*" ".*" ".*"\``,
    };
  return {
    kind: 'down',
    message: `no broker answers at ${shown} (${text})`,
    hint: 'start RabbitMQ (`rabbitmq-server -detached`, or its service: `systemctl start rabbitmq-server`), or point AMQP_URL (or rascal.json) at a running broker',
  };
}

/** `url`: the URL (or a cluster's list) tried; `vhost`: the one it names. */
export function brokerUnreachable(url: string, vhost: string, err: unknown): WarrenError {
  const { message, hint } = brokerTrouble(url, vhost, err);
  return new WarrenError('WARREN_E_BROKER_UNREACHABLE', message, { hint, cause: err });
}

/**
 * For a reconnect that failed (a replica's, the time connection's): what the broker said, in the words
 * `brokerUnreachable` gives it, when it is something a person must fix (the vhost deleted, the
 * credentials changed, a node that takes connections and never answers); null for a node that is
 * simply down, which the retry handles. A deleted vhost was logged as amqplib's "Expected
 * ConnectionOpenOk; got <ConnectionClose channel:0>" every 5 s.
 */
export function reconnectProblem(url: string, err: unknown): { reason: string; hint: string } | null {
  const trouble = brokerTrouble(url, vhostOfUrl(url), err);
  return trouble.kind === 'down' ? null : { reason: trouble.message, hint: trouble.hint };
}

/**
 * How a run of failed reconnects is logged: each failure in a person's words with its hint (a node
 * simply down said only "reconnect failed", with a stack, one line per replica every 5 s), at warn
 * when it says something new or a minute after it was last said, at debug in between.
 */
export class ReconnectReport {
  private last: { message: string; at: number } | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  /** The fields and words of this failure, and the level to log it at. */
  failed(url: string, err: unknown, retryInMs: number): { level: 'warn' | 'debug'; fields: Record<string, unknown>; message: string } {
    const trouble = brokerTrouble(url, vhostOfUrl(url), err);
    const now = this.now();
    const repeat = this.last !== null && this.last.message === trouble.message && now - this.last.at < REPEAT_AFTER_MS;
    if (!repeat) this.last = { message: trouble.message, at: now };
    return {
      level: repeat ? 'debug' : 'warn',
      fields: { retryInMs, hint: trouble.hint, ...(trouble.kind === 'down' ? {} : { reason: trouble.message }) },
      message: `${trouble.message}; retrying${repeat ? '' : ' (said again in a minute if it lasts)'}`,
    };
  }

  /** Connected again: the next failure is new. */
  reset(): void {
    this.last = null;
  }
}

const REPEAT_AFTER_MS = 60_000;

/** The vhost a URL (or the first of a cluster's list) names; no path means `/`. */
export function vhostOfUrl(url: string): string {
  try {
    return vhostOf(splitUrls(url)[0] ?? url);
  } catch {
    return '/';
  }
}

/** The connection or a channel went down under an operation (a node lost), not a refusal by the broker. */
export function lostConnection(err: unknown): boolean {
  return /Channel ended|Channel closed|connection closed|ECONNRESET|EPIPE|socket|CONNECTION_FORCED/i.test(String((err as Error)?.message ?? err));
}
