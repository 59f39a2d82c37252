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
import {
  COMMON_OPTION_KEYS,
  type CommonOption,
  intOption,
  type SystemOption,
  type SystemValues,
  UsageError,
} from "./options.ts";
import { flags, optionArgs, optionFlags, optionValues } from "./option_flags.ts";

/** The system options every role takes (the table says which: `../options.ts`). */
export const CONTEXT_KEYS: readonly CommonOption[] = COMMON_OPTION_KEYS;

/** Options shared by the dispatcher and the workers: system options, and where it runs. */
export type RoleContext = Pick<SystemValues, CommonOption> & {
  /** The shared segment's name. */
  segment: string;
  /** The runtime directory holding the pipes. */
  runtimeDir: string;
  /** The pid of the process that started this one (checked with the parent-death signal). */
  parentPid: number;
};

/** The flags of a role's own (not the system's), each a whole number or a text. */
const PLACE_FLAGS = ["segment", "runtime-dir", "parent-pid"] as const;

/**
 * Parses a role's command line: the context, the system options `keys` of the role (their
 * defaults filled), and its own flags `own` (texts).
 */
export function parseRoleArgs<K extends SystemOption, E extends string>(
  args: string[],
  keys: readonly K[],
  own: readonly E[],
): { context: RoleContext; options: Pick<SystemValues, K>; own: Record<E, string | undefined> } {
  const config = {
    ...optionFlags([...CONTEXT_KEYS, ...keys]),
    ...Object.fromEntries([...PLACE_FLAGS, ...own].map((f) => [f, { type: "string" as const }])),
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args, options: config, strict: true }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const get = (name: string) => values[name] as string | undefined;
  for (const required of PLACE_FLAGS) {
    if (!get(required)) throw new UsageError(`--${required} is required`);
  }
  return {
    context: {
      ...optionValues(CONTEXT_KEYS, values),
      segment: get("segment")!,
      runtimeDir: get("runtime-dir")!,
      parentPid: intOption("parent-pid", get("parent-pid"), undefined, 1, 2 ** 22),
    },
    options: optionValues(keys, values),
    own: Object.fromEntries(own.map((name) => [name, get(name)])) as Record<E, string | undefined>,
  };
}

/** The command-line form of a context, for spawning a role. */
export function roleArgs(context: RoleContext): string[] {
  return [
    ...optionArgs(context, CONTEXT_KEYS),
    ...flags({
      segment: context.segment,
      "runtime-dir": context.runtimeDir,
      "parent-pid": context.parentPid,
    }),
  ];
}

/**
 * The body of a role's program: parses its command line `args` (the common options and `extra`),
 * sets up its logging and trace as `name` says, and runs it. Exits 2 on a bad command line, 3 if
 * its parent was already gone, 1 on any other error, with one line on stderr.
 */
export async function roleMain<K extends SystemOption, E extends string>(
  program: string,
  keys: readonly K[],
  own: readonly E[],
  name: (own: Record<E, string | undefined>) => string,
  run: (
    context: RoleContext,
    options: Pick<SystemValues, K>,
    own: Record<E, string | undefined>,
  ) => Promise<void>,
  args: string[],
): Promise<void> {
  // Its messages name it as the watchdog does (`worker 2`), once its command line says which.
  let who = program;
  try {
    const parsed = parseRoleArgs(args, keys, own);
    const { context } = parsed;
    who = name(parsed.own);
    setOomScoreAdj(ROLE_OOM_SCORE_ADJ);
    setupLogging(
      context.logLevel,
      context.trace
        ? { path: context.trace, role: who, maxBytes: context.traceMaxBytes }
        : undefined,
    );
    await run(context, parsed.options, parsed.own);
  } catch (e) {
    console.error(`${who}: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof UsageError ? 2 : e instanceof ParentGoneError ? EXIT_PARENT_GONE : 1);
  }
}
