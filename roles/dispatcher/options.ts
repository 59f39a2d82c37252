/**
 * The dispatcher's own options, beside the ones every role takes (`role_args.ts`): their flags,
 * read and written through the system's one table of options (`options.ts`).
 *
 * @module
 */

import { flags, intOption, numberOption } from "../options.ts";
import type { RoleContext } from "../role_args.ts";

/** The dispatcher's options. */
export interface DispatcherOptions extends RoleContext {
  /** Number of workers. */
  workers: number;
  /** Requests waiting for a worker, at most (default 64); past it: `ERR busy`. */
  queueLimit: number;
  /** Client connections open at once, at most (0: derived from the open-file limit). */
  maxConnections: number;
  /** The host a REDIRECT names ("": the address each client reached the dispatcher on). */
  advertise: string;
  /** A request not served within this many ms gets `ERR timeout` (default 10000). */
  requestTimeoutMs: number;
  /** A connection that sends no whole line for this many ms is closed (default 60000). */
  idleTimeoutMs: number;
  /** On SIGTERM, in-flight requests get this many ms to finish (default 5000). */
  graceMs: number;
  /** The listening socket it accepts on, inherited from the watchdog (its descriptor). */
  listenFd: number;
}

/** The flags of the dispatcher's own options. */
export const DISPATCHER_FLAGS = [
  "workers",
  "queue-limit",
  "max-connections",
  "advertise",
  "request-timeout",
  "idle-timeout",
  "grace",
  "listen-fd",
] as const;

/** The dispatcher's own options from their flags' values, checked. */
export function dispatcherOptions(
  context: RoleContext,
  values: Record<(typeof DISPATCHER_FLAGS)[number], string | undefined>,
): DispatcherOptions {
  return {
    ...context,
    workers: numberOption("workers", values.workers),
    queueLimit: numberOption("queue-limit", values["queue-limit"]),
    maxConnections: numberOption("max-connections", values["max-connections"]),
    advertise: values.advertise ?? "",
    requestTimeoutMs: numberOption("request-timeout", values["request-timeout"]),
    idleTimeoutMs: numberOption("idle-timeout", values["idle-timeout"]),
    graceMs: numberOption("grace", values.grace),
    listenFd: intOption("listen-fd", values["listen-fd"], undefined, 3, 2 ** 20),
  };
}

/** The flags of the dispatcher's own options, to spawn it. */
export function dispatcherArgs(options: Omit<DispatcherOptions, keyof RoleContext>): string[] {
  return flags({
    workers: options.workers,
    "queue-limit": options.queueLimit,
    "max-connections": options.maxConnections,
    advertise: options.advertise,
    "request-timeout": options.requestTimeoutMs,
    "idle-timeout": options.idleTimeoutMs,
    grace: options.graceMs,
    "listen-fd": options.listenFd,
  });
}
