/**
 * How to run an instance: every system option (`../options.ts`, the one table) and where the
 * instance directory goes — read by `main.ts up` and by the watchdog's own program, written by the
 * harness that spawns one.
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import { defaultRuntimeBase } from "../../ipc/mod.ts";
import {
  SYSTEM_OPTION_KEYS,
  type SystemOption,
  type SystemValues,
  UsageError,
} from "../options.ts";
import { flags, type FlagValues, optionArgs, optionFlags, optionValues } from "../option_flags.ts";

/** Every system option, in the table's order: what a watchdog takes. */
export const WATCHDOG_OPTION_KEYS: readonly SystemOption[] = SYSTEM_OPTION_KEYS;

/**
 * How to run an instance: the stage, any system option (the others take their defaults), and
 * where its directory goes (default $XDG_RUNTIME_DIR, $TMPDIR or /tmp).
 */
export type WatchdogOptions = Pick<SystemValues, "stage"> & Partial<SystemValues> & {
  /** Where the instance directory goes. */
  runtimeBase?: string;
};

/** An instance's options, every one of them. */
export type ResolvedOptions = SystemValues & { runtimeBase: string };

/** The instance's name when none is given: the port, or one unique to this process for port 0. */
export function defaultInstance(port: number): string {
  return port === 0 ? `p${Deno.pid}` : String(port);
}

/** The options with every default filled in (the table's; the instance's name from the port). */
export function resolveOptions(options: WatchdogOptions): ResolvedOptions {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const resolved = {
    ...optionValues(WATCHDOG_OPTION_KEYS, {}),
    runtimeBase: defaultRuntimeBase(),
    ...given,
  } as ResolvedOptions;
  resolved.instance ||= defaultInstance(resolved.port);
  return resolved;
}

/** The flags of an instance's options (`node:util` parseArgs; `--no-standby` by `allowNegative`). */
export const WATCHDOG_FLAGS: ParseArgsOptionsConfig = optionFlags(WATCHDOG_OPTION_KEYS);

/** An instance's options from its flags' values, each checked (`UsageError`). */
export function watchdogOptions(values: FlagValues): SystemValues {
  const options = optionValues(WATCHDOG_OPTION_KEYS, values);
  if (options.workers > options.maxWorkers) {
    throw new UsageError(
      `--workers ${options.workers} is more than --max-workers ${options.maxWorkers}`,
    );
  }
  return options;
}

/** The flags of an instance's options, to spawn a watchdog with them. */
export function watchdogArgs(options: WatchdogOptions): string[] {
  return [
    ...optionArgs(options, WATCHDOG_OPTION_KEYS),
    ...flags({ "runtime-base": options.runtimeBase }),
  ];
}
