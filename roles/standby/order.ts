/**
 * What the watchdog and its standby (`main.ts`) say to each other: the standby's line once it has
 * loaded everything, and the order it is handed, one line of JSON naming the program to become and
 * its command line.
 *
 * @module
 */

import { UsageError } from "../options.ts";

/**
 * The standby's OOM score adjustment: the most, so that it goes first when memory runs out. A
 * role it becomes takes the roles' own (0) when it starts.
 */
export const STANDBY_OOM_SCORE_ADJ = 1000;

/** The line a standby prints on stdout once everything is loaded. */
export const STANDBY_LOADED = "standby loaded";

/** The programs a standby can become. */
export const STANDBY_PROGRAMS = ["dispatcher", "worker"] as const;

/** A program a standby can become. */
export type StandbyProgram = typeof STANDBY_PROGRAMS[number];

/** What the watchdog hands a standby: the program to become and its command line. */
export interface StandbyOrder {
  /** The program. */
  program: StandbyProgram;
  /** Its command line. */
  args: string[];
}

/** The order's line, as the watchdog writes it to the standby's stdin. */
export function standbyOrderLine(order: StandbyOrder): string {
  return JSON.stringify(order) + "\n";
}

/** The order in `line`; a {@link UsageError} for anything else. */
export function parseStandbyOrder(line: string): StandbyOrder {
  const refuse = () => new UsageError(`not an order: ${JSON.stringify(line.slice(0, 80))}`);
  let order: Partial<StandbyOrder>;
  try {
    order = JSON.parse(line) ?? {};
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw refuse();
  }
  const { program, args } = order;
  if (
    !STANDBY_PROGRAMS.includes(program as StandbyProgram) || !Array.isArray(args) ||
    !args.every((a) => typeof a === "string")
  ) {
    throw refuse();
  }
  return { program: program as StandbyProgram, args };
}
