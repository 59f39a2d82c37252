/**
 * What every supervised role does for its watchdog: beat in its slot from its event loop (a
 * blocked loop stops beating, which is how a freeze is seen), leave at once when its parent is
 * gone, and honour an injected crash-at-start fault.
 *
 * @module
 */

import {
  monotonicMs,
  parentPid,
  raiseOpenFileLimit,
  type RoleSlot,
  setParentDeathSignal,
  SharedSegment,
  SignalQueue,
} from "../ipc/mod.ts";
import { HEARTBEAT_INTERVAL_MS } from "./liveness.ts";
import { traceEvent } from "./logging.ts";

/**
 * A role's OOM score adjustment: the ordinary one, whatever the watchdog's (which the kernel
 * gives its children): the watchdog is kept longest, the standby goes first.
 */
export const ROLE_OOM_SCORE_ADJ = 0;

/** The watchdog's OOM score adjustment, where it is allowed (CAP_SYS_RESOURCE): killed last. */
export const WATCHDOG_OOM_SCORE_ADJ = -500;

/**
 * The signal by which the watchdog retires a role gracefully (recycling, a reload, scaling down):
 * it takes no new work, finishes what it holds, and exits 0. SIGWINCH, as Gunicorn's arbiter
 * uses it for its workers: its default action is to be ignored, so one sent to a process that
 * does not expect it does nothing (SIGUSR1 would make Deno open its inspector on port 9229).
 */
export const DRAIN_SIGNAL: Deno.Signal = "SIGWINCH";

/** Exit code of a role that left because its parent (the watchdog) is gone. */
export const EXIT_PARENT_GONE = 3;

/** Exit code of a role that failed on purpose at start (injected fault). */
export const EXIT_INJECTED = 4;

/**
 * Writes the monotonic clock (`monotonicMs`) to the slot's heartbeat every {@link HEARTBEAT_INTERVAL_MS} (with the role's
 * own fields, through `reassert`), and exits the
 * process with {@link EXIT_PARENT_GONE} as soon as the parent is no longer `expectedParent` (the
 * parent-death signal's backup: it also covers a parent that died before the signal was armed).
 */
export function startHeartbeat(
  slot: RoleSlot,
  expectedParent: number,
  reassert: () => void = () => {},
): Disposable {
  const beat = () => {
    if (parentPid() !== expectedParent) leaveOrphaned();
    slot.set("heartbeat", monotonicMs());
    // The role's own fields, written again at every beat: garbage written into the slot by
    // another process lasts at most one beat.
    reassert();
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

/** Leaves at once, with {@link EXIT_PARENT_GONE}: the watchdog is gone, so nobody will stop us. */
export function leaveOrphaned(): never {
  traceEvent({ event: "parent gone", channel: "signal", detail: "leaving at once" });
  Deno.exit(EXIT_PARENT_GONE);
}

/** Whether this process's parent is still `expectedParent`. */
export function parentAlive(expectedParent: number): boolean {
  return parentPid() === expectedParent;
}

/**
 * The fault file that makes role `slug` (`dispatcher`, `worker-2`) exit with {@link EXIT_INJECTED}
 * right after it starts, each time, until the file is removed: how the crash-loop scenario breaks
 * a role on purpose.
 */
export function crashAtStartFile(runtimeDir: string, slug: string): string {
  return `${runtimeDir}/crash-at-start.${slug}`;
}

/** Exits with {@link EXIT_INJECTED} if the crash-at-start fault is set for this role. */
export function honourInjectedCrash(runtimeDir: string, slug: string): void {
  try {
    Deno.statSync(crashAtStartFile(runtimeDir, slug));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  console.error(`${slug}: injected crash at start (${crashAtStartFile(runtimeDir, slug)})`);
  Deno.exit(EXIT_INJECTED);
}

/** A role's stop: asked for by SIGTERM, heard from the moment the role starts. */
export interface StopRequest {
  /** Aborted by the stop: every wait of the role's start takes it, so none outlasts the stop. */
  signal: AbortSignal;
  /** Resolves when the stop is asked for. */
  requested: Promise<void>;
}

/**
 * Listens on `signals` for the role's SIGTERM from now on (SIGINT from a terminal is the parent's
 * to act on): a role still opening its pipes when its stop comes (a worker whose dispatcher has
 * stopped first waits for a reader that will not come) must still stop. A SIGTERM that comes
 * because the parent died (the parent-death signal) means leave now.
 */
export function stopRequest(signals: SignalQueue, expectedParent: number): StopRequest {
  const controller = new AbortController();
  const requested = (async () => {
    for await (const s of signals) {
      if (s !== "SIGTERM") continue;
      if (!parentAlive(expectedParent)) leaveOrphaned();
      traceEvent({ event: "stop", channel: "signal", detail: s });
      controller.abort(new Error("stopped by SIGTERM"));
      return;
    }
  })();
  return { signal: controller.signal, requested };
}

/** Which role a process plays, and where: what {@link startRole} needs. */
export interface RoleStart {
  /** The watchdog's pid: the parent this role must have. */
  parentPid: number;
  /** The instance's runtime directory (its pipes, its fault files). */
  runtimeDir: string;
  /** The instance's segment. */
  segment: string;
  /** This role's slot in the registry. */
  slot: number;
  /** The role's name in fault files and messages: `dispatcher`, `worker-2`. */
  slug: string;
}

/** What a role process holds from its start to its end; disposing of it lets go in order. */
export interface RoleProcess extends Disposable {
  /** The instance's segment, open. */
  readonly segment: SharedSegment;
  /** This role's slot. */
  readonly slot: RoleSlot;
  /** Its stop (SIGTERM), heard from the start. */
  readonly stop: StopRequest;
  /** The drain signal, each time it comes. */
  readonly drains: SignalQueue;
  /** The open-file limit, raised to the hard limit. */
  readonly fileLimit: number;
  /** Sets the role's own fields, written again at each beat after the pid. */
  onBeat(reassert: () => void): void;
}

/**
 * The start every role program shares: the parent-death signal armed, an injected crash honoured,
 * the open-file limit raised, SIGTERM and the drain signal heard, the segment opened, the slot's
 * pid written, and the heartbeat running (the pid and the role's own fields, at every beat).
 */
export function startRole(start: RoleStart): RoleProcess {
  setParentDeathSignal("SIGTERM", start.parentPid);
  honourInjectedCrash(start.runtimeDir, start.slug);
  const fileLimit = raiseOpenFileLimit();
  using held = new DisposableStack();
  const stop = stopRequest(held.use(new SignalQueue(["SIGTERM", "SIGINT"])), start.parentPid);
  const drains = held.use(new SignalQueue([DRAIN_SIGNAL]));
  const segment = held.use(SharedSegment.open(start.segment));
  const slot = segment.slot(start.slot);
  let reassert = () => {};
  held.use(startHeartbeat(slot, start.parentPid, () => {
    slot.set("pid", Deno.pid);
    reassert();
  }));
  const owned = held.move();
  return {
    segment,
    slot,
    stop,
    drains,
    fileLimit,
    onBeat: (fn) => reassert = fn,
    [Symbol.dispose]: () => owned.dispose(),
  };
}
