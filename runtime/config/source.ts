/**
 * queues.yaml text → plain value + where every key and value sits, with `${VAR}` interpolated.
 * Pure: the caller reads the file. Positions are looked up by JSON pointer (ajv's `instancePath`).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { WarrenError } from '../errors';
import { interpolate, malformedHint, shownReference, type Env } from './interpolate';

export interface Position {
  line: number;
  column: number;
}

export interface Located {
  /** dotted key path for messages: `functions.print-message.replicas`, `bindings[1]` */
  path: string;
  key?: Position;
  value: Position;
  /** the environment references the value was substituted from (`${PREFETCH}`), as `fromEnvironment` names them */
  from?: Array<{ name: string; defaulted: boolean }>;
}

export interface ParsedSource {
  value: unknown;
  /** by JSON pointer, '' for the document itself */
  at: Map<string, Located>;
  errors: WarrenError[];
}

export function pointerSegment(segment: string | number): string {
  return '/' + String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

export function decodePointer(pointer: string): string[] {
  return pointer === ''
    ? []
    : pointer
        .slice(1)
        .split('/')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function joinPath(parent: string, segment: string | number): string {
  if (typeof segment === 'number') return `${parent}[${segment}]`;
  return parent === '' ? segment : `${parent}.${segment}`;
}

/** YAML 1.1's merge key: `<<` written plain (a quoted '<<' is an ordinary key). */
function isMergeKey(key: Node | null): boolean {
  return !!key && isScalar(key) && key.value === '<<' && key.type === 'PLAIN';
}

/** A plain scalar written as `${N}` should still be a number or a boolean once N is substituted. */
function retype(text: string): unknown {
  if (/^[-+]?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

export function parseYamlSource(file: string, text: string, env: Env): ParsedSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const errors: WarrenError[] = [];
  const at = new Map<string, Located>();
  const pos = (offset: number): Position => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };

  if (doc.errors.length > 0) {
    const seenLines = new Set<number>();
    for (const err of doc.errors) {
      const offset = err.pos[0];
      const { line, column } = pos(offset);
      // the parser's next complaints on a line follow from its first (`schedule: * * * * *` gives four)
      if (seenLines.has(line)) continue;
      seenLines.add(line);
      const duplicate = err.code === 'DUPLICATE_KEY' ? duplicateKeyAt(doc.contents, offset) : undefined;
      if (duplicate) {
        const first = pos(duplicate.firstOffset);
        errors.push(
          new WarrenError(
            'WARREN_E_CONFIG_SYNTAX',
            `\`${duplicate.name}\` is written twice in this mapping, first at line ${first.line}, column ${first.column}`,
            {
              file,
              line,
              column,
              key: duplicate.path,
              hint: `a key may appear once in a mapping: merge the two \`${duplicate.name}:\` entries into one, or delete one`,
            },
          ),
        );
        continue;
      }
      errors.push(
        new WarrenError('WARREN_E_CONFIG_SYNTAX', `YAML does not parse: ${err.message.split(/ at line \d+|\n/)[0]}`, {
          file,
          line,
          column,
          hint: syntaxHint(err.code, text, offset),
        }),
      );
    }
    return { value: undefined, at, errors };
  }

  const unresolved = unresolvedAlias(doc);
  if (unresolved) {
    const { line, column } = pos(unresolved.offset);
    errors.push(
      new WarrenError('WARREN_E_CONFIG_SYNTAX', `\`*${unresolved.name}\` is read as a YAML alias, and no anchor \`&${unresolved.name}\` comes before it`, {
        file,
        line,
        column,
        hint: QUOTE_STAR_HINT,
      }),
    );
    return { value: undefined, at, errors };
  }
  // before the alias check, whose toJS would stringify a collection key with a process warning
  const unusual = unusualNode(doc);
  if (unusual) {
    const { line, column } = pos(unusual.offset);
    errors.push(new WarrenError('WARREN_E_CONFIG_SYNTAX', unusual.why, { file, line, column, hint: unusual.hint }));
    return { value: undefined, at, errors };
  }
  const bomb = aliasBomb(doc);
  if (bomb) {
    const { line, column } = pos(bomb.offset);
    errors.push(new WarrenError('WARREN_E_CONFIG_SYNTAX', `YAML aliases expand too far: ${bomb.why}`, { file, line, column, hint: ALIAS_HINT }));
    return { value: undefined, at, errors };
  }
  // Even within yaml's alias limit, the walk below stops at a sane number of values.
  let budget = MAX_VALUES;

  const malformedError = (written: string, offset: number, path: string): void => {
    const { line, column } = pos(offset);
    errors.push(
      new WarrenError('WARREN_E_CONFIG_ENV', `${shownReference(written)} is not an environment reference`, {
        file,
        line,
        column,
        key: path || undefined,
        hint: malformedHint(written),
      }),
    );
  };

  const envError = (name: string, offset: number, path: string): void => {
    const { line, column } = pos(offset);
    errors.push(
      new WarrenError('WARREN_E_CONFIG_ENV', `environment variable ${name} is not set`, {
        file,
        line,
        column,
        key: path || undefined,
        hint: `set ${name}, or give a default: \${${name}:-value}`,
      }),
    );
  };

  const scalar = (node: Node, raw: unknown, path: string, located?: Located): unknown => {
    if (typeof raw !== 'string' || !isScalar(node)) return raw;
    const result = interpolate(raw, env);
    if (located && result.used.length > 0) located.from = result.used;
    const start = node.range?.[0] ?? 0;
    for (const m of result.missing) {
      // find the reference in the source text; quotes and escapes shift offsets inside the node
      const found = text.indexOf('${' + m.name, start);
      envError(m.name, found >= 0 ? found : start, path);
    }
    for (const m of result.malformed) {
      const found = text.indexOf(m.text, start);
      malformedError(m.text, found >= 0 ? found : start, path);
    }
    if (!result.changed) return raw;
    return node.type === 'PLAIN' ? retype(result.value) : result.value;
  };

  const walk = (node: Node | null | undefined, pointer: string, path: string, keyPos?: Position, depth = 0): unknown => {
    if (--budget < 0) throw new TooManyValues(node?.range?.[0] ?? 0);
    if (node && isAlias(node)) {
      if (depth > 50) return null;
      return walk(node.resolve(doc as Document) as Node | undefined, pointer, path, keyPos, depth + 1);
    }
    const valuePos = node?.range ? pos(node.range[0]) : (keyPos ?? { line: 1, column: 1 });
    at.set(pointer, { path, key: keyPos, value: valuePos });
    if (!node) return null;
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      // YAML merge keys first (`<<: *defaults`, or a list of them): the keys written here override them.
      const merges = node.items.filter((pair) => isPair(pair) && isMergeKey(pair.key as Node | null));
      if (merges.length > 0) {
        for (const pair of merges) mergeInto(out, pair.value as Node | null, pointer, path, depth);
        at.set(pointer, { path, key: keyPos, value: valuePos });
      }
      const written = new Map<string, Position>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        if (merges.includes(pair)) continue;
        const keyNode = pair.key as Node | null;
        const keyAt = keyNode?.range ? pos(keyNode.range[0]) : valuePos;
        if (!keyNode || !isScalar(keyNode)) {
          errors.push(
            new WarrenError('WARREN_E_CONFIG_TYPE', 'a key must be a plain name', {
              file,
              ...keyAt,
              key: path || undefined,
              hint: PLAIN_KEY_HINT,
            }),
          );
          continue;
        }
        const key = String(scalar(keyNode, keyNode.value, path));
        const childPath = joinPath(path, key);
        // Two keys written apart that one substitution makes equal (the parser already refuses keys
        // written equal): the second would silently replace the first.
        const first = written.get(key);
        if (first) {
          errors.push(
            new WarrenError(
              'WARREN_E_CONFIG_ENV',
              `\`${key}\` is written twice in this mapping once its \${…} is substituted, first at line ${first.line}, column ${first.column}`,
              {
                file,
                ...keyAt,
                key: childPath,
                hint: 'give each entry its own name: set the variable to another value, or rename one of them',
              },
            ),
          );
          continue;
        }
        written.set(key, keyAt);
        out[key] = walk(pair.value as Node | null, pointer + pointerSegment(key), childPath, keyAt, depth);
      }
      return out;
    }
    if (isSeq(node)) {
      return node.items.map((item, i) => walk(item as Node | null, pointer + pointerSegment(i), joinPath(path, i), undefined, depth));
    }
    if (isScalar(node)) return scalar(node, node.value, path, at.get(pointer));
    return null;
  };

  /**
   * `<<: *a` or `<<: [*a, *b]` (YAML 1.1's merge key, as docker compose and most CI files use it): the
   * mapping's entries are copied in, a mapping earlier in the list winning over a later one. Their
   * positions stay where they are written, so an error in a shared setting points at the anchor.
   */
  const mergeInto = (out: Record<string, unknown>, value: Node | null, pointer: string, path: string, depth: number): void => {
    const target = value && isAlias(value) ? (value.resolve(doc as Document) as Node | undefined) : value;
    const sources = target && isSeq(target) ? (target.items as Node[]) : [value];
    for (const source of [...sources].reverse()) {
      const mapping = source && isAlias(source) ? (source.resolve(doc as Document) as Node | undefined) : source;
      if (!mapping || !isMap(mapping)) {
        const { line, column } = pos((source ?? value)?.range?.[0] ?? 0);
        errors.push(
          new WarrenError('WARREN_E_CONFIG_TYPE', 'a merge key `<<` takes a mapping', {
            file,
            line,
            column,
            key: joinPath(path, '<<'),
            expected: 'an alias of a mapping, or a list of them',
            hint: 'anchor the shared settings (`x-defaults: &defaults { retry: { attempts: 5 } }`) and merge them with `<<: *defaults`',
          }),
        );
        continue;
      }
      Object.assign(out, walk(source, pointer, path, undefined, depth + 1));
    }
  };

  try {
    const value = walk(doc.contents as Node | null, '', '');
    return { value, at, errors };
  } catch (err) {
    if (!(err instanceof TooManyValues)) throw err;
    const { line, column } = pos(err.offset);
    errors.push(
      new WarrenError('WARREN_E_CONFIG_SYNTAX', `the file holds more than ${MAX_VALUES} values once its aliases are expanded`, {
        file,
        line,
        column,
        hint: ALIAS_HINT,
      }),
    );
    return { value: undefined, at: new Map(), errors };
  }
}

/**
 * A few hundred bytes of nested aliases (`b: [*a, *a, …]`, `c: [*b, *b, …]`, …) expand to billions of
 * values. yaml's own guard (maxAliasCount, the limit its toJS applies: an anchor used more times than
 * that, weighted by the aliases inside it) finds one without expanding anything.
 */
const MAX_ALIAS_COUNT = 100;
const MAX_VALUES = 100_000;
const ALIAS_HINT = 'use fewer YAML aliases (*name), or write the values out; a Warren config needs a handful';

class TooManyValues extends Error {
  constructor(readonly offset: number) {
    super('too many values');
  }
}

/**
 * The key a DUPLICATE_KEY error points at (`offset`: the start of its second occurrence): its dotted
 * path and where it was first written. The parser keeps both pairs, so the mapping still shows them.
 * JSON files are read as YAML for this too (rascal.json, schema files).
 */
export function duplicateKeyAt(node: unknown, offset: number, path = ''): { name: string; path: string; firstOffset: number } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key : undefined;
      const name = key ? String(key.value) : undefined;
      if (key && name !== undefined && key.range?.[0] === offset) {
        // yaml's own test for a repeated key: the same scalar value
        const first = node.items.find((p) => isScalar(p.key) && p.key.value === key.value);
        return { name, path: joinPath(path, name), firstOffset: (first?.key as Node | undefined)?.range?.[0] ?? offset };
      }
      const found = duplicateKeyAt(pair.value, offset, name === undefined ? path : joinPath(path, name));
      if (found) return found;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = duplicateKeyAt(item, offset, joinPath(path, i));
      if (found) return found;
    }
  }
  return undefined;
}

/** A cron such as `*\/5 * * * *` left unquoted: `*` starts an alias, here of an anchor that does not exist. */
function unresolvedAlias(doc: Document): { offset: number; name: string } | undefined {
  let found: { offset: number; name: string } | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return undefined;
      found = { offset: node.range?.[0] ?? 0, name: node.source };
      return visit.BREAK;
    },
  });
  return found;
}

const QUOTE_STAR_HINT = 'a value that starts with `*` must be quoted, e.g. `schedule: "*/5 * * * *"`';

const PLAIN_KEY_HINT = 'write `name: value`; a key that is a list or a mapping (`? [a, b]`, `[a]: 1`) is not a name';

/** The tags of plain YAML values; any other (`!!binary`, `!custom`) would read as something no setting is. */
const PLAIN_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/**
 * A value no setting can be: a tagged one (`!!binary` reads as bytes, an unknown `!custom` is dropped
 * with only a parser warning) or a key that is a list or a mapping (`? [a, b]`, stringified by yaml).
 */
function unusualNode(doc: Document): { offset: number; why: string; hint: string } | undefined {
  let found: { offset: number; why: string; hint: string } | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (isMap(pair.key) || isSeq(pair.key)) {
        found = { offset: pair.key.range?.[0] ?? 0, why: 'a key must be a plain name', hint: PLAIN_KEY_HINT };
        return visit.BREAK;
      }
      return undefined;
    },
    Node(_, node) {
      if (node.tag === undefined || PLAIN_TAGS.has(node.tag)) return undefined;
      const tag = node.tag.replace('tag:yaml.org,2002:', '!!');
      found = {
        offset: node.range?.[0] ?? 0,
        why: `the YAML tag ${tag} is not read here`,
        hint: `queues.yaml takes plain values: drop ${tag} (quote the value to keep it as text)`,
      };
      return visit.BREAK;
    },
  });
  return found;
}

function aliasBomb(doc: Document): { offset: number; why: string } | undefined {
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return undefined;
  } catch (err) {
    // Anything else toJS dislikes is the walk's to report, with its position.
    if (!(err instanceof ReferenceError)) return undefined;
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    return { offset, why: err.message };
  }
}

const FLOW_REFERENCE_HINT =
  "a ${…} cannot stand unquoted inside `{ … }` or `[ … ]`, whose braces are YAML's own: write that mapping in block style, one setting per line (`replicas: ${R:-2}` on its own line), where a substituted number stays a number";

function syntaxHint(code: string, text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  if (code === 'TAB_AS_INDENT' || /^[ ]*\t/.test(text.slice(lineStart, offset + 1))) return 'indent with spaces: YAML does not allow tabs for indentation';
  if (code === 'DUPLICATE_KEY') return 'a key may appear once in a mapping: merge the two entries or rename one';
  // `{ replicas: ${R:-2} }`: in a flow mapping `{` and `}` are YAML's own, so the reference breaks it.
  if (text[offset] === '{' && text[offset - 1] === '$') return FLOW_REFERENCE_HINT;
  const lineEnd = text.indexOf('\n', offset);
  if (/(^|[:\-[,{]\s*)\*/.test(text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd))) return QUOTE_STAR_HINT;
  return 'check indentation, colons and quotes around this spot';
}
