/**
 * What the watchdog knows of one supervised role (the dispatcher, or worker k): its slot, its
 * current process and how it is doing, its restart history; and signalling that process.
 *
 * @module
 */

import { type ProcessExit, processInfo, type RegistryRole } from "../../ipc/mod.ts";
import { BeatRecord } from "../liveness.ts";
import { signalChild } from "../spawn.ts";
import type { Retiring } from "./operations.ts";
import { type RestartLimits, RestartPolicy } from "./policy.ts";

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
