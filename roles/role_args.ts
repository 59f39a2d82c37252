/**
 * The command line every role process of the system takes, parsed once for all roles, and how a
 * role process runs from it. Roles are started by the watchdog, not by hand, so a bad option is a
 * bug: it stops the role with a clear message and exit code 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ParentGoneError, setOomScoreAdj } from "../ipc/mod.ts";
import { EXIT_PARENT_GONE, ROLE_OOM_SCORE_ADJ } from "./lifecycle.ts";
import { setupLogging } from "./logging.ts";
import { flags, intOption, MAX_PORT, numberOption, stageOption, UsageError } from "./options.ts";
import type { Stage } from "./stages.ts";

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
  port: { type: "string" },
  "claim-timeout": { type: "string" },
  "parent-pid": { type: "string" },
  "log-level": { type: "string", default: "warning" },
  trace: { type: "string", default: "" },
  "trace-max-bytes": { type: "string" },
} as const;

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
    throw new UsageError((e as Error).message);
  }
  const get = (name: string) => values[name] as string | undefined;
  for (const required of ["stage", "segment", "runtime-dir", "parent-pid"]) {
    if (!get(required)) throw new UsageError(`--${required} is required`);
  }
  return {
    context: {
      stage: stageOption(get("stage")!),
      segment: get("segment")!,
      runtimeDir: get("runtime-dir")!,
      host: get("host")!,
      port: intOption("port", get("port"), 2222, 0, MAX_PORT),
      claimTimeoutMs: numberOption("claim-timeout", get("claim-timeout")),
      parentPid: intOption("parent-pid", get("parent-pid"), undefined, 1, 2 ** 22),
      logLevel: get("log-level")!,
      trace: get("trace")!,
      traceMaxBytes: numberOption("trace-max-bytes", get("trace-max-bytes")),
    },
    extra: Object.fromEntries(extra.map((name) => [name, get(name)])) as Record<
      E,
      string | undefined
    >,
  };
}

/** The command-line form of a context, for spawning a role. */
export function roleArgs(context: RoleContext): string[] {
  return flags({
    stage: context.stage,
    segment: context.segment,
    "runtime-dir": context.runtimeDir,
    host: context.host,
    port: context.port,
    "claim-timeout": context.claimTimeoutMs,
    "parent-pid": context.parentPid,
    "log-level": context.logLevel,
    trace: context.trace,
    "trace-max-bytes": context.traceMaxBytes,
  });
}

/**
 * The body of a role's program: parses its command line `args` (the common options and `extra`),
 * sets up its logging and trace as `name` says, and runs it. Exits 2 on a bad command line, 3 if
 * its parent was already gone, 1 on any other error, with one line on stderr.
 */
export async function roleMain<E extends string>(
  program: string,
  extra: readonly E[],
  name: (extra: Record<E, string | undefined>) => string,
  run: (context: RoleContext, extra: Record<E, string | undefined>) => Promise<void>,
  args: string[],
): Promise<void> {
  // Its messages name it as the watchdog does (`worker 2`), once its command line says which.
  let who = program;
  try {
    const parsed = parseRoleArgs(args, extra);
    const { context } = parsed;
    who = name(parsed.extra);
    setOomScoreAdj(ROLE_OOM_SCORE_ADJ);
    setupLogging(
      context.logLevel,
      context.trace
        ? { path: context.trace, role: who, maxBytes: context.traceMaxBytes }
        : undefined,
    );
    await run(context, parsed.extra);
  } catch (e) {
    console.error(`${who}: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof UsageError ? 2 : e instanceof ParentGoneError ? EXIT_PARENT_GONE : 1);
  }
}
