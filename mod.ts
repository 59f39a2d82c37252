/**
 * osps: a toolkit to run, watch, break and measure a multi-process server system on Linux with
 * real OS primitives. This entry re-exports the OS layer (`ipc/`), the roles (`roles/`) and the
 * scenarios (`scenarios/`).
 *
 * @module
 */

export * from "./ipc/mod.ts";
export * from "./roles/mod.ts";
export * from "./scenarios/mod.ts";
