/**
 * `main.ts soak`: every stage under 8 clients and a seeded schedule of faults.
 *
 * @module
 */

import { formatSoak, runSoak } from "../scenarios/mod.ts";
import {
  type Command,
  intOption,
  LOAD_RUN_FLAGS,
  overStages,
  parse,
  usageShown,
} from "./common.ts";

const USAGE = `Usage: deno task soak [--seconds S] [--stage S] [--seed N] [--clients N]

For each stage (or the one given), 8 clients send a continuous mix of requests while a fault
injector, on a seeded schedule, SIGKILLs a random worker every 2 s, SIGSTOPs one every 5 s, and
SIGKILLs the dispatcher once. Reports requests, OK, wrong answers, ERR by code, unanswered
requests, retries, max latency, restarts, zombies (sampled every 100 ms), orphans and leftovers.
Pass: 0 wrong, 0 unanswered, 0 lasting zombies, orphans and leftovers, at least 99 % OK.

Options:
  --seconds S   load per stage (default 60)
  --stage S     only this stage (relay, worker-calls-client, client-calls-worker, ideal)
  --seed N      the fault schedule's seed (default 1)
  --clients N   concurrent clients (default 8)
Exit status: 0 if every stage passed, 1 if one failed, 130 when interrupted (Ctrl-C): the run
ends where it is, and what it started is stopped and removed.`;

/** `main.ts soak`. */
export const soakCommand: Command = {
  summary: "every stage under load and injected faults, for a while",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, LOAD_RUN_FLAGS);
    if (values.help) return usageShown(USAGE);
    return await overStages(values.stage, (stage, signal) =>
      runSoak({
        stage,
        seconds: intOption("seconds", values.seconds, 60, 1, 86_400),
        seed: intOption("seed", values.seed, 1, 0, 2 ** 31),
        clients: intOption("clients", values.clients, 8, 1, 1000),
        signal,
      }), formatSoak);
  },
};
