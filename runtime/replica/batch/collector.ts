/**
 * Fills batches: hands over `size` items as soon as they are there, or whatever arrived within
 * `windowMs` of the first item of a batch, so a trickle is never held until a batch fills.
 */
export class BatchCollector<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly size: number,
    private readonly windowMs: number,
    private readonly onBatch: (items: T[]) => void,
  ) {}

  /** items waiting for the batch to fill */
  get waiting(): number {
    return this.items.length;
  }

  /** those items, in arrival order */
  get pending(): readonly T[] {
    return this.items;
  }

  add(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.size) this.flush();
    else if (this.items.length === 1) this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  /** Hand over what is there now (the window ended, the batch is full, or the replica drains). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.onBatch(items);
  }
}
