/**
 * Things that run beside a started App (the admin API, the file watcher). Each hook starts before
 * the App connects (so /healthz and /readyz answer while the broker is still down) and is closed after it stops.
 */
import type { Logger } from 'pino';
import type { App } from '../app';

export interface HookContext {
  env: Record<string, string | undefined>;
  log: Logger;
  watch: boolean;
}

export type StartHook = (app: App, ctx: HookContext) => Promise<{ close(): Promise<void> }>;

export const hooks: { beforeStart: StartHook[] } = { beforeStart: [] };
