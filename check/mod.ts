/**
 * `deno task check`: tests, measures and breaks any implementation of the course project, osps
 * itself being the reference. The system under check is a command line; its checks, in groups:
 * the wire contract (`contract.ts`), a verified load and its CPU per request (`load.ts`), its
 * architecture read from /proc (`architecture.ts`), faults and recovery (`faults.ts`), and its
 * stop and what it left (`cleanup.ts`); `run.ts` runs one stage of them, `compare.ts` measures
 * two systems in alternating rounds, `report.ts` and `report_html.ts` say what was found.
 *
 * @module
 */

export * from "./architecture.ts";
export * from "./cleanup.ts";
export * from "./compare.ts";
export * from "./contract.ts";
export * from "./faults.ts";
export * from "./load.ts";
export { checkRequest, epochMs } from "./load_gen.ts";
export * from "./report.ts";
export * from "./report_html.ts";
export * from "./run.ts";
export * from "./target.ts";
export * from "./verdict.ts";
export * from "./wire.ts";
