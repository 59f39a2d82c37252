/**
 * Benchmarks, as modules for your own measurements: `runIpcBench` (named-pipe round trips, the
 * toolkit's async receive against a blocking baseline).
 *
 * @module
 */

export * from "./ipc.ts";
