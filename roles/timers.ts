/**
 * Waiting, bounded: a sleep, and a wait for a promise that gives up after a time. Timers here never
 * keep the process alive past the wait they serve.
 *
 * @module
 */

/** Resolves after `ms`; rejects with `signal`'s reason as soon as it is aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Waits for `promise` at most `ms`; `null` on timeout. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => timer = setTimeout(resolve, ms, null));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A bounded wait ended before what it waited for happened. */
export class WaitTimeoutError extends Error {
  /** `what` had not happened after `timeoutMs`. */
  constructor(what: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`);
    this.name = "WaitTimeoutError";
  }
}

/**
 * Checks `condition` every 5 ms until it holds, and returns how long that took; throws
 * {@link WaitTimeoutError} naming `what` after `timeoutMs`. For what the kernel does not notify
 * (a pid vanishing, a registry field changing).
 */
export async function waitUntil(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<number> {
  const start = performance.now();
  while (!await condition()) {
    if (performance.now() - start > timeoutMs) throw new WaitTimeoutError(what, timeoutMs);
    await sleep(5, signal);
  }
  return performance.now() - start;
}
