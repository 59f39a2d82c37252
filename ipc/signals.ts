/**
 * Signals: their numbers and names (`node:os`'s table), one sent to a pid with ESRCH as its own
 * error, and a queue of the signals this process receives, for a loop to take in turn (the
 * handlers only queue them).
 *
 * @module
 */

import { constants } from "node:os";
import * as libc from "./libc.ts";
import { AsyncQueue } from "./async_queue.ts";

/** The signal was sent to a process that does not exist (ESRCH). */
export class NoSuchProcessError extends Error {
  /** The pid that was signalled. */
  readonly pid: number;
  /** `signal` could not be sent to `pid`, which is gone; `cause` is the ESRCH. */
  constructor(pid: number, signal: string, cause: unknown) {
    super(`cannot send ${signal} to pid ${pid}: no such process (ESRCH)`, { cause });
    this.name = "NoSuchProcessError";
    this.pid = pid;
  }
}

/** The signals this system knows, by name (`node:os`'s table for the running platform). */
const SIGNALS: Readonly<Record<string, number>> = constants.signals;

/** Signal names by number; where two names share a number (SIGIOT, SIGABRT) the later wins. */
const SIGNAL_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(SIGNALS).map(([name, n]) => [n, name]),
);

/** The number of the signal named `name` (`SIGABRT` → 6), or null for a name without one. */
export function knownSignalNumber(name: string): number | null {
  return SIGNALS[name] ?? null;
}

/** The number of a signal, by Deno's name for it. */
export function signalNumber(signal: Deno.Signal): number {
  const n = knownSignalNumber(signal);
  if (n === null) throw new TypeError(`the toolkit does not know the number of ${signal}`);
  return n;
}

/** The name of signal number `n` (`6` → `SIGABRT`), or null for a number without one (40). */
export function signalName(n: number): string | null {
  return SIGNAL_NAMES[n] ?? null;
}

/** Sends `signal` to `pid` (kill(2)); {@link NoSuchProcessError} if the process is gone. */
export function sendSignal(pid: number, signal: Deno.Signal): void {
  try {
    libc.kill(pid, signalNumber(signal));
  } catch (e) {
    if (e instanceof libc.SysCallError && e.errno === libc.Errno.ESRCH) {
      throw new NoSuchProcessError(pid, signal, e);
    }
    throw e;
  }
}

/**
 * Received signals, queued in arrival order for a loop to handle (as Gunicorn's arbiter does):
 * the handlers only queue, the loop acts. A listener does not keep the process alive.
 */
export class SignalQueue implements Disposable, AsyncIterable<Deno.Signal> {
  #signals: Deno.Signal[];
  #queue = new AsyncQueue<Deno.Signal>();
  #handlers = new Map<Deno.Signal, () => void>();

  /** Starts listening for `signals`. */
  constructor(signals: Deno.Signal[]) {
    this.#signals = signals;
    for (const s of signals) {
      const handler = () => this.#queue.push(s);
      this.#handlers.set(s, handler);
      Deno.addSignalListener(s, handler);
    }
  }

  /** The next signal received (maybe already queued); `null` once closed. */
  next(): Promise<Deno.Signal | null> {
    return this.#queue.next();
  }

  /** Iterates over received signals until closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Deno.Signal> {
    while (true) {
      const s = await this.next();
      if (s === null) return;
      yield s;
    }
  }

  /** Stops listening; pending {@link next} calls resolve with `null`. */
  close(): void {
    if (this.#queue.closed) return;
    for (const s of this.#signals) Deno.removeSignalListener(s, this.#handlers.get(s)!);
    this.#queue.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
