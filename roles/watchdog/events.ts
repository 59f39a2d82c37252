/**
 * What the supervision loop handles (its events), what the watchdog tells its caller once the
 * instance is up, and the handle on it that code in its own process is given (the observer).
 *
 * @module
 */

import type { ProcessExit } from "../../ipc/mod.ts";
import type { ReadyOutcome } from "../spawn.ts";
import type { InstancePaths } from "./instance.ts";
import type { InstanceStatus } from "./status.ts";
import type { Supervised } from "./supervised.ts";

/** What the loop handles. */
export type WatchdogEvent =
  | { kind: "exit"; role: Supervised; generation: number; status: ProcessExit }
  | { kind: "ready"; role: Supervised; generation: number; outcome: ReadyOutcome }
  | { kind: "tick" }
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "fatal"; why: string }
  | { kind: "restart"; role: Supervised }
  | { kind: "retry"; role: Supervised }
  | { kind: "standby"; pid: number | null; how: string | null };

/** What the watchdog tells its caller once the instance is up. */
export interface WatchdogReady {
  /** The instance's paths. */
  paths: InstancePaths;
  /** The dispatcher's port. */
  port: number;
  /** Pids by role name. */
  pids: Record<string, number>;
  /** Ports by role name (0 for a worker that does not listen). */
  ports: Record<string, number>;
  /** The standby's pid (null with `standby: false`). */
  standby: number | null;
  /** What a page or a tool in the watchdog's own process may ask of it. */
  watchdog: WatchdogHandle;
}

/**
 * The watchdog, as what runs in its own process (the observer) sees it: the status from its own
 * mapping of the registry, and signals through its own child handles — never a pid read from the
 * registry, which any process of the user can write (Gunicorn's control server refuses any pid not
 * in its own worker table).
 */
export interface WatchdogHandle {
  /** The instance's status now; null once the instance is being closed (its segment goes). */
  status(): InstanceStatus | null;
  /**
   * Sends `signal` to the current process of role `name` (or of the standby that would take the
   * next role); its pid, or why nothing was sent (no such role, none running).
   */
  signal(name: string, signal: Deno.Signal): { pid: number } | { refused: string };
}

/** The signal that tries every failed slot again at once (`deno task reset-failed`). */
export const RESET_FAILED_SIGNAL: Deno.Signal = "SIGUSR2";
