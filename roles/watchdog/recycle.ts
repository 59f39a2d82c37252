/**
 * When a worker process is recycled (`--max-requests`, `--max-requests-jitter`, `--max-rss`), as
 * pure code: its request budget, drawn when it starts, and whether it is due.
 *
 * @module
 */

/** When a worker process is recycled. */
export interface RecycleLimits {
  /** After this many requests, ± {@link jitter} (0: never). */
  maxRequests: number;
  /** The spread of the request budget, so that workers started together are not recycled together. */
  jitter: number;
  /** Above this resident memory, MiB (0: never). */
  maxRssMiB: number;
}

/**
 * The requests a new worker process serves before it is recycled: `maxRequests` ± `jitter`
 * (uniformly, at least 1); 0 when recycling by requests is off.
 */
export function requestBudget(limits: RecycleLimits, random: () => number = Math.random): number {
  if (limits.maxRequests === 0) return 0;
  const spread = Math.round((2 * random() - 1) * limits.jitter);
  return Math.max(1, limits.maxRequests + spread);
}

/**
 * Why a worker is due for recycling (`served` requests of a `budget`, `rssKib` of memory now), or
 * null.
 */
export function recycleReason(
  limits: RecycleLimits,
  served: number,
  budget: number,
  rssKiB: number | null,
): string | null {
  if (budget > 0 && served >= budget) return `served ${served} requests (its budget ${budget})`;
  if (limits.maxRssMiB > 0 && rssKiB !== null && rssKiB > limits.maxRssMiB * 1024) {
    return `resident memory ${Math.round(rssKiB / 1024)} MiB > --max-rss ${limits.maxRssMiB}`;
  }
  return null;
}
