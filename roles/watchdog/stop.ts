/**
 * The graceful stop of an instance's roles, in explicit phases, bounded by the grace plus one
 * second whatever happens:
 *
 * 1. frozen roles (stopped by a signal, or silent for half a second) are killed at once: they could
 *    not act on SIGTERM;
 * 2. the dispatcher gets SIGTERM and its grace to finish what is in flight (half a second more,
 *    then SIGKILL);
 * 3. the workers get SIGTERM, and SIGKILL at the end of the budget.
 *
 * The standbys, which hold nothing in flight, are ended meanwhile (their stdin closes).
 *
 * A second SIGINT or SIGTERM meanwhile kills every role at once — unless it comes within a second
 * of the first: that is the same request delivered twice (a terminal signals its whole foreground
 * group, and `deno task`, `npx` and `timeout` forward the signal again), not a person asking
 * again. Every child is reaped.
 *
 * @module
 */

import {
  describeExit,
  exitStatusField,
  monotonicMs,
  type ProcessExit,
  ROLE_STATE,
} from "../../ipc/mod.ts";
import { HEARTBEAT_INTERVAL_MS } from "../liveness.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { reapChild } from "../spawn.ts";
import { signalRole, type Supervised, type Supervisor } from "./supervisor.ts";
import { isStopped } from "./supervised.ts";

const log = roleLogger("watchdog");

/** Within this many ms of the first stop signal, another one is the same request (see the module). */
export const SAME_STOP_REQUEST_MS = 1000;

/** How a stop went: in its phases, or cut short by a second stop signal. */
export interface StopOutcome {
  /** The second stop signal that killed every role still running, and when (ms into the stop). */
  escalated: { signal: Deno.Signal; afterMs: number } | null;
  /** How each waiting standby ended (none: none was waiting). */
  standby: ProcessExit[];
}

/**
 * Whether a stop signal that came `sinceFirstMs` after the first one asks again (escalate), or
 * is the first one delivered once more.
 */
export function asksAgain(sinceFirstMs: number): boolean {
  return sinceFirstMs >= SAME_STOP_REQUEST_MS;
}

/** Stops every role of `supervisor`'s instance in phases (see the module); resolves once all are reaped. */
export async function stopRoles(supervisor: Supervisor): Promise<StopOutcome> {
  const { roles, options } = supervisor;
  const start = monotonicMs();
  const first = supervisor.stopSignal?.at ?? start;
  const end = start + options.graceMs + 1000;
  const outcome: StopOutcome = { escalated: null, standby: [] };
  for (const role of roles) clearTimeout(role.restartTimer);
  const standby = supervisor.standby?.stop();
  let stopped = false;
  const killAll = (why: string) => {
    for (const role of roles) {
      if (role.child === null || role.state === "stopped") continue;
      traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: `SIGKILL: ${why}` });
      signalRole(role, "SIGKILL");
    }
  };
  // A second stop signal means now.
  (async () => {
    for (let e = await supervisor.events.next(); !stopped; e = await supervisor.events.next()) {
      if (e?.kind === "signal" && (e.signal === "SIGINT" || e.signal === "SIGTERM")) {
        const now = monotonicMs();
        if (!asksAgain(now - first)) continue;
        log.warning("second {signal} while stopping: killing every role now", { signal: e.signal });
        outcome.escalated = { signal: e.signal, afterMs: now - start };
        killAll(`second ${e.signal}`);
        return;
      }
    }
  })().catch((e) => log.error("stop: {e}", { e: String(e) }));

  for (const role of roles) {
    const why = frozenAtStop(supervisor, role);
    if (why === null) continue;
    log.warning("{role} is frozen ({why}): SIGKILL, it could not act on SIGTERM", {
      role: role.name,
      why,
    });
    traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: `SIGKILL: ${why}` });
    signalRole(role, "SIGKILL");
  }
  const phase = (kind: Supervised["kind"], marginMs: number) =>
    Promise.all(
      roles.filter((r) => r.kind === kind).map(async (role) => {
        const child = role.child;
        if (child === null) return;
        const slot = supervisor.segment.slot(role.slot);
        slot.set("state", ROLE_STATE.stopping);
        const termMs = Math.max(100, end - marginMs - monotonicMs());
        traceEvent({ event: "stop", channel: "signal", peer: role.name, detail: "SIGTERM" });
        const status = await reapChild(child, { graceMs: 0, termMs });
        traceEvent({
          event: "stopped",
          channel: "process",
          peer: role.name,
          detail: `pid ${child.pid} ${describeExit(status)}`,
        });
        if (status.signal === "SIGKILL") {
          log.warning("{role} stopped by SIGKILL", { role: role.name });
        }
        role.lastStatus = status;
        role.state = "stopped";
        slot.set("exitStatus", exitStatusField(status));
        slot.set("state", ROLE_STATE.empty);
      }),
    );
  await phase("dispatcher", 500);
  // No dispatcher will accept again: what connects from now on is refused, not left waiting.
  supervisor.listener.close();
  await phase("worker", 100);
  outcome.standby = await standby ?? [];
  stopped = true;
  // Wakes the second-signal watcher, whose loop then ends.
  supervisor.events.push({ kind: "tick" });
  return outcome;
}

/**
 * Why a role cannot stop by itself now (stopped by a signal, running or starting; or running and
 * silent for 500 ms), or null.
 */
function frozenAtStop(supervisor: Supervisor, role: Supervised): string | null {
  const child = role.child;
  if (child === null || (role.state !== "running" && role.state !== "starting")) return null;
  if (isStopped(child.pid)) return "stopped by a signal";
  if (role.state === "starting") return null;
  const now = monotonicMs();
  role.beats.heard(supervisor.segment.slot(role.slot).get("heartbeat"), now);
  const verdict = role.beats.judge(now, 5 * HEARTBEAT_INTERVAL_MS);
  return verdict.alive ? null : `no heartbeat for ${verdict.ageMs?.toFixed(0)} ms`;
}
