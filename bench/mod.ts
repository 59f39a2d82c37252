/**
 * Benchmarks, as modules for your own measurements: `runIpcBench` (named-pipe round trips, the
 * toolkit's async receive against a blocking baseline) and `runStagesBench` (each stage under one
 * and under eight clients, against a same-run TCP + pipe reference).
 *
 * @module
 */

export * from "./ipc.ts";
export * from "./stages.ts";
export * from "./recovery.ts";
export * from "./report.ts";
