/** Dead-letter queues: inspect, replay to the original route, purge (CLI `warren dlq`, admin API). */
export { listDeadLetters, replayDeadLetters, purgeDeadLetters, sourceQueueOf, DEFAULT_LIST_LIMIT } from './queue-ops';
export type { DeadLetterList, ReplayResult, KeptLetter } from './queue-ops';
export { describeDeadLetter, originalRouteOf, replayProperties, BODY_PREVIEW_CHARS } from './describe';
export type { DeadLetter, RawMessage } from './describe';
