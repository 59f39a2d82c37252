/**
 * From the table of the system's options (`options.ts`) to command lines: parseArgs's flags, the
 * values read and checked, the arguments a watchdog gives its roles, and `--help`.
 *
 * @module
 */

import type { ParseArgsOptionsConfig } from "node:util";
import {
  type OptionSpec,
  SYSTEM_OPTIONS,
  type SystemOption,
  type SystemValues,
} from "./options.ts";

/** What parseArgs gives for the options `keys`: each flag's text, or a switch's boolean. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** The parseArgs configuration of the options `keys`. */
export function optionFlags(keys: readonly SystemOption[]): ParseArgsOptionsConfig {
  return Object.fromEntries(keys.map((key) => {
    const spec: OptionSpec<unknown> = SYSTEM_OPTIONS[key];
    return [spec.flag, { type: spec.isSwitch ? "boolean" : "string" }];
  }));
}

/** The value of option `key` from its flag's text (its default when absent), checked. */
export function optionValue<K extends SystemOption>(
  key: K,
  flag: string | boolean | undefined,
): SystemValues[K] {
  const spec = SYSTEM_OPTIONS[key] as OptionSpec<SystemValues[K]>;
  if (flag === undefined) return spec.fallback;
  return spec.parse(String(flag));
}

/** The options `keys` from parsed flags (`flags`, by flag name), each checked, defaults filled. */
export function optionValues<K extends SystemOption>(
  keys: readonly K[],
  flags: FlagValues,
): Pick<SystemValues, K> {
  return Object.fromEntries(
    keys.map((key) => [key, optionValue(key, flags[SYSTEM_OPTIONS[key].flag])]),
  ) as Pick<SystemValues, K>;
}

/** A command line of the options `keys` that `values` has (`--flag value`; `--no-x` for a switch off). */
export function optionArgs(values: Partial<SystemValues>, keys: readonly SystemOption[]): string[] {
  return keys.flatMap((key) => {
    const value = values[key];
    if (value === undefined) return [];
    const spec = SYSTEM_OPTIONS[key] as OptionSpec<typeof value>;
    const formatted = spec.format(value);
    if (spec.isSwitch) return formatted === undefined ? [] : [`--no-${spec.flag}`];
    return formatted === undefined ? [] : [`--${spec.flag}`, formatted];
  });
}

/** The column the help of a flag begins at, and the width it wraps to. */
const HELP_COLUMN = 24, HELP_WIDTH = 100;

/** A flag's help: the flag, then its text from {@link HELP_COLUMN}, wrapped at {@link HELP_WIDTH}. */
export function helpEntry(name: string, text: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && HELP_COLUMN + line.length + 1 + word.length > HELP_WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  const pad = " ".repeat(HELP_COLUMN);
  const head = name.length < HELP_COLUMN - 3
    ? `  ${name.padEnd(HELP_COLUMN - 2)}${lines[0]}`
    : `  ${name}\n${pad}${lines[0]}`;
  return [head, ...lines.slice(1).map((l) => `${pad}${l}`)].join("\n");
}

/** The help of the options `keys`: a flag per entry, its help beside it, with its default. */
export function optionHelp(keys: readonly SystemOption[]): string {
  return keys.map((key) => {
    const spec: OptionSpec<unknown> = SYSTEM_OPTIONS[key];
    const name = spec.isSwitch ? `--no-${spec.flag}` : `--${spec.flag} ${spec.arg}`;
    const fallback = spec.isSwitch
      ? ""
      : ` (default ${spec.fallback === "" ? '""' : String(spec.fallback)})`;
    return helpEntry(name, `${spec.help}${fallback}`);
  }).join("\n");
}

/** `--name value` pairs for the options that have a value, in order: a command line to spawn. */
export function flags(options: Record<string, string | number | undefined>): string[] {
  return Object.entries(options).flatMap(([name, value]) =>
    value === undefined ? [] : [`--${name}`, String(value)]
  );
}
