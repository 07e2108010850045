/** Dead-letter queues: inspect, search, replay into the function's own queue, purge (CLI `warren dlq`, admin API, dashboard). */
export { listDeadLetters, browseDeadLetters, findDeadLetters, DEFAULT_LIST_LIMIT, DEFAULT_SCAN_LIMIT } from './list';
export type { DeadLetterList, DeadLetterPage, BrowseOptions } from './list';
export { replayDeadLetters } from './replay';
export type { ReplayResult, ReplayOptions, KeptLetter } from './replay';
export { purgeDeadLetters } from './purge';
export { sourceQueueOf } from './connection';
export { describeDeadLetter, describeDeadLetterFully, keyOf, originalRouteOf, replayProperties, BODY_PREVIEW_CHARS } from './describe';
export type { DeadLetter, DeadLetterDetail, RawMessage } from './describe';
