/**
 * What every command of the CLI shares: argument parsing with `--help`, usage errors and the
 * option checks (from `roles/options.ts`), and turning SIGINT/SIGTERM into an abort.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import {
  defaultRuntimeBase,
  describeExit,
  parentPid,
  type ProcessExit,
  readCommandLine,
  SegmentNotFoundError,
  SharedSegment,
  SignalQueue,
} from "../ipc/mod.ts";
import {
  type InstancePaths,
  instancePaths,
  intOption,
  type Stage,
  stageOption,
  UsageError,
} from "../roles/mod.ts";

export { intOption, logLevelOption, stageOption, UsageError } from "../roles/mod.ts";

/**
 * A command that cannot do what it was asked, for a reason the user can act on (a folder it
 * cannot write, a file that is not a trace): one line, exit code 1, nothing left behind.
 */
export class CommandError extends Error {
  /** A command error saying `message`. */
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** Whether this process was started by a deno task (its parent is `deno task …`). */
const underTask = / task /.test(` ${readCommandLine(parentPid())} `);

/**
 * What the user types to run `main.ts <args>`: `deno task <args>` when started through a deno
 * task, else `main.ts <args>` (with Deno's permissions before it).
 */
export function typed(args: string): string {
  return underTask ? `deno task ${args}` : `main.ts ${args}`;
}

/** A command of the CLI. */
export interface Command {
  /** One line for the main help. */
  summary: string;
  /** The command's `--help` text. */
  usage: string;
  /** Runs the command with its arguments; resolves with the exit code. */
  run: (args: string[]) => Promise<number>;
}

/**
 * parseArgs with `--help`/`-h` added and `--no-X` for a boolean `--X`; its errors become
 * {@link UsageError}s.
 */
export function parse<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  allowPositionals = false,
) {
  // `--workers -1`: a value that looks like an option, which parseArgs calls ambiguous; passed
  // on as the value it is, the option's own check says what is wrong with it.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : "";
    const negative = /^-\d/.test(args[i + 1] ?? "");
    if (negative && options[name]?.type === "string") joined.push(`${args[i]}=${args[++i]}`);
    else joined.push(args[i]);
  }
  try {
    return parseArgs({
      args: joined,
      options: { ...options, help: { type: "boolean", short: "h" } } as const,
      strict: true,
      allowNegative: true,
      allowPositionals,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Runs `fn` with an AbortSignal that the first SIGINT or SIGTERM aborts. */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  using signals = new SignalQueue(["SIGINT", "SIGTERM"]);
  signals.next().then((s) => s && controller.abort(new Error(`interrupted by ${s}`)));
  return await fn(controller.signal);
}

/**
 * Runs `run` for the stage named by `--stage`, or for all three stages, printing each report with
 * `format`; resolves with the exit code: 0 if every report passed, 130 if SIGINT or SIGTERM
 * interrupted it (`run`'s signal aborts; the run ends where it is, cleaning up, and no later stage
 * starts).
 */
export async function overStages<R extends { passed: boolean }>(
  stage: string | undefined,
  run: (stage: Stage, signal: AbortSignal) => Promise<R>,
  format: (report: R) => string[],
): Promise<number> {
  const stages: readonly Stage[] = stage
    ? [stageOption(stage)]
    : ["relay", "worker-calls-client", "client-calls-worker"];
  return await interruptible(async (signal) => {
    let passed = true;
    for (const s of stages) {
      if (signal.aborted) break;
      const report = await run(s, signal);
      for (const line of format(report)) console.log(line);
      passed &&= report.passed;
    }
    if (signal.aborted) {
      console.log("result: interrupted; everything it started was stopped and removed");
      return 130;
    }
    console.log(passed ? "result: PASS" : "result: FAILED");
    return passed ? 0 : 1;
  });
}

/** A reaped process's end, as a line. */
export function describeStatus(s: ProcessExit): string {
  return `${describeExit(s)}, reaped`;
}

/** The flags that name a running instance: `--port P` (its name by default) or `--instance NAME`. */
export const INSTANCE_FLAGS = {
  port: { type: "string" },
  instance: { type: "string" },
} as const;

/** The instance `--port` or `--instance` names (default: port 2222), and its paths. */
export function namedInstance(
  values: { port?: string; instance?: string },
): { instance: string; paths: InstancePaths } {
  if (values.instance !== undefined && values.port !== undefined) {
    throw new UsageError("give --port or --instance, not both");
  }
  const instance = values.instance ?? String(intOption("port", values.port, 2222, 1, 65535));
  try {
    return { instance, paths: instancePaths(instance, defaultRuntimeBase()) };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The segment of a running instance, read-only; a {@link CommandError} if there is none. */
export function runningSegment(instance: string, paths: InstancePaths): SharedSegment {
  try {
    return SharedSegment.open(paths.segment, { readOnly: true });
  } catch (e) {
    if (!(e instanceof SegmentNotFoundError)) throw e;
    throw new CommandError(
      `no osps instance ${instance} is running (no shared segment ${paths.segment}); ` +
        `start one with '${typed("up")}'`,
    );
  }
}

/** Prints a command's usage (its `--help`); the exit code, 0. */
export function usageShown(usage: string): number {
  console.log(usage);
  return 0;
}

/** The flags of the runs under load over the stages (soak, chaos): how long, which, how hard. */
export const LOAD_RUN_FLAGS = {
  seconds: { type: "string" },
  stage: { type: "string" },
  seed: { type: "string" },
  clients: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;
