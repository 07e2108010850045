/** What the normalising steps share: where queues.yaml is, where each key sits, and the errors found. */
import { WarrenError, type ErrorCode, type ErrorDetails } from '../errors';
import { pointerSegment, type Located } from './source';
import type { SourceLocation } from './types';

export class BuildContext {
  readonly errors: WarrenError[] = [];

  constructor(
    /** absolute path of queues.yaml */
    readonly file: string,
    private readonly at: ReadonlyMap<string, Located>,
  ) {}

  /** JSON pointer of a key path: pointer('functions', 'a', 'retry') → `/functions/a/retry` */
  pointer(...segments: Array<string | number>): string {
    return segments.map(pointerSegment).join('');
  }

  /** Where the key (or, failing that, the value) at this pointer was written. */
  keyAt(pointer: string): SourceLocation | undefined {
    const found = this.at.get(pointer);
    const pos = found?.key ?? found?.value;
    return pos ? { file: this.file, ...pos } : undefined;
  }

  valueAt(pointer: string): SourceLocation | undefined {
    const found = this.at.get(pointer);
    return found ? { file: this.file, ...found.value } : undefined;
  }

  pathOf(pointer: string): string | undefined {
    return this.at.get(pointer)?.path;
  }

  /** Records an error at the value (default) or the key of `pointer`. */
  report(code: ErrorCode, message: string, pointer: string, details: Omit<ErrorDetails, 'file' | 'line' | 'column' | 'key'> & { onKey?: boolean } = {}): void {
    const { onKey, ...rest } = details;
    const where = (onKey ? this.keyAt(pointer) : this.valueAt(pointer)) ?? this.keyAt(pointer) ?? { file: this.file };
    this.errors.push(new WarrenError(code, message, { ...where, key: this.pathOf(pointer), ...rest }));
  }
}
