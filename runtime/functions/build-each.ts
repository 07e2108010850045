/**
 * Builds several handler files side by side (esbuild's one service runs them in parallel): every
 * bundle that built, and every failure as a WarrenError with its file and line, in file order.
 */
import { WarrenError } from '../errors';
import { buildHandler, type BuiltHandler } from './bundle';
import type { HandlerFile } from './discover';

export async function buildEach(handlers: readonly HandlerFile[], outDir: string): Promise<{ builds: Map<string, BuiltHandler>; errors: WarrenError[] }> {
  const results = await Promise.allSettled(handlers.map((h) => buildHandler({ file: h.file, name: h.name, outDir })));
  const builds = new Map<string, BuiltHandler>();
  const errors: WarrenError[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') builds.set(handlers[i]!.name, r.value);
    else errors.push(r.reason instanceof WarrenError ? r.reason : new WarrenError('WARREN_E_HANDLER_BUILD', String((r.reason as Error)?.message ?? r.reason)));
  });
  const file = (e: WarrenError) => e.details.file ?? '';
  return { builds, errors: errors.sort((a, b) => (file(a) < file(b) ? -1 : file(a) > file(b) ? 1 : 0)) };
}
