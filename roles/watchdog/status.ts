/**
 * An instance's status as its registry shows it: each role's pid, whether it runs, its state,
 * port, heartbeat age, restarts, requests served, queue and last exit. Read through a read-only
 * mapping of the shared segment, so reading it cannot disturb the system. `main.ts status` prints
 * it; the observer serves it.
 *
 * @module
 */

import {
  describeExitField,
  InstanceLock,
  isRunning,
  monotonicMs,
  ROLE_STATE,
  type RoleKind,
  SegmentNotFoundError,
  SharedSegment,
  WATCHDOG_SLOT,
} from "../../ipc/mod.ts";
import type { InstancePaths } from "./instance.ts";

const STATE_NAMES = Object.fromEntries(
  Object.entries(ROLE_STATE).map(([name, value]) => [value, name]),
);

/** One role's line of the status. */
export interface RoleStatus {
  /** `watchdog`, `dispatcher`, `worker k`, or `standby` (the process waiting to take a role). */
  role: string;
  /** Which program it is. */
  kind: RoleKind | "standby";
  /** Its pid in the registry. */
  pid: number;
  /** Whether that process runs. */
  alive: boolean;
  /** Its state. */
  state: string;
  /** Its TCP port (0 if none). */
  port: number;
  /** Age of its last heartbeat, ms. */
  heartbeatAgeMs: number;
  /** Restarts so far. */
  restarts: number;
  /** Requests served (workers). */
  served: number;
  /** Requests queued (dispatcher). */
  queue: number;
  /** Its last exit, if it ever exited. */
  lastExit: string | null;
  /** Its generation (starts so far). */
  generation: number;
}

/**
 * Why the heartbeats cannot be read from this process, or null. The beats are CLOCK_MONOTONIC of
 * the time namespace the roles run in (Linux 5.6 and later); read from another namespace, whose
 * clock has another offset, a beat looks seconds, days or years away (the watchdog's beats come
 * every 50 ms: a beat more than a second in the future, or more than a day old, says so).
 */
export function unreadableClock(watchdogBeat: number, now: number): string | null {
  if (watchdogBeat === 0) return null;
  const age = now - watchdogBeat;
  return age < -1000 || age > 86_400_000
    ? "the instance's CLOCK_MONOTONIC is not this process's (another time namespace?): " +
      "its heartbeat ages cannot be read from here"
    : null;
}

/** What the registry of an instance says of its roles. */
export interface RegistryStatus {
  /** Its stage (the segment's label). */
  stage: string;
  /** Why its heartbeat ages cannot be read from here (another time namespace), or null. */
  clock: string | null;
  /** Each role, and the standby. */
  roles: RoleStatus[];
}

/**
 * Reads an instance's status through a read-only mapping of its segment; null if there is no such
 * segment. The segment is opened once, not checked for first: one that goes meanwhile is null too.
 */
export function readStatus(segmentName: string): RegistryStatus | null {
  let seg: SharedSegment;
  try {
    seg = SharedSegment.open(segmentName, { readOnly: true });
  } catch (e) {
    if (e instanceof SegmentNotFoundError) return null;
    throw e;
  }
  using _seg = seg;
  return registryStatus(seg);
}

/** What the registry in `seg` (an instance's segment, mapped) says of its roles now. */
export function registryStatus(seg: SharedSegment): RegistryStatus {
  const now = monotonicMs();
  const clock = unreadableClock(seg.slot(WATCHDOG_SLOT).get("heartbeat"), now);
  return {
    stage: seg.header().label,
    clock,
    roles: [
      ...seg.rolesInUse().map(({ name: role, slot: index, kind }) => {
        const slot = seg.slot(index);
        const pid = slot.get("pid");
        const generation = slot.get("generation");
        return {
          role,
          kind,
          pid,
          alive: pid > 0 && isRunning(pid),
          state: STATE_NAMES[slot.get("state")] ?? `unknown (${slot.get("state")})`,
          port: slot.get("port"),
          heartbeatAgeMs: slot.get("heartbeat") && clock === null
            ? now - slot.get("heartbeat")
            : -1,
          restarts: slot.get("restarts"),
          served: slot.get("served"),
          queue: slot.get("queue"),
          lastExit: generation > 1 || slot.get("restarts") > 0
            ? describeExitField(slot.get("exitStatus"))
            : null,
          generation,
        };
      }),
      ...standbyStatus(seg.slot(WATCHDOG_SLOT).get("standby")),
    ],
  };
}

/** The standby's line of the status (the watchdog records its pid), none if none waits. */
function standbyStatus(pid: number): RoleStatus[] {
  if (pid <= 0) return [];
  return [{
    role: "standby",
    kind: "standby",
    pid,
    alive: isRunning(pid),
    state: "waiting",
    port: 0,
    heartbeatAgeMs: -1,
    restarts: 0,
    served: 0,
    queue: 0,
    lastExit: null,
    generation: 0,
  }];
}

/** An instance's whole status, as `main.ts status --json` prints it. */
export interface InstanceStatus {
  /** The instance's name. */
  instance: string;
  /** Its segment's name. */
  segment: string;
  /** Its stage (the segment's label). */
  stage: string;
  /** Whether its watchdog holds its lock (false: a dead instance's leftovers). */
  running: boolean;
  /** Why its heartbeat ages cannot be read from here (another time namespace), or null. */
  clock: string | null;
  /** Each role. */
  roles: RoleStatus[];
}

/** The status of the instance at `paths`; null if it has no segment. */
export function instanceStatus(paths: InstancePaths): InstanceStatus | null {
  const status = readStatus(paths.segment);
  if (status === null) return null;
  return {
    instance: paths.name,
    segment: paths.segment,
    stage: status.stage,
    running: InstanceLock.isHeld(paths.lock),
    clock: status.clock,
    roles: status.roles,
  };
}
