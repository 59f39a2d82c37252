/**
 * Percentiles, one definition for every report of the toolkit (the observer, the scenarios, the
 * client's summary, the checker, the benchmarks): the nearest rank.
 *
 * @module
 */

/**
 * The `q`-quantile (0 < q ≤ 1) of values sorted in ascending order, by the nearest rank: the
 * smallest value at least `q` of the values are at or under — `sorted[ceil(q·n) − 1]`. The p50 of
 * [1, 2, 3, 4] is 2, its p99 is 4. `empty` (default 0) when there are no values.
 */
export function quantile(sorted: readonly number[], q: number, empty = 0): number {
  if (sorted.length === 0) return empty;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** `values` sorted in ascending order, in a new array. */
export function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
