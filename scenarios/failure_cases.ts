/**
 * The failure scenarios as data: which role each breaks, with which signal, what the watchdog
 * must do and within what bound. `failures.ts` runs them.
 *
 * @module
 */

import type { TraceEventKind } from "../roles/mod.ts";

/** How one failure scenario breaks the system, and what it expects the watchdog to do. */
export interface FailureCase {
  /** What it does, in a line (for --help and the docs). */
  summary: string;
  /** The role it breaks. */
  target: string;
  /** The signal it sends. */
  fault: "SIGKILL" | "SIGSTOP";
  /** The role also crashes at every start from then on (a crash loop). */
  crashesAtStart: boolean;
  /** The watchdog's trace events that count as seeing the fault. */
  seenBy: TraceEventKind[];
  /** The bound on seeing it, ms, for a heartbeat timeout of `heartbeatMs`. */
  seenWithinMs: (heartbeatMs: number) => number;
  /** What the watchdog must do: restart the role (served again), or give up on it. */
  expect: "restarted" | "marked failed";
  /** The workers must keep their processes (a dispatcher crash). */
  workersUntouched: boolean;
  /**
   * No connection may be refused meanwhile: the watchdog keeps the listening socket while the
   * dispatcher restarts (a prober connects every 10 ms).
   */
  noneRefused: boolean;
}

/** The failure scenarios but the watchdog's own crash (its own function), as data. */
export const CASES = {
  "worker-crash": {
    summary: "SIGKILL a worker under load: seen at once, restarted",
    target: "worker 1",
    fault: "SIGKILL",
    crashesAtStart: false,
    seenBy: ["exit"],
    seenWithinMs: () => 500,
    expect: "restarted",
    workersUntouched: false,
    noneRefused: false,
  },
  "worker-freeze": {
    summary: "SIGSTOP a worker under load: caught by its heartbeat, killed, restarted",
    target: "worker 1",
    fault: "SIGSTOP",
    crashesAtStart: false,
    seenBy: ["frozen"],
    seenWithinMs: (heartbeatMs) => heartbeatMs + 1000,
    expect: "restarted",
    workersUntouched: false,
    noneRefused: false,
  },
  "dispatcher-crash": {
    summary: "SIGKILL the dispatcher: restarted, the workers keep running, clients reconnect",
    target: "dispatcher",
    fault: "SIGKILL",
    crashesAtStart: false,
    seenBy: ["exit"],
    seenWithinMs: () => 500,
    expect: "restarted",
    workersUntouched: true,
    noneRefused: true,
  },
  "crash-loop": {
    summary: "a worker that dies at every start: restarted with growing delays, then marked failed",
    target: "worker 2",
    fault: "SIGKILL",
    crashesAtStart: true,
    seenBy: ["exit"],
    seenWithinMs: () => 500,
    expect: "marked failed",
    workersUntouched: false,
    noneRefused: false,
  },
} as const satisfies Record<string, FailureCase>;

/** The failure scenarios, in the order they are listed. */
export const FAILURES = [
  "worker-crash",
  "worker-freeze",
  "dispatcher-crash",
  "watchdog-crash",
  "crash-loop",
] as const;

/** One failure scenario's name. */
export type FailureName = typeof FAILURES[number];

/** What each failure scenario does, in a line. */
export const FAILURE_SUMMARIES: Readonly<Record<FailureName, string>> = {
  ...Object.fromEntries(Object.entries(CASES).map(([name, c]) => [name, c.summary])),
  "watchdog-crash": "SIGKILL the watchdog: no orphan within 1 s; the next start cleans up, serves",
} as Record<FailureName, string>;
