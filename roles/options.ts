/**
 * The system's options, declared once: one table ({@link SYSTEM_OPTIONS}) holds each option's flag,
 * what its value is, its range or choices, its default and its help. From it come the parsing of
 * `main.ts up`'s command line and the watchdog's, the command lines the watchdog gives its roles
 * and the harness gives a watchdog, the harness's options, and `up --help` (`option_flags.ts`).
 * Adding an option is adding a row; a flag means the same everywhere and is checked the same way.
 *
 * @module
 */

import { getLogLevels, isLogLevel } from "@logtape/logtape";
import { MAX_WORKERS } from "../ipc/layout.ts";
import { parseStage, type Stage } from "./stages.ts";
import { DEFAULT_TRACE_MAX_BYTES, MIN_TRACE_MAX_BYTES } from "./trace_file.ts";
import { STRATEGIES, type Strategy } from "./watchdog/policy.ts";

/** A bad command line: the message names the option and what it must be (exit code 2). */
export class UsageError extends Error {
  /** A usage error saying `message`. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A whole-number option from `min` to `max`; `fallback` when absent (undefined: required). */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number | undefined,
  min: number,
  max: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** The largest TCP port. */
export const MAX_PORT = 65535;

const HOUR_MS = 3_600_000;

/** The role programs the watchdog starts, which may take system options. */
export type RoleProgram = "dispatcher" | "worker";

/** One option: its flag, its value's checks, its default, its help, the roles that take it. */
export interface OptionSpec<T, R extends RoleProgram = RoleProgram> {
  /** Its flag, without the dashes. */
  readonly flag: string;
  /** What its value is, in the help (`N`, `MS`, `HOST`…); empty for a switch. */
  readonly arg: string;
  /** Its help, one or more lines (the default is said after it). */
  readonly help: string;
  /** Its value when the flag is absent. */
  readonly fallback: T;
  /** Whether it is a switch (`--no-<flag>` turns it off) rather than a flag with a value. */
  readonly isSwitch: boolean;
  /** The value its flag's text stands for, checked: a {@link UsageError} naming the flag if bad. */
  parse(text: string): T;
  /** Its value as a flag's text; undefined: the flag is left out (a switch that is on). */
  format(value: T): string | undefined;
  /** The role programs started with it (the watchdog takes every option). */
  readonly roles: readonly R[];
}

/** A whole number from `min` to `max`. */
function int<const R extends RoleProgram = never>(
  flag: string,
  arg: string,
  range: { min: number; max: number; fallback: number },
  help: string,
  roles: readonly R[] = [],
): OptionSpec<number, R> {
  return {
    flag,
    arg,
    help,
    fallback: range.fallback,
    isSwitch: false,
    parse: (text) => intOption(flag, text, undefined, range.min, range.max),
    format: (value) => String(value),
    roles,
  };
}

/** A text, checked by `check` (which returns it, or throws a {@link UsageError}). */
function text<T extends string, const R extends RoleProgram = never>(
  flag: string,
  arg: string,
  fallback: T,
  check: (value: string) => T,
  help: string,
  roles: readonly R[] = [],
): OptionSpec<T, R> {
  return {
    flag,
    arg,
    help,
    fallback,
    isSwitch: false,
    parse: check,
    format: (value) => value,
    roles,
  };
}

/** A switch, on by default; `--no-<flag>` turns it off. */
function onSwitch(flag: string, help: string): OptionSpec<boolean, never> {
  return {
    flag,
    arg: "",
    help,
    fallback: true,
    isSwitch: true,
    parse: (value) => value !== "false",
    format: (value) => (value ? undefined : "false"),
    roles: [],
  };
}

/** A `--stage` value (`ideal` is an alias of `client-calls-worker`). */
export function stageOption(value: string): Stage {
  const stage = parseStage(value);
  if (stage === null) {
    throw new UsageError(
      `--stage must be relay, worker-calls-client, client-calls-worker or ideal, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return stage;
}

/** A `--log-level` value, checked against LogTape's levels. */
export function logLevelOption(value: string): string {
  if (!isLogLevel(value)) {
    throw new UsageError(`--log-level must be one of ${getLogLevels().join(", ")}`);
  }
  return value;
}

/** A `--strategy` value. */
export function strategyOption(value: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(value)) {
    throw new UsageError(
      `--strategy must be one of ${STRATEGIES.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value as Strategy;
}

/** An `--advertise` value: a host name or address ("" for none). */
export function advertiseOption(value: string): string {
  if (value !== "" && !/^[A-Za-z0-9.:-]{1,253}$/.test(value)) {
    throw new UsageError("--advertise must be a host name or address");
  }
  return value;
}

/** An `--instance` value: 1-64 of A-Z a-z 0-9 _ - ("" for the default, the port). */
export function instanceOption(value: string): string {
  if (value !== "" && !/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    throw new UsageError("--instance must be 1-64 of A-Z a-z 0-9 _ -");
  }
  return value;
}

/** A `--host` value: an address to listen on. */
function hostOption(value: string): string {
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) {
    throw new UsageError(`--host must be an address to listen on, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Any text (a path). */
const anyText = (value: string) => value;

/**
 * The system's options: what `up` takes, what the watchdog runs with, and (a part of them) what
 * its roles are started with.
 */
export const SYSTEM_OPTIONS = {
  stage: text(
    "stage",
    "S",
    "client-calls-worker",
    stageOption,
    "relay, worker-calls-client, client-calls-worker or ideal",
    ["dispatcher", "worker"],
  ),
  workers: int("workers", "N", { min: 1, max: MAX_WORKERS, fallback: 3 }, "workers at the start", [
    "dispatcher",
  ]),
  host: text(
    "host",
    "H",
    "127.0.0.1",
    hostOption,
    "address to listen on (loopback only; 0.0.0.0: every address)",
    ["dispatcher", "worker"],
  ),
  port: int(
    "port",
    "P",
    { min: 0, max: MAX_PORT - MAX_WORKERS, fallback: 2222 },
    "the dispatcher's port; workers listen on P+1..P+N (0: any free ports)",
    ["dispatcher", "worker"],
  ),
  advertise: text(
    "advertise",
    "HOST",
    "",
    advertiseOption,
    "the host a REDIRECT names (client-calls-worker), for NAT and containers\n" +
      '("": the address each client reached the dispatcher on)',
    ["dispatcher"],
  ),
  instance: text(
    "instance",
    "NAME",
    "",
    instanceOption,
    "the instance's name: directory osps-NAME under $XDG_RUNTIME_DIR or /tmp,\n" +
      'segment /osps-NAME ("": the port)',
  ),
  queueLimit: int(
    "queue-limit",
    "N",
    { min: 0, max: 1_000_000, fallback: 64 },
    "requests queued while all workers are busy; then ERR busy",
    ["dispatcher"],
  ),
  maxConnections: int(
    "max-connections",
    "N",
    { min: 0, max: 10_000_000, fallback: 0 },
    "client connections the dispatcher holds at once; one more gets ERR busy too many\n" +
      "connections (0: its open-file limit, raised to the hard limit, less 64 and 4 per worker)",
    ["dispatcher"],
  ),
  requestTimeoutMs: int(
    "request-timeout",
    "MS",
    { min: 1, max: HOUR_MS, fallback: 10_000 },
    "ERR timeout for a request not served in time",
    ["dispatcher"],
  ),
  claimTimeoutMs: int(
    "claim-timeout",
    "MS",
    { min: 1, max: HOUR_MS, fallback: 5000 },
    "how long a reserved worker waits for its client",
    ["dispatcher", "worker"],
  ),
  idleTimeoutMs: int(
    "idle-timeout",
    "MS",
    { min: 1, max: 24 * HOUR_MS, fallback: 60_000 },
    "close a connection that sends no request for that long",
    ["dispatcher"],
  ),
  graceMs: int(
    "grace",
    "MS",
    { min: 0, max: HOUR_MS, fallback: 5000 },
    "in-flight requests' time to finish at stop, and a drained role's to leave",
    ["dispatcher"],
  ),
  heartbeatTimeoutMs: int(
    "heartbeat-timeout",
    "MS",
    { min: 200, max: HOUR_MS, fallback: 1000 },
    "a role whose heartbeat is older is frozen: killed, restarted",
  ),
  maxWorkers: int(
    "max-workers",
    "N",
    { min: 1, max: MAX_WORKERS, fallback: MAX_WORKERS },
    "the most workers it may be scaled to (the segment's room; 'deno task scale N',\n" +
      "SIGTTIN one more, SIGTTOU one less)",
  ),
  maxRequests: int(
    "max-requests",
    "N",
    { min: 0, max: 1_000_000_000, fallback: 0 },
    "recycle a worker after N requests (0: never): it is drained — no new request, it\n" +
      "finishes what it holds — and replaced by the standby; never two at once",
  ),
  maxRequestsJitter: int(
    "max-requests-jitter",
    "J",
    { min: 0, max: 1_000_000_000, fallback: 0 },
    "N ± J, drawn for each worker process: workers started together are not recycled together",
  ),
  maxRssMiB: int(
    "max-rss",
    "MiB",
    { min: 0, max: 1_000_000, fallback: 0 },
    "recycle a worker whose resident memory passes this (0: never), read from /proc\n" +
      "at every tick (50 ms), drained like the above",
  ),
  strategy: text(
    "strategy",
    "S",
    "one-for-one",
    strategyOption,
    "which roles a crash restarts: one-for-one, the crashed role alone; one-for-all,\n" +
      "every role (SIGKILL, then all start again, as PostgreSQL does when shared memory\n" +
      "may be corrupt); rest-for-one, the crashed role and those started after it (a\n" +
      "dispatcher's crash restarts the workers, a worker's only itself)",
  ),
  maxRestarts: int(
    "max-restarts",
    "N",
    { min: 1, max: 1000, fallback: 5 },
    "restarts of one role within --restart-period before it is marked failed; a failed\n" +
      "worker is tried again after 30 s, 60 s, …",
  ),
  restartWindowMs: int(
    "restart-period",
    "MS",
    { min: 100, max: HOUR_MS, fallback: 10_000 },
    "the window of --max-restarts; a run this long clears it",
  ),
  trace: text(
    "trace",
    "FILE",
    "",
    anyText,
    "trace what crosses every channel into FILE, one JSON object per line (emptied at\n" +
      'start; "": none). Tracing costs CPU on every message: leave it off for long runs',
    ["dispatcher", "worker"],
  ),
  traceMaxBytes: int(
    "trace-max-bytes",
    "N",
    { min: MIN_TRACE_MAX_BYTES, max: Number.MAX_SAFE_INTEGER, fallback: DEFAULT_TRACE_MAX_BYTES },
    "the trace's bound: past it, FILE is renamed FILE.1 (replacing the older one) and a\n" +
      "new FILE begins; 'deno task trace FILE' reads both",
    ["dispatcher", "worker"],
  ),
  logLevel: text("log-level", "LEVEL", "warning", logLevelOption, "stderr log level", [
    "dispatcher",
    "worker",
  ]),
  standby: onSwitch(
    "standby",
    "a standby process, everything loaded, takes the place of the next role that must\n" +
      "start (ready in a few ms); --no-standby: each start spawns a process (~40 ms)",
  ),
} as const;

/** The name of one of the system's options. */
export type SystemOption = keyof typeof SYSTEM_OPTIONS;

/** The system's options, each with its value. */
export type SystemValues = {
  -readonly [K in SystemOption]: (typeof SYSTEM_OPTIONS)[K] extends OptionSpec<infer T> ? T
    : never;
};

/** The role programs that take option `K`. */
export type TakenBy<K extends SystemOption> = (typeof SYSTEM_OPTIONS)[K]["roles"][number];

/** The options every role program is started with (the dispatcher's and the workers'). */
export type CommonOption = {
  [K in SystemOption]: "worker" extends TakenBy<K> ? "dispatcher" extends TakenBy<K> ? K : never
    : never;
}[SystemOption];

/** The options only the dispatcher, of the role programs, is started with. */
export type DispatcherOption = {
  [K in SystemOption]: "dispatcher" extends TakenBy<K> ? "worker" extends TakenBy<K> ? never : K
    : never;
}[SystemOption];

const takes = (key: SystemOption, role: RoleProgram) =>
  (SYSTEM_OPTIONS[key].roles as readonly RoleProgram[]).includes(role);

/** Every option of the table, in its order. */
export const SYSTEM_OPTION_KEYS = Object.keys(SYSTEM_OPTIONS) as SystemOption[];

/** The options every role program is started with. */
export const COMMON_OPTION_KEYS = SYSTEM_OPTION_KEYS.filter((k) =>
  takes(k, "dispatcher") && takes(k, "worker")
) as CommonOption[];

/** The options only the dispatcher, of the role programs, is started with. */
export const DISPATCHER_OPTION_KEYS = SYSTEM_OPTION_KEYS.filter((k) =>
  takes(k, "dispatcher") && !takes(k, "worker")
) as DispatcherOption[];
