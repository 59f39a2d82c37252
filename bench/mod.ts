/**
 * Benchmarks, as modules for your own measurements: `runIpcBench` (named-pipe round trips, the
 * toolkit's async receive against a blocking baseline) and `runStagesBench` (each stage under one
 * and under eight clients, beside the plain Python implementation and against same-run references),
 * `runFloorsBench` (the least TCP server in Deno and in Python).
 *
 * @module
 */

export * from "./floors.ts";
export * from "./ipc.ts";
export * from "./stages.ts";
export * from "./recovery.ts";
export * from "./report.ts";
