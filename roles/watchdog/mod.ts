/**
 * The watchdog: the root of a system instance (seed questions 3.a–3.c). It takes the instance over
 * and creates its directory, segment and pipes (`instance.ts`), spawns the dispatcher and every
 * worker itself and supervises them in one loop (`supervisor.ts`):
 *
 * - a role that exits is reaped and restarted in its slot (same port for a worker), as the restart
 *   policy says (`policy.ts`): at once, then with a growing backoff; a crash loop marks the slot
 *   failed and the system serves with the others;
 * - a role whose heartbeat is older than the heartbeat timeout (SIGSTOP, a busy loop) is frozen:
 *   SIGTERM, then SIGKILL after the kill grace, then restarted like a crash;
 * - a role that fails while the instance boots, or exits with code 2 (bad configuration), stops
 *   the whole instance with a clear message instead of looping;
 * - SIGINT/SIGTERM stop the roles in phases (`stop.ts`); every child is reaped; pipes, segment,
 *   lock and directory are removed.
 *
 * It never writes into the dispatcher↔worker pipes: its channels are the slots' heartbeats, child
 * exits and signals. Children arm a parent-death signal and check their parent every beat, so they
 * leave within a second if the watchdog is killed; the next start finds the dead instance's lock
 * free, removes its leftovers, and starts.
 *
 * @module
 */

import {
  ListenSocket,
  type ProcessExit,
  RuntimeDirError,
  SegmentError,
  setOomScoreAdj,
  SignalQueue,
  SysCallError,
} from "../../ipc/mod.ts";
import { WATCHDOG_OOM_SCORE_ADJ } from "../lifecycle.ts";
import { roleLogger } from "../logging.ts";
import { listenRetrying } from "../tcp_serve.ts";
import { closeInstance, instancePaths, startInstance } from "./instance.ts";
import { resolveOptions, type WatchdogOptions } from "./options.ts";
import { RELOAD_SIGNAL, SCALE_DOWN_SIGNAL, SCALE_UP_SIGNAL } from "./operations.ts";
import { stopRoles } from "./stop.ts";
import { RESET_FAILED_SIGNAL, type WatchdogReady } from "./events.ts";
import { Supervisor } from "./supervisor.ts";

export {
  clearLeftovers,
  closeInstance,
  type InstanceHold,
  type InstancePaths,
  instancePaths,
  openInstance,
} from "./instance.ts";
export {
  defaultInstance,
  WATCHDOG_FLAGS,
  WATCHDOG_OPTION_KEYS,
  watchdogArgs,
  type WatchdogOptions,
  watchdogOptions,
} from "./options.ts";
export { DRAIN_SIGNAL, RELOAD_SIGNAL, SCALE_DOWN_SIGNAL, SCALE_UP_SIGNAL } from "./operations.ts";
export { STRATEGIES, type Strategy } from "./policy.ts";
export { SAME_STOP_REQUEST_MS } from "./stop.ts";
export { RESET_FAILED_SIGNAL, type WatchdogHandle, type WatchdogReady } from "./events.ts";
export * from "./status.ts";
export * from "./control.ts";

const log = roleLogger("watchdog");

/** The instance could not start; everything it had started was stopped and removed. */
export class WatchdogStartError extends Error {
  /** A start error saying `message`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WatchdogStartError";
  }
}

/** What a watchdog run ended with. */
export interface WatchdogReport {
  /** Exit status of each role's last process. */
  statuses: Record<string, ProcessExit | null>;
  /** Restarts per role. */
  restarts: Record<string, number>;
  /** Roles marked failed (crash loop). */
  failed: string[];
  /** Why it stopped: a signal name, or the fatal problem. */
  reason: string;
  /** The second stop signal that cut the phased stop short, killing every role; null if none. */
  escalated: { signal: Deno.Signal; afterMs: number } | null;
  /** How each standby that was waiting at the stop ended (none: none was). */
  standby: ProcessExit[];
  /** Every pid it spawned, restarts included. */
  pids: number[];
}

/**
 * Runs an instance until SIGINT/SIGTERM (or a fatal problem), then stops it and removes
 * everything. `onReady` is called once every role is up. Throws {@link WatchdogStartError} (or
 * the lock's `InstanceLockedError`) if it cannot start; what it had started is then removed.
 */
export async function runWatchdog(
  options: WatchdogOptions,
  onReady: (ready: WatchdogReady) => void = () => {},
  onStopping: (reason: string) => void = () => {},
): Promise<WatchdogReport> {
  const o = resolveOptions(options);
  const paths = instancePaths(o.instance, o.runtimeBase);
  // Listen for the stop signals first: none may be missed while starting.
  using signals = new SignalQueue([
    "SIGINT",
    "SIGTERM",
    RESET_FAILED_SIGNAL,
    RELOAD_SIGNAL,
    SCALE_UP_SIGNAL,
    SCALE_DOWN_SIGNAL,
  ]);
  let instance;
  try {
    instance = await startInstance(
      paths,
      { workers: o.workers, capacity: o.maxWorkers, label: o.stage },
      (line) => log.warning("leftover of a dead instance: {line}", { line }),
    );
  } catch (e) {
    // What the OS refused (a foreign segment, a full file system, a directory of another user):
    // said in one line; what was created for it is gone.
    if (!(e instanceof SegmentError || e instanceof SysCallError || e instanceof RuntimeDirError)) {
      throw e;
    }
    throw new WatchdogStartError(`cannot start instance ${paths.name}: ${e.message}`, { cause: e });
  }
  // Killed last when memory runs out (where this process may ask it): it reaps and restarts.
  if (!setOomScoreAdj(WATCHDOG_OOM_SCORE_ADJ)) {
    log.info(
      "the OOM killer's order left as it is: lowering this process's needs CAP_SYS_RESOURCE",
    );
  }
  // The dispatcher's listening socket is the watchdog's: it outlives every dispatcher.
  let listener: ListenSocket;
  try {
    listener = await listenRetrying("dispatcher", o.host, o.port, ListenSocket.open);
  } catch (e) {
    closeInstance(paths, instance.hold, instance.segment);
    throw e;
  }
  using _listener = listener;
  const supervisor = new Supervisor(o, paths, instance.hold.dir, instance.segment, listener);
  let stopped = false;
  try {
    const reason = await supervisor.run(signals, onReady);
    onStopping(reason);
    const { escalated, standby } = await stopRoles(supervisor);
    stopped = true;
    return {
      statuses: Object.fromEntries(supervisor.roles.map((r) => [r.name, r.lastStatus])),
      restarts: Object.fromEntries(
        supervisor.roles.map((r) => [r.name, instance.segment.slot(r.slot).get("restarts")]),
      ),
      failed: supervisor.roles.filter((r) => r.state === "failed").map((r) => r.name),
      reason,
      escalated,
      standby,
      pids: supervisor.spawned,
    };
  } finally {
    if (!stopped) await stopRoles(supervisor);
    supervisor.close();
    closeInstance(paths, instance.hold, instance.segment);
  }
}
