/**
 * Operating a running instance from another process: its watchdog found and checked (the lock's
 * holder, as the kernel says, must be the process the registry names, and a watchdog), and the
 * instance scaled by one signal at a time, each acknowledged in the registry before the next (two
 * signals of one kind sent together would reach the watchdog as one).
 *
 * @module
 */

import { InstanceLock, readCommandLine, type SharedSegment, WATCHDOG_SLOT } from "../../ipc/mod.ts";
import { sleep } from "../timers.ts";
import { SCALE_DOWN_SIGNAL, SCALE_UP_SIGNAL } from "./operations.ts";

/** The instance's watchdog could not be found, or is not one: nothing was sent. */
export class WatchdogNotFoundError extends Error {
  /** Says why, in `message`. */
  constructor(message: string) {
    super(message);
    this.name = "WatchdogNotFoundError";
  }
}

/** The pid of the watchdog holding the lock `lock` of the instance whose segment is `segment`. */
export function watchdogOf(lock: string, segment: SharedSegment): number {
  const holder = InstanceLock.holder(lock);
  if (holder === null) {
    throw new WatchdogNotFoundError(`no watchdog holds ${lock}: the instance is not running`);
  }
  const registered = segment.slot(WATCHDOG_SLOT).get("pid");
  // The lock's holder and the registry's watchdog must be one process, and a watchdog (`main.ts
  // up`, or the watchdog's program).
  const line = readCommandLine(holder);
  if (registered !== holder || !/(main\.ts up|roles\/watchdog\/main\.ts)( |$)/.test(line)) {
    throw new WatchdogNotFoundError(
      `the lock ${lock} is held by pid ${holder}, which is not this instance's watchdog ` +
        `(the registry names pid ${registered}); nothing was sent`,
    );
  }
  return holder;
}

/** How many workers the instance's watchdog runs now, as its slot says. */
export function workersNow(segment: SharedSegment): number {
  return segment.slot(WATCHDOG_SLOT).get("workers");
}

/**
 * Scales the instance to `target` workers: one {@link SCALE_UP_SIGNAL} or
 * {@link SCALE_DOWN_SIGNAL} at a time (sent through `send`), each waited for until the watchdog's
 * slot counts it, at most `stepMs`. Returns the count the watchdog reached.
 */
export async function scaleBySignals(
  segment: SharedSegment,
  target: number,
  send: (signal: Deno.Signal) => void,
  stepMs = 2000,
): Promise<number> {
  for (let now = workersNow(segment); now !== target; now = workersNow(segment)) {
    send(now < target ? SCALE_UP_SIGNAL : SCALE_DOWN_SIGNAL);
    const until = performance.now() + stepMs;
    while (workersNow(segment) === now && performance.now() < until) await sleep(5);
    if (workersNow(segment) === now) return now;
  }
  return target;
}
