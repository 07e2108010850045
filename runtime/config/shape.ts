/**
 * Checks the shape of queues.yaml against runtime/queues.schema.json (the same file editors use)
 * and turns each ajv error into a WarrenError that points at the key or value.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import queuesSchema from '../queues.schema.json';
import { WarrenError } from '../errors';
import { decodePointer, pointerSegment, type Located } from './source';
import { closest } from './suggest';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictTypes: false });
    // annotation only: the expected value in words (yaml-language-server shows it too)
    ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' });
    compiled = ajv.compile(queuesSchema);
  }
  return compiled;
}

type AjvError = ErrorObject & { parentSchema?: Record<string, unknown> };

/** Among the failed branches of an anyOf, keep the errors of the branch written for this kind of value. */
function pruneBranches(errors: AjvError[]): AjvError[] {
  const dropped = new Set<AjvError>();
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const union of unions) {
    if (dropped.has(union)) continue;
    const inside = errors.filter(
      (e) =>
        e !== union &&
        e.schemaPath.startsWith(union.schemaPath + '/') &&
        // schema paths repeat for every list item through a $ref: the instance must be inside too
        (e.instancePath === union.instancePath || e.instancePath.startsWith(union.instancePath + '/')),
    );
    const branches = new Map<string, AjvError[]>();
    for (const e of inside) {
      const index = e.schemaPath.slice(union.schemaPath.length + 1).split('/')[0] ?? '';
      branches.set(index, [...(branches.get(index) ?? []), e]);
    }
    const matching = [...branches.values()].find((list) => !list.some((e) => e.keyword === 'type' && e.instancePath === union.instancePath));
    for (const e of inside) if (!matching?.includes(e)) dropped.add(e);
    if (matching) dropped.add(union);
  }
  return errors.filter((e) => !dropped.has(e));
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'a mapping';
  return JSON.stringify(value);
}

export interface ShapeResult {
  errors: WarrenError[];
  /**
   * JSON pointers of what breaks the schema: each wrong value, each unknown key, each bad key name.
   * The semantic checks set aside the entries these fall in (setAsideInvalid).
   */
  invalid: string[];
}

export function checkShape(file: string, value: unknown, at: ReadonlyMap<string, Located>): ShapeResult {
  const validate = validator();
  if (validate(value)) return { errors: [], invalid: [] };
  const all = (validate.errors ?? []) as AjvError[];
  const invalid = all.map((e) => {
    const { additionalProperty, propertyName } = e.params as { additionalProperty?: string; propertyName?: string };
    const child = additionalProperty ?? propertyName;
    return child === undefined ? e.instancePath : e.instancePath + pointerSegment(child);
  });
  const errors = pruneBranches(all);
  const out: WarrenError[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const where = at.get(e.instancePath);
    const path = where?.path ?? decodePointer(e.instancePath).join('.');
    const expectedWords = typeof e.parentSchema?.errorMessage === 'string' ? e.parentSchema.errorMessage : e.message;
    let error: WarrenError;
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const child = at.get(e.instancePath + '/' + extra.replace(/~/g, '~0').replace(/\//g, '~1'));
      const known = Object.keys((e.parentSchema?.properties as Record<string, unknown> | undefined) ?? {});
      const guess = closest(extra, known);
      const keyPath = path === '' ? extra : `${path}.${extra}`;
      error = new WarrenError('WARREN_E_CONFIG_UNKNOWN_KEY', `unknown key "${extra}"`, {
        file,
        ...(child?.key ?? where?.value),
        key: keyPath,
        hint: (guess ? `did you mean \`${guess}\`? ` : '') + `known keys here: ${known.join(', ')}`,
      });
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      error = new WarrenError('WARREN_E_CONFIG_TYPE', `"${missing}" is missing`, {
        file,
        ...where?.value,
        key: path || undefined,
        expected: expectedWords,
        hint: `add \`${missing}: …\``,
      });
    } else {
      error = new WarrenError('WARREN_E_CONFIG_TYPE', `got ${shown(e.data)}`, {
        file,
        ...where?.value,
        key: path || undefined,
        expected: expectedWords,
        hint: hintFor(path, e),
      });
    }
    // one message per spot: `type` and `minimum` on one value say the same thing
    const id = `${error.code}|${error.details.key}|${error.details.line}|${error.details.column}|${error.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(error);
  }
  return { errors: out, invalid };
}

function hintFor(path: string, e: AjvError): string | undefined {
  const last = path.split('.').pop() ?? '';
  const schema = e.parentSchema ?? {};
  if (Array.isArray(schema.enum)) return `write one of: ${schema.enum.join(', ')}`;
  if (schema.type === 'integer') return `write a whole number, e.g. \`${last}: ${Number(schema.minimum ?? 0) + 1}\``;
  if (/duration/.test(String(schema.errorMessage))) return `e.g. \`${last}: 30s\``;
  if (schema.type === 'boolean') return `write \`${last}: true\` or \`${last}: false\``;
  return undefined;
}
