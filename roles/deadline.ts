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

/** Where a set of deadlines reads the time and gets its tick: real time, or a test's own. */
export interface DeadlineClock {
  /** The time now, ms (`performance.now()`'s clock for real time). */
  now(): number;
  /** Calls `tick` every `ms` until the function returned is called. */
  every(ms: number, tick: () => void): () => void;
}

/** Real time: `performance.now()`, and an interval timer that never keeps the process alive. */
export const REAL_CLOCK: DeadlineClock = {
  now: () => performance.now(),
  every(ms, tick) {
    const interval = setInterval(tick, ms);
    Deno.unrefTimer(interval);
    return () => clearInterval(interval);
  },
};

/** A pending deadline: it calls its action once, unless cancelled first. */
export class Deadline {
  /** When it fires, on its clock. */
  at: number;
  readonly #set: Deadlines;
  readonly #action: () => void;
  #fired = false;

  /** @internal Use {@link Deadlines.after} or {@link deadlineAfter}. */
  constructor(set: Deadlines, ms: number, action: () => void) {
    this.#set = set;
    this.at = set.clock.now() + ms;
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
    this.#set.unschedule(this);
  }

  /** Moves it to `ms` from now (again pending if it had fired or was cancelled). */
  restart(ms: number): void {
    this.at = this.#set.clock.now() + ms;
    this.#fired = false;
    this.#set.schedule(this);
  }
}

/** A set of deadlines swept every {@link DEADLINE_TICK_MS} of its clock while any is pending. */
export class Deadlines {
  /** The clock it reads and ticks on. */
  readonly clock: DeadlineClock;
  readonly #pending = new Set<Deadline>();
  #stopTicking: (() => void) | null = null;

  /** Deadlines on `clock` (real time by default). */
  constructor(clock: DeadlineClock = REAL_CLOCK) {
    this.clock = clock;
  }

  /** Calls `action` once, `ms` from now (up to one tick late), unless cancelled. */
  after(ms: number, action: () => void): Deadline {
    const d = new Deadline(this, ms, action);
    this.schedule(d);
    return d;
  }

  /** How many are pending. */
  get pending(): number {
    return this.#pending.size;
  }

  /** @internal Adds `d`; the tick runs while any deadline is pending. */
  schedule(d: Deadline): void {
    this.#pending.add(d);
    this.#stopTicking ??= this.clock.every(DEADLINE_TICK_MS, () => this.sweep());
  }

  /** @internal Removes `d`. */
  unschedule(d: Deadline): void {
    this.#pending.delete(d);
  }

  /** Fires every deadline that is due; stops the tick once none is pending. */
  sweep(): void {
    const now = this.clock.now();
    for (const d of this.#pending) {
      if (d.at <= now) {
        this.#pending.delete(d);
        d.fire();
      }
    }
    if (this.#pending.size === 0 && this.#stopTicking !== null) {
      this.#stopTicking();
      this.#stopTicking = null;
    }
  }
}

/** The process's deadlines, on real time. */
const processDeadlines = new Deadlines();

/** Calls `action` once, `ms` from now (up to one tick late), unless cancelled: real time. */
export function deadlineAfter(ms: number, action: () => void): Deadline {
  return processDeadlines.after(ms, action);
}
