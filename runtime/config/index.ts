/** The configuration stage: project folder → validated, frozen WarrenConfig. */
export { loadConfig, loadProject, readProject, type LoadOptions, type LoadedProject, type ProjectRead } from './load';
export { parseDuration, formatDuration, parseSize, parseMemoryMb } from './units';
export { interpolate, type Env } from './interpolate';
export { resolveConnection, vhostOf } from './connection';
export { createMessageValidator, readSchemaFile } from './message-schema';
export { BUILTIN_EXCHANGES, defaultRoutingKey, parseShorthandBinding, reservedQueueName } from './topology-sections';
export { deepFreeze } from './freeze';
export * from './types';
