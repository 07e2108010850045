/**
 * Pure: a queue argument in queues.yaml that Warren sets itself from a typed setting (`type`,
 * `maxLength`, a function's `redeliveryLimit` or `deadLetter`…) and would declare with another value.
 * Warren's value wins at declare, so the written one would be dropped without a word: refused at the
 * argument instead, naming the setting to use.
 */
import type { BuildContext } from './context';
import type { FunctionConfig, QueueConfig } from './types';
import { argumentSetting, mainArguments } from '../topology/plan';
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
  const key = argumentSetting(argument, queue.name, fn?.name) ?? `queues.${queue.name}.arguments`;
  if (argument === 'x-delivery-limit')
    return {
      key,
      hint: `drop it from arguments and set ${key}: Warren dead-letters a message at that limit and declares x-delivery-limit a little above it, as a backstop`,
    };
  if (argument.startsWith('x-dead-letter-'))
    return {
      key,
      hint: `Warren dead-letters into ${deadQueueName(queue.name)}; to send dead letters where these arguments say, set \`deadLetter: false\` on functions.${fn?.name ?? '…'}`,
    };
  return { key, hint: `drop it from arguments: ${key} says it` };
}
