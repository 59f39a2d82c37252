/**
 * The dispatcher's own options, beside the ones every role takes (`role_args.ts`): the system
 * options the one table (`../options.ts`) gives the dispatcher alone, and the listening socket it
 * inherits.
 *
 * @module
 */

import { DISPATCHER_OPTION_KEYS, type DispatcherOption, type SystemValues } from "../options.ts";
import { flags, optionArgs } from "../option_flags.ts";
import type { RoleContext } from "../role_args.ts";

/** The system options the dispatcher takes besides the context. */
export const DISPATCHER_KEYS = DISPATCHER_OPTION_KEYS;

/** The dispatcher's options. */
export type DispatcherOptions = RoleContext & Pick<SystemValues, DispatcherOption> & {
  /** The listening socket it accepts on, inherited from the watchdog (its descriptor). */
  listenFd: number;
};

/** The flags of the dispatcher's own options, to spawn it. */
export function dispatcherArgs(
  options: Pick<SystemValues, DispatcherOption> & { listenFd: number },
): string[] {
  return [...optionArgs(options, DISPATCHER_KEYS), ...flags({ "listen-fd": options.listenFd })];
}
