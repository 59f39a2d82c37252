/**
 * The observer's address as `--observe` gives it: `PORT`, `HOST:PORT` or `[IPv6]:PORT`; the host
 * is 127.0.0.1 when not given.
 *
 * @module
 */

import { intOption, MAX_PORT, UsageError } from "../roles/options.ts";

/** `[HOST:]PORT` read; a UsageError names what is wrong. */
export function observeAddress(value: string): { hostname: string; port: number } {
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d+)$/.exec(value);
  if (m === null) throw new UsageError(`--observe wants [HOST:]PORT, got ${JSON.stringify(value)}`);
  const hostname = m[1] === undefined ? "127.0.0.1" : m[1].replace(/^\[|\]$/g, "");
  return { hostname, port: intOption("observe", m[2], undefined, 0, MAX_PORT) };
}
