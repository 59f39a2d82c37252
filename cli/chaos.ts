/**
 * `main.ts chaos`: random fatal signals into random roles and the standby, under a verified load.
 *
 * @module
 */

import { formatChaos, runChaos } from "../scenarios/mod.ts";
import {
  type Command,
  intOption,
  LOAD_RUN_FLAGS,
  overStages,
  parse,
  usageShown,
} from "./common.ts";
import { userPath, writableDir } from "./paths.ts";
import { dirname } from "node:path";

const USAGE =
  `Usage: deno task chaos [--seconds N] [--seed N] [--stage S] [--clients N] [--trace FILE]

For each stage (or the one given), 8 clients send a continuous mix of requests, every answer
checked, while a seeded injector sends a random fatal signal about every 1.3 s (about 140 in 3
minutes) — SIGKILL, SIGSTOP, SIGABRT, SIGTRAP, SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGXCPU, SIGSYS —
into a random role (the dispatcher, a worker) or the standby, leaving alone a slot it hit 3 times
in the last 10 s (the crash-loop limit is scenario:crash-loop's). Then it stops the instance and
reports: requests, right, wrong, lost (each explained by the fault that hit it in flight), the
restarts, the outages (spells of over 200 ms with no right answer, and the faults behind them),
the stop's time and what was left.
Pass: no wrong answer; every lost request explained; the watchdog never exits but at the stop;
no outage over 1 s (a frozen dispatcher's: the heartbeat timeout + 500 ms); a clean stop that
leaves nothing.

Options:
  --seconds N   faults per stage, s (default 180)
  --seed N      the injector's seed (default 1): the same seed, the same schedule
  --stage S     only this stage (relay, worker-calls-client, client-calls-worker, ideal)
  --clients N   concurrent clients (default 8)
  --trace FILE  trace the run into FILE (default: no trace)
Exit status: 0 if every stage passed, 1 if one failed, 130 when interrupted (Ctrl-C).`;

/** `main.ts chaos`. */
export const chaosCommand: Command = {
  summary: "random fatal signals into random roles and the standby, under a verified load",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, { ...LOAD_RUN_FLAGS, trace: { type: "string" } });
    if (values.help) return usageShown(USAGE);
    const seconds = intOption("seconds", values.seconds, 180, 1, 86_400);
    const seed = intOption("seed", values.seed, 1, 0, 2 ** 31);
    const clients = intOption("clients", values.clients, 8, 1, 1000);
    const trace = values.trace === undefined ? undefined : userPath(values.trace);
    if (trace !== undefined) writableDir(dirname(trace));
    return await overStages(
      values.stage,
      (stage, signal) => runChaos({ stage, seconds, seed, clients, tracePath: trace, signal }),
      formatChaos,
    );
  },
};
