/**
 * `main.ts bench <name>`: benchmarks, printed as tables.
 *
 * @module
 */

import { formatIpcBench, runIpcBench } from "../bench/mod.ts";
import { type Command, intOption, parse, UsageError } from "./common.ts";

const USAGE = `Usage: main.ts bench ipc [--round-trips N] [--rounds R]

Named-pipe round-trip latency between this process and an echo child, for the toolkit's async
receive path (FifoReader: non-blocking read + poll(2) off the event loop) and for a blocking
readSync baseline. Both are measured in the same run, alternating in R rounds so that CPU placement
affects them alike. Prints median and p99 in µs and the ratio async/baseline (target <= 1.5).

Options:
  --round-trips N   round trips per method, at least 10000 recommended (default 10000)
  --rounds R        alternations between the methods (default 10)`;

/** `main.ts bench`. */
export const benchCommand: Command = {
  summary: "run a benchmark: ipc",
  usage: USAGE,
  run: async (args) => {
    const [name, ...rest] = args;
    const { values } = parse(rest, {
      "round-trips": { type: "string" },
      rounds: { type: "string" },
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
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
