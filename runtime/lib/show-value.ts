import { inspect, type InspectOptions } from 'node:util';

/**
 * A value for a person to read: its JSON where it has one, else as Node shows it (a BigInt, a cycle,
 * a symbol, a function). Never throws on what JSON refuses.
 */
export function jsonOrInspect(value: unknown, options: { indent?: number; inspect?: InspectOptions } = {}): string {
  try {
    const json = JSON.stringify(value, null, options.indent);
    if (json !== undefined) return json;
  } catch {
    // a BigInt, a cycle
  }
  return inspect(value, options.inspect);
}
