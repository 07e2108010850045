/**
 * Pure: a queue argument in queues.yaml that Warren sets itself from a typed setting (`type`,
 * `maxLength`, a function's `redeliveryLimit` or `deadLetter`…) and would declare with another value.
 * Warren's value wins at declare, so the written one would be dropped without a word: refused at the
 * argument instead, naming the setting to use.
 */
import type { BuildContext } from './context';
import type { FunctionConfig, QueueConfig } from './types';
import { mainArguments } from '../topology/plan';
import { deadQueueName } from '../topology/names';

export function checkManagedArguments(
  ctx: BuildContext,
  queues: Readonly<Record<string, QueueConfig>>,
  functions: Readonly<Record<string, FunctionConfig>>,
): void {
  for (const queue of Object.values(queues)) {
    const written = Object.entries(queue.arguments);
    if (queue.implicit || written.length === 0) continue;
    const fn = Object.values(functions).find((f) => f.queue === queue.name);
    const warrens = mainArguments({ ...queue, arguments: {} }, fn);
    for (const [argument, value] of written) {
      const wanted = warrens[argument];
      if (wanted === undefined || wanted === value) continue;
      const setting = settingFor(argument, queue, fn);
      ctx.report(
        'WARREN_E_CONFIG_CONFLICT',
        `Warren sets ${argument} on queue ${queue.name} itself (to ${JSON.stringify(wanted)}, from ${setting.key}), so ${JSON.stringify(value)} would be ignored`,
        ctx.pointer('queues', queue.name, 'arguments', argument),
        { onKey: true, hint: setting.hint },
      );
    }
  }
}

function settingFor(argument: string, queue: QueueConfig, fn: FunctionConfig | undefined): { key: string; hint: string } {
  const q = `queues.${queue.name}`;
  const f = `functions.${fn?.name ?? '…'}`;
  switch (argument) {
    case 'x-max-length':
      return { key: `${q}.maxLength`, hint: `drop it from arguments: ${q}.maxLength says the length` };
    case 'x-message-ttl':
      return { key: `${q}.messageTtl`, hint: `drop it from arguments: ${q}.messageTtl says the time to live` };
    case 'x-quorum-initial-group-size':
      return { key: `${q}.replicationFactor`, hint: `drop it from arguments: ${q}.replicationFactor says the number of copies` };
    case 'x-delivery-limit':
      return {
        key: `${f}.redeliveryLimit`,
        hint: `drop it from arguments and set ${f}.redeliveryLimit: Warren dead-letters a message at that limit and declares x-delivery-limit a little above it, as a backstop`,
      };
    case 'x-dead-letter-exchange':
    case 'x-dead-letter-routing-key':
      return {
        key: `${f}.deadLetter`,
        hint: `Warren dead-letters into ${deadQueueName(queue.name)}; to send dead letters where these arguments say, set \`deadLetter: false\` on ${f}`,
      };
    case 'x-single-active-consumer':
      return { key: `${f}.ordered`, hint: `drop it from arguments: ${f}.ordered says it` };
    default:
      return { key: 'queues.yaml', hint: `drop ${argument} from ${q}.arguments` };
  }
}
