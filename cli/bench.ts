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
import { REPOSITORY, shown, userPath, writableDir } from "./paths.ts";

const USAGE = `Usage: deno task bench ipc [--round-trips N] [--rounds R]
       deno task bench stages [--requests N] [--warmup N] [--cold N] [--single N]
                              [--python-requests N] [--out DIR]
       deno task bench recovery [--trials N] [--out DIR]
       deno task bench all [--out DIR]   (deno task bench: all three, one report)

--out DIR: where the report (all: report.md, report.json and its charts), the JSON (stages:
stages.json) and the runs' traces (in DIR/out) go; default: the repository's bench/ folder.

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
process, all threads, from /proc/<pid>/stat); tracing on is held to <= 1.3 × off. Then one client,
echo only, for a lone request's latency (relay: against a same-run TCP + pipe reference). Last,
osps beside the plain Python implementation (examples/python/), each started once and driven in
three alternating rounds of the same load (--python-requests N per client): the targets are the
ratios osps ÷ Python, CPU per request <= 0.8 and requests/s >= 1.25 (moonshot 0.5 and 2), never
a figure from another run; the CPU is also shown by part (dispatcher, workers, supervisor), beside
the floors of both runtimes (the least TCP server in Deno and in Python, bench/floors.ts).
Every answer must be right; exit 1 otherwise.

  --requests N      measured requests per client (default 6000)
  --warmup N        warm-up requests per client before each round, not measured (default 1000)
  --cold N          requests per client of the cold measure (default 400)
  --single N        echo requests of the single client (default 2000)
  --python-requests N  measured requests per client beside Python (default 3000)

recovery: over N trials each (default 10), the time for the watchdog to detect and for the
system to serve again after a worker crash (SIGKILL), a worker freeze (SIGSTOP) and a dispatcher
crash (SIGKILL), and the cold start of 4 workers until the first answered request. Targets:
crash detected <= 50 ms, served again <= 300 ms; freeze detected <= heartbeat timeout + 200 ms;
cold start <= 500 ms.

  --trials N        trials per fault (default 10)`;

async function stages(
  values: {
    requests?: string;
    warmup?: string;
    cold?: string;
    single?: string;
    "python-requests"?: string;
  },
  out: string,
): Promise<number> {
  const result = await runStagesBench({
    requests: intOption("requests", values.requests, 6000, 1, 1_000_000),
    warmup: intOption("warmup", values.warmup, 1000, 0, 1_000_000),
    cold: intOption("cold", values.cold, COLD_REQUESTS, 1, 1_000_000),
    single: intOption("single", values.single, 2000, 1, 1_000_000),
    pythonRequests: intOption("python-requests", values["python-requests"], 3000, 3, 1_000_000),
    traceDir: `${out}/out`,
  });
  console.log(formatStagesBench(result));
  const json = `${out}/stages.json`;
  Deno.writeTextFileSync(json, JSON.stringify(result, null, 2) + "\n");
  console.log(`JSON: ${shown(json)}`);
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
      "python-requests": { type: "string" },
      out: { type: "string" },
      trials: { type: "string" },
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (!["ipc", "stages", "recovery", "all"].includes(name ?? "")) {
      throw new UsageError(`unknown benchmark ${JSON.stringify(name ?? "")}`);
    }
    const out = writableDir(
      values.out === undefined ? `${REPOSITORY}/bench` : userPath(values.out),
    );
    if (name === "stages") return await stages(values, out);
    if (name === "all") {
      const report = await runAllBenches(`${out}/out`);
      const files = writeReport(report, out);
      console.log(Deno.readTextFileSync(files[0]));
      console.log(`written: ${files.map(shown).join(", ")}`);
      // A benchmark whose requests were not all answered right measured a broken system.
      return report.stages.stages.every((s) => stageVerdicts(s).lossless) ? 0 : 1;
    }
    if (name === "recovery") {
      const result = await runRecoveryBench({
        trials: intOption("trials", values.trials, 10, 1, 1000),
        tracePath: `${out}/out/recovery-trace.jsonl`,
      });
      console.log(formatRecoveryBench(result));
      return 0;
    }
    const result = await runIpcBench({
      roundTrips: intOption("round-trips", values["round-trips"], 10_000, 1, 10_000_000),
      rounds: intOption("rounds", values.rounds, 10, 1, 1000),
    });
    console.log(formatIpcBench(result));
    return 0;
  },
};
