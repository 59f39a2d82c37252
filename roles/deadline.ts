/**
 * One coarse clock for every timeout of a process: request, claim, idle and drain timeouts are
 * entries in one set, swept every {@link DEADLINE_TICK_MS} by one interval timer, instead of a
 * timer each (a timer per request or per line costs a few µs each, and most are cancelled).
 * A deadline fires up to one tick late. The interval runs only while deadlines are pending and
 * never keeps the process alive by itself.
 *
 * @module
 */

/** How often pending deadlines are checked, ms: the lateness bound of every deadline. */
export const DEADLINE_TICK_MS = 50;

const pending = new Set<Deadline>();
let timer: ReturnType<typeof setInterval> | undefined;

function sweep(): void {
  const now = performance.now();
  for (const d of pending) {
    if (d.at <= now) {
      pending.delete(d);
      d.fire();
    }
  }
  if (pending.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** A pending deadline: it calls its action once, unless cancelled first. */
export class Deadline {
  /** When it fires, on the `performance.now()` clock. */
  at: number;
  readonly #action: () => void;
  #fired = false;

  /** @internal Use {@link deadlineAfter}. */
  constructor(ms: number, action: () => void) {
    this.at = performance.now() + ms;
    this.#action = action;
  }

  /** Whether it has fired. */
  get fired(): boolean {
    return this.#fired;
  }

  /** @internal Called by the sweep. */
  fire(): void {
    this.#fired = true;
    this.#action();
  }

  /** Cancels it; does nothing once fired. */
  cancel(): void {
    pending.delete(this);
  }

  /** Moves it to `ms` from now (again pending if it had fired or was cancelled). */
  restart(ms: number): void {
    this.at = performance.now() + ms;
    this.#fired = false;
    schedule(this);
  }
}

function schedule(d: Deadline): void {
  pending.add(d);
  if (timer === undefined) {
    const interval = setInterval(sweep, DEADLINE_TICK_MS);
    Deno.unrefTimer(interval);
    timer = interval;
  }
}

/** Calls `action` once, `ms` from now (up to one tick late), unless cancelled. */
export function deadlineAfter(ms: number, action: () => void): Deadline {
  const d = new Deadline(ms, action);
  schedule(d);
  return d;
}
