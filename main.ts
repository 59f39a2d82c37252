/**
 * The osps command line: `deno run <permissions> main.ts <command> [options]`. The deno tasks in
 * `deno.json` call it with the right permission flags; `--help` works on every command.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { getLogLevels, isLogLevel } from "@logtape/logtape";
import { SignalQueue } from "./ipc/mod.ts";
import { formatLeftovers, isClean, type PingPongReport, runPingPong } from "./scenarios/mod.ts";
import { formatIpcBench, runIpcBench } from "./bench/mod.ts";

/** A command-line usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

interface Command {
  summary: string;
  usage: string;
  run: (args: string[]) => Promise<number>;
}

const MAIN_USAGE = `osps: run, watch, break and measure a multi-process server system

Usage: main.ts <command> [options]     (or a deno task, see deno.json)

Commands:
  scenario pingpong [--count N]   the ping-pong exercise (seed 2.a/2.b) with its proof
  bench ipc [--round-trips N]     named-pipe round-trip latency: async receive vs readSync
  help [command]                  this text, or a command's

Every command takes --help.`;

/** parseArgs with `--help`/`-h` added; its errors become {@link UsageError}s. */
function parse<const O extends ParseArgsOptionsConfig>(args: string[], options: O) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } } as const,
      strict: true,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function positiveInt(
  name: string,
  value: string | undefined,
  fallback: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(
      `--${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** Runs `fn` with an AbortSignal that the first SIGINT or SIGTERM aborts. */
async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  using signals = new SignalQueue(["SIGINT", "SIGTERM"]);
  signals.next().then((s) => s && controller.abort(new Error(`interrupted by ${s}`)));
  return await fn(controller.signal);
}

const SCENARIO_USAGE = `Usage: main.ts scenario pingpong [--count N] [--log-level LEVEL]

The ping-pong exercise (seed questions 2.a/2.b): this process creates a private runtime directory
(0700), a shared segment and two named pipes (dwtube1, wdtube1), spawns a child, and they exchange
N ping/pong messages (default 10), each with a counter and timestamp in the segment. Then the child
stops first and is reaped, the pipes, segment and directory are removed, and the run prints its
proof: the child's exit status, no zombie in /proc, nothing left. Ctrl-C stops early, cleanly.

Options:
  --count N          exchanges, 1 to 1000000 (default 10)
  --log-level LEVEL  the child's stderr log level (default warning)
Exit status: 0 when every exchange was right and nothing was left behind, 1 otherwise,
130 when interrupted.`;

function printPingPong(report: PingPongReport): boolean {
  const status = report.childStatus;
  const clean = isClean(report.leftovers);
  console.log(
    "\nstop: child told to stop first, then reaped; then pipes, segment, directory removed",
  );
  console.log("proof:");
  console.log(
    `  child pid ${report.childPid}: ` +
      (status === null
        ? "no exit status (never reaped)"
        : `exited with code ${status.code}${
          status.signal ? ` (signal ${status.signal})` : ""
        }, reaped`),
  );
  for (const line of formatLeftovers(report.leftovers)) console.log(`  ${line}`);
  const complete = report.aborted || report.exchanges.length === report.count;
  const ok = report.error === null && complete && status?.success === true && clean;
  const rtts = report.exchanges.map((e) => e.rttUs).sort((a, b) => a - b);
  if (rtts.length > 0) {
    console.log(`  round trips: ${rtts.length}, median ${rtts[rtts.length >> 1].toFixed(0)} µs`);
  }
  if (report.error !== null) console.log(`  error: ${report.error}`);
  if (report.aborted) {
    console.log(`  interrupted after ${report.exchanges.length} of ${report.count} exchanges`);
  }
  console.log(ok ? "result: OK" : `result: FAILED${clean ? "" : " (leftovers above)"}`);
  return ok;
}

const COMMANDS: Record<string, Command> = {
  scenario: {
    summary: "run a scripted scenario",
    usage: SCENARIO_USAGE,
    run: async (args) => {
      const [name, ...rest] = args;
      const { values } = parse(rest, {
        count: { type: "string" },
        "log-level": { type: "string", default: "warning" },
      });
      if (values.help || name === "--help" || name === "-h") {
        console.log(SCENARIO_USAGE);
        return 0;
      }
      if (name !== "pingpong") {
        throw new UsageError(`unknown scenario ${JSON.stringify(name ?? "")}`);
      }
      const count = positiveInt("count", values.count, 10, 1_000_000);
      if (!isLogLevel(values["log-level"])) {
        throw new UsageError(`--log-level must be one of ${getLogLevels().join(", ")}`);
      }
      const report = await interruptible((signal) =>
        runPingPong({
          count,
          signal,
          logLevel: values["log-level"],
          onStart: (s) =>
            console.log(
              `ping-pong: ${count} exchanges; parent pid ${Deno.pid}, child pid ${s.childPid}\n` +
                `  segment ${s.segment} (mailbox 1), pipes in ${s.runtimeDir}: ` +
                `dwtube1 parent→child, wdtube1 child→parent`,
            ),
          onExchange: (e) =>
            console.log(
              `  #${String(e.n).padStart(3)}  ping → dwtube1 (shm seq ${e.n})` +
                `  pong ← wdtube1 (shm seq ${e.n})  child stamp +${e.childStampUs.toFixed(0)} µs` +
                `  rtt ${e.rttUs.toFixed(0)} µs`,
            ),
        })
      );
      const ok = printPingPong(report);
      return report.aborted ? 130 : ok ? 0 : 1;
    },
  },
  bench: {
    summary: "run a benchmark",
    usage: `Usage: main.ts bench ipc [--round-trips N] [--rounds R]

Named-pipe round-trip latency between this process and an echo child, for the toolkit's async
receive path (FifoReader: non-blocking read + poll(2) off the event loop) and for a blocking
readSync baseline. Both are measured in the same run, alternating in R rounds so that CPU placement
affects them alike. Prints median and p99 in µs and the ratio async/baseline (target <= 1.5).

Options:
  --round-trips N   round trips per method, at least 10000 recommended (default 10000)
  --rounds R        alternations between the methods (default 10)`,
    run: async (args) => {
      const [name, ...rest] = args;
      const { values } = parse(rest, {
        "round-trips": { type: "string" },
        rounds: { type: "string" },
      });
      if (values.help || name === "--help" || name === "-h") {
        console.log(COMMANDS.bench.usage);
        return 0;
      }
      if (name !== "ipc") throw new UsageError(`unknown benchmark ${JSON.stringify(name ?? "")}`);
      const result = await runIpcBench({
        roundTrips: positiveInt("round-trips", values["round-trips"], 10_000, 10_000_000),
        rounds: positiveInt("rounds", values.rounds, 10, 1000),
      });
      console.log(formatIpcBench(result));
      return 0;
    },
  },
};

/** Runs the command line `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    const topic = command === "help" ? COMMANDS[rest[0] ?? ""] : undefined;
    console.log(topic ? topic.usage : MAIN_USAGE);
    return 0;
  }
  const cmd = COMMANDS[command];
  try {
    if (cmd === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return await cmd.run(rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\n${cmd?.usage ?? MAIN_USAGE}`);
    return 2;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
