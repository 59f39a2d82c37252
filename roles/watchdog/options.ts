/**
 * How to run an instance: the watchdog's options, their defaults, and their flags — read by
 * `main.ts up` and by the watchdog's own program, written by the harness that spawns one — all
 * through the system's one table of options (`options.ts`).
 *
 * @module
 */

import { defaultRuntimeBase } from "../../ipc/mod.ts";
import {
  advertiseOption,
  flags,
  instanceOption,
  logLevelOption,
  NUMBER_OPTIONS,
  numberOption,
  stageOption,
  strategyOption,
  UsageError,
} from "../options.ts";
import type { Stage } from "../stages.ts";
import type { Strategy } from "./policy.ts";

/** How to run an instance. */
export interface WatchdogOptions {
  /** The stage. */
  stage: Stage;
  /** Number of workers. */
  workers: number;
  /** Address the dispatcher and workers listen on. */
  host: string;
  /** Dispatcher port; workers use port + k (0: any free ports). */
  port: number;
  /** The instance's name: its directory `osps-<name>`, its segment `/osps-<name>` (default: the port). */
  instance?: string;
  /** Where the instance directory goes (default $XDG_RUNTIME_DIR, $TMPDIR or /tmp). */
  runtimeBase?: string;
  /** Dispatcher queue bound. */
  queueLimit: number;
  /** The dispatcher's client connections at once, at most (default: from its open-file limit). */
  maxConnections?: number;
  /** The host REDIRECTs name (default: the address each client reached the dispatcher on). */
  advertise?: string;
  /** Request timeout, ms. */
  requestTimeoutMs: number;
  /** Claim timeout, ms. */
  claimTimeoutMs: number;
  /** Idle connection timeout, ms. */
  idleTimeoutMs: number;
  /** Grace for in-flight requests at stop, ms. */
  graceMs: number;
  /** A heartbeat older than this is a frozen role, ms (default 1000). */
  heartbeatTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL for a frozen role, ms (default 300). */
  killGraceMs?: number;
  /** How long a role may take to be ready, ms (default 10000). */
  startTimeoutMs?: number;
  /** The most workers it may be scaled to (default 64): the segment has room for them. */
  maxWorkers?: number;
  /** A worker process is recycled after this many requests ± {@link maxRequestsJitter} (0: never). */
  maxRequests?: number;
  /** The spread of {@link maxRequests}. */
  maxRequestsJitter?: number;
  /** A worker process is recycled above this resident memory, MiB (0: never). */
  maxRssMiB?: number;
  /** Which roles a crash restarts (default one-for-one: the crashed role alone; `policy.ts`). */
  strategy?: Strategy;
  /** Restarts allowed within {@link restartWindowMs} before a slot is marked failed (default 5). */
  maxRestarts?: number;
  /** The crash-loop window, ms; a run this long clears a slot's count (default 10000). */
  restartWindowMs?: number;
  /** Roles' stderr log level. */
  logLevel: string;
  /** The trace file ("" for none). */
  trace: string;
  /** The trace file's bound, bytes (default 64 MiB): past it, it is rotated to `<trace>.1`. */
  traceMaxBytes?: number;
  /**
   * Whether a standby process waits to take the place of the next role that must start again
   * (default true); without it, every restart spawns a new process.
   */
  standby?: boolean;
}

/** The instance's name when none is given: the port, or one unique to this process for port 0. */
export function defaultInstance(port: number): string {
  return port === 0 ? `p${Deno.pid}` : String(port);
}

/** The options with every default filled in. */
export function resolveOptions(options: WatchdogOptions): Required<WatchdogOptions> {
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return {
    instance: defaultInstance(options.port),
    runtimeBase: defaultRuntimeBase(),
    heartbeatTimeoutMs: NUMBER_OPTIONS["heartbeat-timeout"].fallback,
    killGraceMs: 300,
    startTimeoutMs: 10_000,
    maxWorkers: NUMBER_OPTIONS["max-workers"].fallback,
    maxRequests: 0,
    maxRequestsJitter: 0,
    maxRssMiB: 0,
    strategy: "one-for-one",
    maxRestarts: NUMBER_OPTIONS["max-restarts"].fallback,
    restartWindowMs: NUMBER_OPTIONS["restart-period"].fallback,
    traceMaxBytes: NUMBER_OPTIONS["trace-max-bytes"].fallback,
    maxConnections: NUMBER_OPTIONS["max-connections"].fallback,
    advertise: "",
    standby: true,
    ...given,
  } as Required<WatchdogOptions>;
}

/** The flags of an instance's options (`node:util` parseArgs), all strings. */
export const WATCHDOG_FLAGS = {
  stage: { type: "string", default: "ideal" },
  workers: { type: "string" },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string" },
  advertise: { type: "string" },
  instance: { type: "string" },
  "queue-limit": { type: "string" },
  "max-connections": { type: "string" },
  "request-timeout": { type: "string" },
  "claim-timeout": { type: "string" },
  "idle-timeout": { type: "string" },
  grace: { type: "string" },
  "heartbeat-timeout": { type: "string" },
  "max-workers": { type: "string" },
  "max-requests": { type: "string" },
  "max-requests-jitter": { type: "string" },
  "max-rss": { type: "string" },
  strategy: { type: "string" },
  "max-restarts": { type: "string" },
  "restart-period": { type: "string" },
  trace: { type: "string", default: "" },
  "trace-max-bytes": { type: "string" },
  "log-level": { type: "string", default: "warning" },
  /** `--no-standby` turns it off (parsed with `allowNegative`). */
  standby: { type: "boolean", default: true },
} as const;

/** The values parsed with {@link WATCHDOG_FLAGS}. */
export type WatchdogFlagValues =
  & { [K in Exclude<keyof typeof WATCHDOG_FLAGS, "standby">]?: string }
  & { stage: string; host: string; trace: string; "log-level": string; standby?: boolean };

/** An instance's options from its flags' values, each checked (`UsageError`). */
export function watchdogOptions(values: WatchdogFlagValues): WatchdogOptions {
  const workers = numberOption("workers", values.workers);
  const maxWorkers = numberOption("max-workers", values["max-workers"]);
  if (workers > maxWorkers) {
    throw new UsageError(`--workers ${workers} is more than --max-workers ${maxWorkers}`);
  }
  return {
    stage: stageOption(values.stage),
    workers,
    host: values.host,
    port: numberOption("port", values.port),
    advertise: values.advertise === undefined ? undefined : advertiseOption(values.advertise),
    instance: values.instance === undefined ? undefined : instanceOption(values.instance),
    queueLimit: numberOption("queue-limit", values["queue-limit"]),
    maxConnections: numberOption("max-connections", values["max-connections"]),
    requestTimeoutMs: numberOption("request-timeout", values["request-timeout"]),
    claimTimeoutMs: numberOption("claim-timeout", values["claim-timeout"]),
    idleTimeoutMs: numberOption("idle-timeout", values["idle-timeout"]),
    graceMs: numberOption("grace", values.grace),
    heartbeatTimeoutMs: numberOption("heartbeat-timeout", values["heartbeat-timeout"]),
    maxWorkers,
    maxRequests: numberOption("max-requests", values["max-requests"]),
    maxRequestsJitter: numberOption("max-requests-jitter", values["max-requests-jitter"]),
    maxRssMiB: numberOption("max-rss", values["max-rss"]),
    strategy: values.strategy === undefined ? undefined : strategyOption(values.strategy),
    maxRestarts: numberOption("max-restarts", values["max-restarts"]),
    restartWindowMs: numberOption("restart-period", values["restart-period"]),
    logLevel: logLevelOption(values["log-level"]),
    trace: values.trace,
    traceMaxBytes: numberOption("trace-max-bytes", values["trace-max-bytes"]),
    standby: values.standby ?? true,
  };
}

/** The flags of an instance's options, to spawn a watchdog with them. */
export function watchdogArgs(options: WatchdogOptions): string[] {
  return flags({
    stage: options.stage,
    workers: options.workers,
    host: options.host,
    port: options.port,
    advertise: options.advertise,
    instance: options.instance,
    "runtime-base": options.runtimeBase,
    "queue-limit": options.queueLimit,
    "max-connections": options.maxConnections,
    "request-timeout": options.requestTimeoutMs,
    "claim-timeout": options.claimTimeoutMs,
    "idle-timeout": options.idleTimeoutMs,
    grace: options.graceMs,
    "heartbeat-timeout": options.heartbeatTimeoutMs,
    "max-workers": options.maxWorkers,
    "max-requests": options.maxRequests,
    "max-requests-jitter": options.maxRequestsJitter,
    "max-rss": options.maxRssMiB,
    strategy: options.strategy,
    "max-restarts": options.maxRestarts,
    "restart-period": options.restartWindowMs,
    "log-level": options.logLevel,
    trace: options.trace,
    "trace-max-bytes": options.traceMaxBytes,
  }).concat(options.standby === false ? ["--no-standby"] : []);
}
