/**
 * What the watchdog puts right that another process of the user spoiled: the segment's header
 * (a role refuses a segment whose header is not its instance's), a worker's two pipes (gone, or
 * replaced by a file), and the registry fields it owns (garbage lasts at most one tick).
 *
 * @module
 */

import { ROLE_STATE, type RuntimeDir, type SharedSegment } from "../../ipc/mod.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import type { Supervised } from "./supervised.ts";

const log = roleLogger("watchdog");

/** Writes the header of `segment` (named `name`) again if another process changed it. */
export function repairHeader(segment: SharedSegment, name: string): void {
  if (!segment.repairHeader()) return;
  log.warning("the segment's header was overwritten by another process: written again");
  traceEvent({ event: "header repaired", channel: "shm", detail: name });
}

/** What `role` opens when it starts, put right: the segment's header, a worker's two pipes. */
export function repairBeforeStart(
  segment: SharedSegment,
  dir: RuntimeDir,
  name: string,
  role: Supervised,
): void {
  repairHeader(segment, name);
  if (role.kind !== "worker") return;
  for (const pipe of [`dwtube${role.k}`, `wdtube${role.k}`]) {
    const wrong = dir.ensureFifo(pipe);
    if (wrong === null) continue;
    log.warning("{pipe} made again before {role} starts: {wrong}", {
      pipe,
      role: role.name,
      wrong,
    });
    traceEvent({ event: "pipe repaired", channel: "fifo", peer: role.name, detail: pipe });
  }
}

/**
 * The fields the watchdog owns, written again from its own records of `roles`: garbage another
 * process writes into the registry lasts at most one tick. A running role's port is the one its
 * ready line said.
 */
export function repairRegistry(segment: SharedSegment, roles: readonly Supervised[]): void {
  for (const role of roles) {
    const slot = segment.slot(role.slot);
    if (role.child) slot.set("pid", role.child.pid);
    slot.set("generation", role.generation);
    slot.set("restarts", role.restartCount);
    if (role.state === "failed") slot.set("state", ROLE_STATE.failed);
    if (role.state === "running" && role.port > 0) slot.set("port", role.port);
  }
}
