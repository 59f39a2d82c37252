/**
 * `main.ts fuzz`: hostile input against every stage, with a canary.
 *
 * @module
 */

import { formatFuzz, runFuzz } from "../scenarios/mod.ts";
import { type Command, intOption, overStages, parse, usageShown } from "./common.ts";

const USAGE = `Usage: deno task fuzz [--inputs N] [--stage S] [--idle N] [--slowloris S] [--seed N]

Against a running system of each stage (or the one given): at least N generated inputs (default
10000) — random bytes, invalid UTF-8, NUL bytes, lines of 4096 and 4097 bytes, endless lines,
requests with bad arguments, unknown types, LISTEN to ports that refuse, REDIRECTs never
followed, half-closed sockets — plus --idle idle connections (default 500) and 3 slowloris
connections (one byte a second for --slowloris seconds, default 5), while a canary checks every
100 ms that right answers keep coming. Every input must get a line of the protocol or a clean
close; no role may crash; each role's peak RSS is reported (must stay under 300 MiB).
Exit status: 0 if every stage passed, 1 if one failed, 130 when interrupted (Ctrl-C): the run
ends where it is, and what it started is stopped and removed.`;

/** `main.ts fuzz`. */
export const fuzzCommand: Command = {
  summary: "hostile input against every stage, with a canary",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, {
      inputs: { type: "string" },
      stage: { type: "string" },
      idle: { type: "string" },
      slowloris: { type: "string" },
      seed: { type: "string" },
    });
    if (values.help) return usageShown(USAGE);
    return await overStages(values.stage, (stage, signal) =>
      runFuzz({
        stage,
        inputs: intOption("inputs", values.inputs, 10_000, 1, 10_000_000),
        idleConnections: intOption("idle", values.idle, 500, 0, 20_000),
        slowlorisSeconds: intOption("slowloris", values.slowloris, 5, 1, 600),
        seed: intOption("seed", values.seed, 1, 0, 2 ** 31),
        signal,
      }), formatFuzz);
  },
};
