/** One publish on a confirm channel, resolved by its own confirm (rejected on a nack). */
import type { ConfirmChannel, Options } from 'amqplib';

export function publishConfirmed(channel: ConfirmChannel, exchange: string, routingKey: string, body: Buffer, options: Options.Publish): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    channel.publish(exchange, routingKey, body, options, (err) =>
      err ? reject(new Error(`the broker refused a message for ${exchange || 'the default exchange'}/${routingKey}`)) : resolve(),
    );
  });
}
