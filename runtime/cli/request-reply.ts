/**
 * `warren publish … --wait-reply [timeout]`: one request through the broker, answered by a function
 * that replies to `ctx.properties.replyTo` with its `correlationId` (README "Requests and replies"),
 * the way `faas-cli invoke` calls a function and prints what it returns. The reply comes through
 * RabbitMQ's direct reply-to, to this channel: no queue is declared, nothing is left behind.
 */
import { randomUUID } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { connectToAny } from '../connection/connect';
import { brokerUnreachable, vhostOfUrl } from '../connection/unreachable';
import { publishOptions } from '../connection/publish-options';
import { WarrenError } from '../errors';
import { describeDuration } from '../config/units';
import { DIRECT_REPLY_TO } from '../replica/publish-target';
import { withTimeout } from '../lib/with-timeout';

export interface Reply {
  body: Buffer;
  contentType: string | undefined;
  /** ms from the publish's confirm to the reply */
  ms: number;
}

export async function requestReply(
  url: string,
  target: { exchange: string; routingKey: string },
  body: Buffer,
  options: { headers: Record<string, string | string[]>; contentType: string; timeoutMs: number },
): Promise<Reply> {
  const found = await connectToAny(url).catch((err: Error) => {
    throw brokerUnreachable(url, vhostOfUrl(url), err);
  });
  const connection = found.connection;
  connection.on('error', () => undefined);
  const correlationId = randomUUID();
  try {
    const channel = await connection.createConfirmChannel();
    let unroutable = false;
    channel.on('return', () => (unroutable = true));
    let answer: (reply: ConsumeMessage) => void = () => undefined;
    const replied = new Promise<ConsumeMessage>((resolve) => (answer = resolve));
    await channel.consume(DIRECT_REPLY_TO, (msg) => msg?.properties.correlationId === correlationId && answer(msg), { noAck: true });
    const properties = publishOptions(undefined, {
      persistent: true,
      mandatory: true,
      contentType: options.contentType,
      headers: options.headers,
      messageId: correlationId,
      timestamp: Math.floor(Date.now() / 1000),
    });
    channel.publish(target.exchange, target.routingKey, body, { ...properties, replyTo: DIRECT_REPLY_TO, correlationId });
    await channel.waitForConfirms().catch((err: Error) => {
      throw new WarrenError('WARREN_E_PUBLISH_FAILED', `the broker did not take the request: ${err.message}`, { cause: err });
    });
    // A return comes before the confirm of the message it returns.
    if (unroutable)
      throw new WarrenError(
        'WARREN_E_PUBLISH_FAILED',
        `the request was unroutable: no queue is bound to ${target.exchange || '(default)'} for ${target.routingKey}`,
        {
          hint: "check the exchange and routing key (a function's queue through the default exchange: '' and the function's queue name)",
        },
      );
    const sent = performance.now();
    const reply = await withTimeout(
      replied,
      options.timeoutMs,
      () =>
        new WarrenError('WARREN_E_NO_REPLY', `no reply within ${describeDuration(options.timeoutMs)} (the request was published)`, {
          hint: "the function answers with `ctx.publish('', ctx.properties.replyTo, result, { correlationId: ctx.properties.correlationId })`; is it running, and does it reply?",
        }),
    );
    return { body: reply.content, contentType: reply.properties.contentType as string | undefined, ms: performance.now() - sent };
  } finally {
    await connection.close().catch(() => undefined);
  }
}
