/**
 * What the watchdog's tick decides for one role, as pure code: given what it read (the heartbeat
 * in the role's slot, whether its process is stopped by a signal) and the time, is the role
 * frozen, does a kill in progress need SIGKILL, or is all well. The supervisor reads the slot and
 * /proc, and acts; the decisions are tested here on plain data and a clock the test moves.
 *
 * @module
 */

import type { Supervised } from "./supervised.ts";

/** Between SIGTERM and SIGKILL for a frozen role, ms. */
export const KILL_GRACE_MS = 300;

/** The part of a supervised role its judgement reads and keeps up to date. */
export type JudgedRole = Pick<
  Supervised,
  "state" | "killing" | "beats" | "stoppedSince" | "startedAt" | "policy"
>;

/** What the supervisor reads for a role, when the judgement asks for it. */
export interface Observation {
  /** The heartbeat in the role's slot now (monotonic ms). */
  heartbeat(): number;
  /** Whether the role's process is stopped by a signal now (state T). */
  stopped(): boolean;
}

/** What the tick does about a role. */
export type Judgement =
  | { act: "none" }
  | { act: "kill"; why: string }
  | { act: "escalate" };

/**
 * The judgement of `role` at `now` (monotonic ms), for a heartbeat timeout of `timeoutMs`:
 * - a running role whose last plausible heartbeat is older than the timeout is frozen: kill it;
 * - a starting role stopped by a signal for longer than the timeout is frozen too (it would never
 *   be ready);
 * - a role being killed that is still there a kill grace after SIGTERM gets SIGKILL (escalate).
 *
 * The role's records are kept up to date on the way: the beat heard, since when it is stopped,
 * its restart history cleared once it has run long enough (`RestartPolicy.running`).
 */
export function judgeRole(
  role: JudgedRole,
  seen: Observation,
  now: number,
  timeoutMs: number,
): Judgement {
  if (role.killing !== null) {
    if (role.killing.hard || now - role.killing.since <= KILL_GRACE_MS) return { act: "none" };
    role.killing.hard = true;
    return { act: "escalate" };
  }
  if (role.state === "running") {
    role.beats.heard(seen.heartbeat(), now);
    role.policy.running(role.startedAt, now);
    const verdict = role.beats.judge(now, timeoutMs);
    return verdict.alive
      ? { act: "none" }
      : { act: "kill", why: `heartbeat ${verdict.ageMs?.toFixed(0)} ms old` };
  }
  if (role.state === "starting") {
    if (!seen.stopped()) {
      role.stoppedSince = null;
      return { act: "none" };
    }
    role.stoppedSince ??= now;
    if (now - role.stoppedSince > timeoutMs) {
      return { act: "kill", why: "stopped by a signal while it starts" };
    }
  }
  return { act: "none" };
}
