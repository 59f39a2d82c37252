/**
 * What every command of the CLI shares: argument parsing with `--help`, usage errors, number
 * options, log levels, and turning SIGINT/SIGTERM into an abort.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { getLogLevels, isLogLevel } from "@logtape/logtape";
import { SignalQueue } from "../ipc/mod.ts";
import { parseStage, type Stage } from "../roles/protocol.ts";

/** A command-line usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
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

/** parseArgs with `--help`/`-h` added; its errors become {@link UsageError}s. */
export function parse<const O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } } as const,
      strict: true,
      allowPositionals,
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A whole-number option from `min` to `max`, or `fallback` when absent. */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** A `--log-level` value, checked against LogTape's levels. */
export function logLevelOption(value: string): string {
  if (!isLogLevel(value)) {
    throw new UsageError(`--log-level must be one of ${getLogLevels().join(", ")}`);
  }
  return value;
}

/** A `--stage` value (`ideal` is an alias of `client-calls-worker`). */
export function stageOption(value: string): Stage {
  const stage = parseStage(value);
  if (stage === null) {
    throw new UsageError(
      `--stage must be relay, worker-calls-client, client-calls-worker or ideal, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return stage;
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
 * `format`; resolves with the exit code: 0 if every report passed.
 */
export async function overStages<R extends { passed: boolean }>(
  stage: string | undefined,
  run: (stage: Stage) => Promise<R>,
  format: (report: R) => string[],
): Promise<number> {
  const stages: readonly Stage[] = stage
    ? [stageOption(stage)]
    : ["relay", "worker-calls-client", "client-calls-worker"];
  let passed = true;
  for (const s of stages) {
    const report = await run(s);
    for (const line of format(report)) console.log(line);
    passed &&= report.passed;
  }
  console.log(passed ? "result: PASS" : "result: FAILED");
  return passed ? 0 : 1;
}

/** A reaped process's end, as a line. */
export function describeStatus(s: Deno.CommandStatus): string {
  return `exited with code ${s.code}${s.signal ? ` (signal ${s.signal})` : ""}, reaped`;
}
