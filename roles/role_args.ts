/**
 * The command-line options every role process of the system takes, parsed once for all roles.
 * Roles are started by the harness (and later the watchdog), not by hand, so a bad option is a
 * bug: it stops the role with a clear message and exit code 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { TraceTarget } from "./logging.ts";
import { parseStage, type Stage } from "./protocol.ts";
import { DEFAULT_TRACE_MAX_BYTES, MIN_TRACE_MAX_BYTES } from "./trace_file.ts";

/** Options shared by the dispatcher and the workers. */
export interface RoleContext {
  /** The stage the system runs. */
  stage: Stage;
  /** The shared segment's name. */
  segment: string;
  /** The runtime directory holding the pipes. */
  runtimeDir: string;
  /** The address to listen on. */
  host: string;
  /** The dispatcher's port (0: any free port; workers then take any free port too). */
  port: number;
  /** How long a reserved worker waits for its client, in ms. */
  claimTimeoutMs: number;
  /** The pid of the process that started this one (checked with the parent-death signal). */
  parentPid: number;
  /** stderr log level. */
  logLevel: string;
  /** The run's trace file, or "" for none. */
  trace: string;
  /** The trace file's bound, bytes (rotated to `<trace>.1` past it). */
  traceMaxBytes: number;
}

const COMMON = {
  stage: { type: "string" },
  segment: { type: "string" },
  "runtime-dir": { type: "string" },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string", default: "2222" },
  "claim-timeout": { type: "string", default: "5000" },
  "parent-pid": { type: "string" },
  "log-level": { type: "string", default: "warning" },
  trace: { type: "string", default: "" },
  "trace-max-bytes": { type: "string", default: String(DEFAULT_TRACE_MAX_BYTES) },
} as const;

/** Thrown for a bad role command line. */
export class RoleArgsError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "RoleArgsError";
  }
}

/** A whole-number role option from `min` to `max`; `fallback` when absent (none: required). */
export function roleInt(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new RoleArgsError(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return Number(value);
}

/** Parses the common options plus the role's own `extra` ones (all strings). */
export function parseRoleArgs<E extends string>(
  args: string[],
  extra: readonly E[],
): { context: RoleContext; extra: Record<E, string | undefined> } {
  const options: Record<string, { type: "string"; default?: string }> = { ...COMMON };
  for (const name of extra) options[name] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options, strict: true }).values;
  } catch (e) {
    throw new RoleArgsError((e as Error).message);
  }
  const get = (name: string) => values[name] as string | undefined;
  const stage = parseStage(get("stage") ?? "");
  if (stage === null) {
    throw new RoleArgsError(`--stage must be relay, worker-calls-client or client-calls-worker`);
  }
  for (const required of ["segment", "runtime-dir", "parent-pid"]) {
    if (!get(required)) throw new RoleArgsError(`--${required} is required`);
  }
  return {
    context: {
      stage,
      segment: get("segment")!,
      runtimeDir: get("runtime-dir")!,
      host: get("host")!,
      port: roleInt("port", get("port"), 0, 65535),
      claimTimeoutMs: roleInt("claim-timeout", get("claim-timeout"), 1, 3_600_000),
      parentPid: roleInt("parent-pid", get("parent-pid"), 1, 2 ** 22),
      logLevel: get("log-level")!,
      trace: get("trace")!,
      traceMaxBytes: roleInt(
        "trace-max-bytes",
        get("trace-max-bytes"),
        MIN_TRACE_MAX_BYTES,
        Number.MAX_SAFE_INTEGER,
      ),
    },
    extra: Object.fromEntries(extra.map((name) => [name, get(name)])) as Record<
      E,
      string | undefined
    >,
  };
}

/** The command-line form of a context, for spawning a role. */
export function roleArgs(context: RoleContext): string[] {
  return [
    "--stage",
    context.stage,
    "--segment",
    context.segment,
    "--runtime-dir",
    context.runtimeDir,
    "--host",
    context.host,
    "--port",
    String(context.port),
    "--claim-timeout",
    String(context.claimTimeoutMs),
    "--parent-pid",
    String(context.parentPid),
    "--log-level",
    context.logLevel,
    "--trace",
    context.trace,
    "--trace-max-bytes",
    String(context.traceMaxBytes),
  ];
}

/** Where a role traces, from its context: its trace file and bound, or none. */
export function roleTraceTarget(context: RoleContext, role: string): TraceTarget | undefined {
  return context.trace ? { path: context.trace, role, maxBytes: context.traceMaxBytes } : undefined;
}
