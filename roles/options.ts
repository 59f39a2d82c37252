/**
 * The system's options, declared once: each whole-number option's range and default, the other
 * options' checks, one error for a bad command line. `main.ts up`, the watchdog's process, the
 * dispatcher's and the harness all read and write their flags through this table, so a flag means
 * the same everywhere and is checked the same way.
 *
 * @module
 */

import { getLogLevels, isLogLevel } from "@logtape/logtape";
import { MAX_WORKERS } from "../ipc/layout.ts";
import { parseStage, type Stage } from "./stages.ts";
import { STRATEGIES, type Strategy } from "./watchdog/policy.ts";
import { DEFAULT_TRACE_MAX_BYTES, MIN_TRACE_MAX_BYTES } from "./trace_file.ts";

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

const HOUR_MS = 3_600_000;

/** The largest TCP port. */
export const MAX_PORT = 65535;

/** The system's whole-number options: range and default of each. */
export const NUMBER_OPTIONS = {
  workers: { min: 1, max: MAX_WORKERS, fallback: 3 },
  port: { min: 0, max: MAX_PORT - MAX_WORKERS, fallback: 2222 },
  "queue-limit": { min: 0, max: 1_000_000, fallback: 64 },
  /** 0: derived from the dispatcher's open-file limit. */
  "max-connections": { min: 0, max: 10_000_000, fallback: 0 },
  "request-timeout": { min: 1, max: HOUR_MS, fallback: 10_000 },
  "claim-timeout": { min: 1, max: HOUR_MS, fallback: 5000 },
  "idle-timeout": { min: 1, max: 24 * HOUR_MS, fallback: 60_000 },
  grace: { min: 0, max: HOUR_MS, fallback: 5000 },
  "heartbeat-timeout": { min: 200, max: HOUR_MS, fallback: 1000 },
  /** The most workers the instance may be scaled to: its segment has room for them. */
  "max-workers": { min: 1, max: MAX_WORKERS, fallback: MAX_WORKERS },
  /** A worker process is recycled after this many requests (0: never). */
  "max-requests": { min: 0, max: 1_000_000_000, fallback: 0 },
  /** The spread of --max-requests: N ± this. */
  "max-requests-jitter": { min: 0, max: 1_000_000_000, fallback: 0 },
  /** A worker process is recycled above this resident memory, MiB (0: never). */
  "max-rss": { min: 0, max: 1_000_000, fallback: 0 },
  /** Restarts of one slot within --restart-period before it is marked failed. */
  "max-restarts": { min: 1, max: 1000, fallback: 5 },
  /** The crash-loop window, ms; a run this long clears a slot's count. */
  "restart-period": { min: 100, max: HOUR_MS, fallback: 10_000 },
  "trace-max-bytes": {
    min: MIN_TRACE_MAX_BYTES,
    max: Number.MAX_SAFE_INTEGER,
    fallback: DEFAULT_TRACE_MAX_BYTES,
  },
} as const;

/** The name of one of the system's whole-number options. */
export type NumberOption = keyof typeof NUMBER_OPTIONS;

/** The system option `name` from its flag's value (its default when absent), checked. */
export function numberOption(name: NumberOption, value: string | undefined): number {
  const { min, max, fallback } = NUMBER_OPTIONS[name];
  return intOption(name, value, fallback, min, max);
}

/** A `--log-level` value, checked against LogTape's levels. */
export function logLevelOption(value: string): string {
  if (!isLogLevel(value)) {
    throw new UsageError(`--log-level must be one of ${getLogLevels().join(", ")}`);
  }
  return value;
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

/** A `--strategy` value. */
export function strategyOption(value: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(value)) {
    throw new UsageError(
      `--strategy must be one of ${STRATEGIES.join(", ")}, got ${JSON.stringify(value)}`,
    );
  }
  return value as Strategy;
}

/** An `--advertise` value: a host name or address. */
export function advertiseOption(value: string): string {
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(value)) {
    throw new UsageError("--advertise must be a host name or address");
  }
  return value;
}

/** An `--instance` value: 1-64 of A-Z a-z 0-9 _ -. */
export function instanceOption(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    throw new UsageError("--instance must be 1-64 of A-Z a-z 0-9 _ -");
  }
  return value;
}

/** `--name value` pairs for the options that have a value, in order: a command line to spawn. */
export function flags(options: Record<string, string | number | undefined>): string[] {
  return Object.entries(options).flatMap(([name, value]) =>
    value === undefined ? [] : [`--${name}`, String(value)]
  );
}
