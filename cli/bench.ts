/**
 * `main.ts bench <name>`: benchmarks, printed as tables.
 *
 * @module
 */

import {
  formatIpcBench,
  formatRecoveryBench,
  formatStagesBench,
  runAllBenches,
  runIpcBench,
  runRecoveryBench,
  runStagesBench,
  writeReport,
} from "../bench/mod.ts";
import { type Command, intOption, parse, UsageError } from "./common.ts";

const USAGE = `Usage: main.ts bench ipc [--round-trips N] [--rounds R]
       main.ts bench stages [--single N] [--per-client N] [--json FILE]
       main.ts bench recovery [--trials N]
       main.ts bench all          (deno task bench: all three, one report in bench/)

ipc: named-pipe round-trip latency between this process and an echo child, for the toolkit's
async receive path (FifoReader: non-blocking read + poll(2) off the event loop) and for a blocking
readSync baseline. Both are measured in the same run, alternating in R rounds so that CPU placement
affects them alike. Prints median and p99 in µs and the ratio async/baseline (target <= 1.5).

  --round-trips N   round trips per method, at least 10000 recommended (default 10000)
  --rounds R        alternations between the methods (default 10)

stages: for each stage with 4 workers, 1 client × 2000 echo requests, then 8 clients × 500
requests (half echo, half requetetype2 20000): p50/p99 latency, throughput, and whether every
request got exactly its own answer. The relay echo p50 is compared with one kept-open TCP round
trip plus one pipe round trip measured in the same run (target <= 2×). Writes the JSON too.

  --single N        echo requests of the single client (default 2000)
  --per-client N    requests per client of the 8-client load (default 500)
  --json FILE       where the JSON goes (default bench/out/stages.json)

recovery: over N trials each (default 10), the time for the watchdog to detect and for the
system to serve again after a worker crash (SIGKILL), a worker freeze (SIGSTOP) and a dispatcher
crash (SIGKILL), and the cold start of 4 workers until the first answered request. Targets:
crash detected <= 50 ms, served again <= 300 ms; freeze detected <= heartbeat timeout + 200 ms;
cold start <= 500 ms.

  --trials N        trials per fault (default 10)`;

async function stages(
  values: { single?: string; "per-client"?: string; json: string },
): Promise<number> {
  const result = await runStagesBench({
    single: intOption("single", values.single, 2000, 1, 1_000_000),
    perClient: intOption("per-client", values["per-client"], 500, 1, 1_000_000),
  });
  console.log(formatStagesBench(result));
  const slash = values.json.lastIndexOf("/");
  if (slash > 0) Deno.mkdirSync(values.json.slice(0, slash), { recursive: true });
  Deno.writeTextFileSync(values.json, JSON.stringify(result, null, 2) + "\n");
  console.log(`JSON: ${values.json}`);
  const lossless = result.stages.every((s) =>
    s.single.wrongOrMissing + s.mixed.wrongOrMissing === 0 && s.clean
  );
  return lossless ? 0 : 1;
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
      "per-client": { type: "string" },
      json: { type: "string", default: "bench/out/stages.json" },
      trials: { type: "string" },
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (name === "stages") return await stages(values);
    if (name === "all") {
      const files = writeReport(await runAllBenches(), "bench");
      console.log(Deno.readTextFileSync(files[0]));
      console.log(`written: ${files.join(", ")}`);
      return 0;
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
