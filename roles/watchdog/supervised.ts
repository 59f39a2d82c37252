/**
 * What the watchdog knows of one supervised role (the dispatcher, or worker k): its slot, its
 * current process and how it is doing, its restart history; and signalling that process, killing
 * it when it is frozen or late.
 *
 * @module
 */

import {
  isRunning,
  monotonicMs,
  type ProcessExit,
  processInfo,
  type RegistryRole,
} from "../../ipc/mod.ts";
import { BeatRecord } from "../liveness.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { signalChild } from "../spawn.ts";
import type { Retiring } from "./operations.ts";
import { type RestartLimits, RestartPolicy } from "./policy.ts";

const log = roleLogger("watchdog");

/** Where a supervised role stands. */
export type SupervisedState = "starting" | "running" | "backoff" | "failed" | "stopped";

/** A supervised role. */
export interface Supervised {
  /** `dispatcher` or `worker k`. */
  name: string;
  /** Its slot in the registry. */
  slot: number;
  /** Which program it runs. */
  kind: "dispatcher" | "worker";
  /** The worker's number (0 for the dispatcher). */
  k: number;
  /** Its current process. */
  child: Deno.ChildProcess | null;
  /** Processes started in its slot so far. */
  generation: number;
  /** Where it stands. */
  state: SupervisedState;
  /** Its restart history and the decisions it leads to. */
  policy: RestartPolicy;
  /** The heartbeats of its current process. */
  beats: BeatRecord;
  /** When its current process started, on the monotonic clock (the slot shows wall time). */
  startedAt: number;
  /** By when its current process must say it is ready (monotonic ms). */
  readyBy: number;
  /** Since when its current process has been seen stopped by a signal (state T), or null. */
  stoppedSince: number | null;
  /** Its port once known (a restart takes it again). */
  port: number;
  /** Since when a frozen role is being killed, and whether SIGKILL was sent. */
  killing: { since: number; hard: boolean } | null;
  /** The timer of a restart after a backoff, or of a failed slot's next try. */
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Its last process's exit status. */
  lastStatus: ProcessExit | null;
  /** Restarts so far; the slot shows it, and is rewritten from here at every tick. */
  restartCount: number;
  /**
   * Why its process is being ended to restart along with another role's (the restart strategy):
   * its exit then restarts it at once, outside its own restart count. Null otherwise.
   */
  groupRestart: string | null;
  /** Whether and why it is being retired (it takes no new work, and leaves), or null. */
  retiring: Retiring | null;
}

/** A role of the registry, not started yet, under `limits`. */
export function supervised(role: RegistryRole, limits: RestartLimits): Supervised {
  if (role.kind === "watchdog") throw new TypeError("the watchdog does not supervise itself");
  return {
    name: role.name,
    slot: role.slot,
    kind: role.kind,
    k: role.k,
    child: null,
    generation: 0,
    state: "starting",
    policy: new RestartPolicy(limits),
    beats: new BeatRecord(0),
    startedAt: 0,
    readyBy: 0,
    stoppedSince: null,
    port: 0,
    killing: null,
    restartTimer: undefined,
    lastStatus: null,
    restartCount: 0,
    groupRestart: null,
    retiring: null,
  };
}

/** Sends `signal` to a role's current process; one that exited meanwhile is left to its exit event. */
export function signalRole(role: Supervised, signal: Deno.Signal): void {
  if (role.child !== null) signalChild(role.child, signal);
}

/** Whether a process is stopped by a signal (SIGSTOP, SIGTSTP: state T) or traced (t). */
export function isStopped(pid: number): boolean {
  const state = processInfo(pid)?.state;
  return state === "T" || state === "t";
}

/**
 * The signal a user asks for (`osps signal`, the observer) sent to the role named `name`, or to
 * the standby: only to a child of this watchdog, never to a pid read from the shared registry.
 */
export function signalNamed(
  roles: readonly Supervised[],
  standby: Deno.ChildProcess | null,
  name: string,
  signal: Deno.Signal,
): { pid: number } | { refused: string } {
  const role = roles.find((r) => r.name === name);
  if (name !== "standby" && role === undefined) {
    return { refused: `no role ${JSON.stringify(name)} in this instance` };
  }
  const child = name === "standby" ? standby : role?.child ?? null;
  if (child === null || !isRunning(child.pid)) {
    return { refused: `${name} has no running process` };
  }
  signalChild(child, signal);
  return { pid: child.pid };
}

/**
 * Begins killing a role found frozen, or not ready in time (`event`, with `why` as detail):
 * SIGTERM now, SIGKILL once the kill grace is over (the tick's escalation); a process stopped by
 * a signal cannot act on SIGTERM, and gets SIGKILL at once.
 */
export function beginKill(role: Supervised, event: "frozen" | "start timeout", why: string): void {
  if (role.killing !== null || role.child === null) return;
  const stopped = isStopped(role.child.pid);
  const signal = stopped ? "SIGKILL" : "SIGTERM";
  log.warning("{role} {why}: {signal} to pid {pid}", {
    role: role.name,
    why,
    signal,
    pid: role.child.pid,
  });
  traceEvent({ event, channel: "signal", peer: role.name, detail: `${why}; ${signal}` });
  role.killing = { since: monotonicMs(), hard: stopped };
  if (stopped) traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: signal });
  signalRole(role, signal);
}
