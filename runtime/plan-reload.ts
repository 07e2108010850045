/**
 * What a reload has to do, from the config that runs and the one just loaded. Pure (unit-tested in
 * test/unit/plan-reload.test.ts); App.reload carries it out.
 */
import type { FunctionConfig, WarrenConfig } from './config/types';

export interface ReloadPlan {
  /** functions only the new config has: build and start them */
  added: string[];
  /** functions only the old config has: stop them (their queues and messages stay) */
  removed: string[];
  /** functions whose settings changed: build and restart them */
  changed: string[];
  /** functions with the same settings: redeploy them if their code changed */
  unchanged: string[];
  /** exchanges, queues, bindings, the connection or a function's settings changed: declare again */
  topologyChanged: boolean;
}

/** A function's settings apart from where they were written: `at` moves whenever a line above changes. */
function settings(fn: FunctionConfig | undefined): string {
  return JSON.stringify(fn ? { ...fn, at: undefined } : null);
}

function topology(c: WarrenConfig): string {
  return JSON.stringify([c.url, c.vhost, c.rascal, c.exchanges, c.queues, c.bindings, Object.values(c.functions).map(settings)], (k, v: unknown) =>
    k === 'at' ? undefined : v,
  );
}

export function planReload(old: WarrenConfig, next: WarrenConfig): ReloadPlan {
  const names = Object.keys(next.functions);
  return {
    added: names.filter((n) => !old.functions[n]),
    removed: Object.keys(old.functions).filter((n) => !next.functions[n]),
    changed: names.filter((n) => old.functions[n] && settings(old.functions[n]) !== settings(next.functions[n])),
    unchanged: names.filter((n) => old.functions[n] && settings(old.functions[n]) === settings(next.functions[n])),
    topologyChanged: topology(old) !== topology(next),
  };
}
