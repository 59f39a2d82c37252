/**
 * `main.ts bench <name>`: benchmarks, printed as tables.
 *
 * @module
 */

import {
  COLD_REQUESTS,
  formatIpcBench,
  formatRecoveryBench,
  formatStagesBench,
  runAllBenches,
  runIpcBench,
  runRecoveryBench,
  runStagesBench,
  stageVerdicts,
  writeReport,
} from "../bench/mod.ts";
import { type Command, intOption, parse, UsageError } from "./common.ts";

const USAGE = `Usage: main.ts bench ipc [--round-trips N] [--rounds R]
       main.ts bench stages [--requests N] [--warmup N] [--cold N] [--single N] [--json FILE]
       main.ts bench recovery [--trials N]
       main.ts bench all          (deno task bench: all three, one report in bench/)

ipc: named-pipe round trips between this process and an echo child, for three ways of waiting for
the answer: the toolkit's default (FifoReader: the descriptor watched by the event loop through a
node:net socket), its fallback (FifoReader with poll(2) on the blocking thread pool) and a blocking
readSync baseline. They alternate in R rounds, so that CPU placement affects them alike. Prints
median and p99 in µs, the CPU of both processes per round trip, and the ratio default/baseline
(target <= 1.5).

  --round-trips N   round trips per method, at least 10000 recommended (default 10000)
  --rounds R        alternations between the methods (default 10)

stages: for each stage, a fresh system of 4 workers with the default options, driven by a
load-generator process of its own: 8 clients, each on one connection, half echo and half
requetetype2 20000, a warm-up, then N measured requests each; tracing off and on, on two systems
driven in turn in three rounds. Before them, the untraced system's first requests, cold (no
warm-up, V8 still compiling): --cold N per client, the cost issue's own load.
Prints requests/s, p50/p99, and the CPU per request of each role and of the whole instance (every
process, all threads, from /proc/<pid>/stat), each held to its target: instance CPU (relay <= 80
µs, the others <= 170), requests/s against the figure before the cost work (relay >= 3×, the
others >= 2×), tracing on <= 1.3 × off. Then one client, echo only, for a lone request's latency
(relay: against a same-run TCP + pipe reference). Every answer must be right; exit 1 otherwise.

  --requests N      measured requests per client (default 6000)
  --warmup N        warm-up requests per client before each round, not measured (default 1000)
  --cold N          requests per client of the cold measure (default 400)
  --single N        echo requests of the single client (default 2000)
  --json FILE       where the JSON goes (default bench/out/stages.json)

recovery: over N trials each (default 10), the time for the watchdog to detect and for the
system to serve again after a worker crash (SIGKILL), a worker freeze (SIGSTOP) and a dispatcher
crash (SIGKILL), and the cold start of 4 workers until the first answered request. Targets:
crash detected <= 50 ms, served again <= 300 ms; freeze detected <= heartbeat timeout + 200 ms;
cold start <= 500 ms.

  --trials N        trials per fault (default 10)`;

async function stages(
  values: { requests?: string; warmup?: string; cold?: string; single?: string; json: string },
): Promise<number> {
  const result = await runStagesBench({
    requests: intOption("requests", values.requests, 6000, 1, 1_000_000),
    warmup: intOption("warmup", values.warmup, 1000, 0, 1_000_000),
    cold: intOption("cold", values.cold, COLD_REQUESTS, 1, 1_000_000),
    single: intOption("single", values.single, 2000, 1, 1_000_000),
  });
  console.log(formatStagesBench(result));
  const slash = values.json.lastIndexOf("/");
  if (slash > 0) Deno.mkdirSync(values.json.slice(0, slash), { recursive: true });
  Deno.writeTextFileSync(values.json, JSON.stringify(result, null, 2) + "\n");
  console.log(`JSON: ${values.json}`);
  return result.stages.every((s) => stageVerdicts(s).lossless) ? 0 : 1;
}

/** `main.ts bench`. */
export const benchCommand: Command = {
  summary: "run a benchmark: ipc, stages, recovery",
  usage: USAGE,
  run: async (args) => {
    const [name, ...rest] = args;
    const { values } = parse(rest, {
      "round-trips": { type: "string" },
      rounds: { type: "string" },
      single: { type: "string" },
      requests: { type: "string" },
      warmup: { type: "string" },
      cold: { type: "string" },
      json: { type: "string", default: "bench/out/stages.json" },
      trials: { type: "string" },
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (name === "stages") return await stages(values);
    if (name === "all") {
      const report = await runAllBenches();
      const files = writeReport(report, "bench");
      console.log(Deno.readTextFileSync(files[0]));
      console.log(`written: ${files.join(", ")}`);
      // A benchmark whose requests were not all answered right measured a broken system.
      return report.stages.stages.every((s) => stageVerdicts(s).lossless) ? 0 : 1;
    }
    if (name === "recovery") {
      const result = await runRecoveryBench({
        trials: intOption("trials", values.trials, 10, 1, 1000),
      });
      console.log(formatRecoveryBench(result));
      return 0;
    }
    if (name !== "ipc") throw new UsageError(`unknown benchmark ${JSON.stringify(name ?? "")}`);
    const result = await runIpcBench({
      roundTrips: intOption("round-trips", values["round-trips"], 10_000, 1, 10_000_000),
      rounds: intOption("rounds", values.rounds, 10, 1, 1000),
    });
    console.log(formatIpcBench(result));
    return 0;
  },
};
