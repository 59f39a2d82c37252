/**
 * A queue between producers that push from callbacks (a signal handler, a pipe's watch, a child's
 * exit) and consumers that await: the one queue of the toolkit's signal queue, pipe reader and
 * supervision loop.
 *
 * @module
 */

/**
 * An unbounded FIFO queue: {@link push} never blocks, {@link next} resolves with the oldest item,
 * waiting for one if there is none. Once {@link close}d, waiting and later `next` calls resolve with
 * `null` when no item is left.
 */
export class AsyncQueue<T> {
  #items: T[] = [];
  #waiters: ((item: T | null) => void)[] = [];
  #closed = false;

  /** Adds `item`, handing it to the oldest waiting consumer if there is one. */
  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }

  /** The oldest item, waiting for one; `null` once closed and empty. */
  next(): Promise<T | null> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The oldest item now, without waiting; `undefined` if there is none. */
  takeNow(): T | undefined {
    return this.#items.shift();
  }

  /** Keeps only the items `keep` holds for (in order). */
  retain(keep: (item: T) => boolean): void {
    this.#items = this.#items.filter(keep);
  }

  /** Items queued, not yet taken. */
  get length(): number {
    return this.#items.length;
  }

  /** Consumers waiting for an item. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Whether it is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes it: consumers waiting get `null`, and so do later ones once the items are taken. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter(null);
  }
}
