/**
 * Pure: with shape errors in queues.yaml, which parts the semantic checks (references, conflicts,
 * handler and schema files, durations, cron) may still trust, so `warren check` lists both kinds of
 * problem at once instead of one stage at a time.
 *
 * An entry (one exchange, queue, binding or function) with a shape error is set aside whole: its
 * other settings are checked once its shape is fixed, except a function's settings whose own value
 * has the right shape (a cron, a schema, a timeout, a batch window: soundKey). Its name still counts
 * as declared, and a section that cannot be read at all (`exchanges: [a, b]`, or missing next to a
 * misspelt top-level key such as `function:`) may declare any name: nothing that refers to them is
 * reported as a follow-on of the shape error.
 */
import queuesSchema from '../queues.schema.json';
import { decodePointer } from './source';

type Obj = Record<string, unknown>;

const SECTIONS = ['exchanges', 'queues', 'bindings', 'functions'] as const;
type Section = (typeof SECTIONS)[number];

export interface Unchecked {
  /** an exchange that a part set aside may declare */
  exchange(name: string): boolean;
  /** a queue that a part set aside may declare (a queue entry, or the queue of a function entry) */
  queue(name: string): boolean;
  /** function entries set aside, by name: their handler files do not run with the defaults meanwhile */
  functions: ReadonlyMap<string, Obj>;
  /**
   * Those of them whose handler file is known all the same (a valid `handler:`, or none and no
   * unknown key that could be a misspelt one): a missing file is reported now, not after the fix.
   */
  handlerKnown: ReadonlySet<string>;
  /** the functions section cannot be read: no function is checked */
  allFunctions: boolean;
  /**
   * A set-aside function's setting at `keys` (`'timeout'`, or `'batch', 'window'`) is there and its
   * own value has the right shape: it is still checked, so its problems are listed beside the shape's.
   */
  soundKey(fn: string, ...keys: string[]): boolean;
}

export const NOTHING_UNCHECKED: Unchecked = {
  exchange: () => false,
  queue: () => false,
  functions: new Map(),
  handlerKnown: new Set(),
  allFunctions: false,
  soundKey: () => false,
};

const FUNCTION_KEYS = new Set(Object.keys(queuesSchema.definitions.function.properties));

export interface SetAside {
  /** the document without the parts set aside; undefined when the document itself is not a mapping */
  value: Obj | undefined;
  unchecked: Unchecked;
}

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `invalid`: JSON pointers of the values that break the schema (checkShape's `invalid`). */
export function setAsideInvalid(document: unknown, invalid: readonly string[]): SetAside {
  if (document === null || document === undefined) return { value: {}, unchecked: NOTHING_UNCHECKED };
  if (!isObj(document) || invalid.includes('')) return { value: undefined, unchecked: NOTHING_UNCHECKED };

  const unreadable = new Set<Section>();
  const entries = new Map<Section, Set<string>>(SECTIONS.map((s) => [s, new Set<string>()]));
  let strayKey = false;
  for (const pointer of invalid) {
    const [section, entry] = decodePointer(pointer);
    if (!isSection(section)) strayKey = true;
    else if (entry === undefined) unreadable.add(section);
    else entries.get(section)!.add(entry);
  }
  // `function:` for `functions:`: the section that is missing may be the one written under the wrong key
  if (strayKey) for (const section of SECTIONS) if (document[section] === undefined) unreadable.add(section);

  const value: Obj = {};
  for (const [key, section] of Object.entries(document)) {
    if (!isSection(key) || unreadable.has(key)) continue;
    const drop = entries.get(key)!;
    if (key === 'bindings' && Array.isArray(section)) {
      // holes keep the indexes, and so the positions, of the bindings that stay
      value[key] = section.map((item: unknown, i) => (drop.has(String(i)) ? undefined : item));
    } else if (isObj(section)) {
      value[key] = Object.fromEntries(Object.entries(section).filter(([name]) => !drop.has(name)));
    } else {
      value[key] = section;
    }
  }

  const functions = new Map<string, Obj>();
  const handlerKnown = new Set<string>();
  const functionSection = isObj(document.functions) ? document.functions : {};
  for (const name of entries.get('functions')!) {
    const entry = functionSection[name];
    functions.set(name, isObj(entry) ? entry : {});
    // the entry itself (its name, its value) or its `handler:` is wrong, or a key may be a misspelt `handler`
    const hidden = invalid.some((p) => {
      const [section, entryName, key, ...rest] = decodePointer(p);
      return section === 'functions' && entryName === name && (key === undefined || (key === 'handler' && rest.length === 0));
    });
    if (isObj(entry) && !hidden && Object.keys(entry).every((key) => FUNCTION_KEYS.has(key))) handlerKnown.add(name);
  }
  const functionQueues = new Set([...functions].map(([name, entry]) => (typeof entry.queue === 'string' && entry.queue !== '' ? entry.queue : name)));
  const exchanges = entries.get('exchanges')!;
  const queues = entries.get('queues')!;
  return {
    value,
    unchecked: {
      exchange: (name) => unreadable.has('exchanges') || exchanges.has(name),
      queue: (name) => unreadable.has('queues') || unreadable.has('functions') || queues.has(name) || functionQueues.has(name),
      functions,
      handlerKnown,
      allFunctions: unreadable.has('functions'),
      soundKey: (fn, ...keys) => {
        let value: unknown = functions.get(fn);
        for (const key of keys) value = isObj(value) ? value[key] : undefined;
        return (
          value !== undefined &&
          // no shape error at the entry, at a mapping that holds the setting, at the setting or inside it
          !invalid.some((p) => {
            const [section, entryName, ...bad] = decodePointer(p);
            return section === 'functions' && entryName === fn && bad.slice(0, keys.length).every((segment, i) => segment === keys[i]);
          })
        );
      },
    },
  };
}

function isSection(key: string | undefined): key is Section {
  return (SECTIONS as readonly (string | undefined)[]).includes(key);
}
