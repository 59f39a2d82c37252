/**
 * What follows a role's end, in one place: the restart policy's decision (`policy.ts`) carried
 * out — a restart after its delay, the slot marked failed and tried again after a pause, or the
 * instance stopped — and the restart strategy's group (`one-for-all`, `rest-for-one`) ended with
 * it. The supervision loop calls it on each exit; it acts through the supervisor (`RestartHost`).
 *
 * @module
 */

import {
  type AsyncQueue,
  describeExit,
  exitStatusField,
  monotonicMs,
  type ProcessExit,
  ROLE_STATE,
  type SharedSegment,
} from "../../ipc/mod.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { count } from "../words.ts";
import type { WatchdogEvent } from "./events.ts";
import { explainExit } from "./exit_cause.ts";
import type { Operations } from "./operations.ts";
import type { ResolvedOptions } from "./options.ts";
import { strategyGroup } from "./policy.ts";
import { signalRole, type Supervised } from "./supervised.ts";

const log = roleLogger("watchdog");

/** What the restarts act on: the supervisor's state, its loop's queue, its end. */
export interface RestartHost {
  /** The instance's options. */
  readonly options: ResolvedOptions;
  /** The instance's segment. */
  readonly segment: SharedSegment;
  /** The roles supervised. */
  readonly roles: readonly Supervised[];
  /** The loop's events: a restart is one. */
  readonly events: AsyncQueue<WatchdogEvent>;
  /** The operations (reload, scaling, recycling) told of each end. */
  operations(): Operations;
  /** Whether the instance is still starting. */
  booting(): boolean;
  /** Ends the instance, saying why. */
  fail(why: string): void;
  /** Whether the instance is ending. */
  failed(): boolean;
}

/** The restarts of one instance's roles. */
export class Restarts {
  readonly #host: RestartHost;

  /** The restarts of the supervisor `host`. */
  constructor(host: RestartHost) {
    this.#host = host;
  }

  /** A role's process could not be started: decided on like an exit with code 1. */
  startFailed(role: Supervised, error: unknown): void {
    role.generation++;
    role.child = null;
    const how = `could not be started (${(error as Error)?.message ?? error})`;
    log.error("{role} {how}", { role: role.name, how });
    traceEvent({ event: "spawn failed", channel: "process", peer: role.name, detail: how });
    this.decide(role, how, 1);
  }

  /** Reap: a role's process exited (Deno reaped it); the policy says what follows. */
  reap(role: Supervised, status: ProcessExit): void {
    role.lastStatus = status;
    role.killing = null;
    this.#host.segment.slot(role.slot).set("exitStatus", exitStatusField(status));
    const how = `${describeExit(status)}${explainExit(status)}`;
    traceEvent({
      event: "exit",
      channel: "signal",
      peer: role.name,
      detail: `pid ${role.child!.pid} ${how}`,
    });
    if (this.#host.operations().exited(role, how)) return;
    this.#host.operations().failed(role, how);
    if (role.groupRestart !== null) {
      // Ended on purpose, to restart along with the role that crashed: at once, not counted.
      log.warning("{role} {how}; restarting with {cause}", {
        role: role.name,
        how,
        cause: role.groupRestart,
      });
      role.groupRestart = null;
      this.restart(role, 0);
      return;
    }
    this.decide(role, how, status.signalNumber === null ? status.code : null);
  }

  /**
   * What follows a role's end (`how`; exit `code`, null for a signal), as the policy says: the
   * instance stops (a failure while it starts, a bad configuration, or the dispatcher failing:
   * nothing can be served without it), the slot is marked failed (a worker's crash loop; it is
   * tried again after a pause), or the role restarts.
   */
  decide(role: Supervised, how: string, code: number | null): void {
    const decision = role.policy.afterExit({ code, booting: this.#host.booting() }, monotonicMs());
    if (decision.kind === "stop-instance") {
      this.#host.fail(`${role.name} ${how} ${decision.why}`);
    } else if (decision.kind === "failed" && role.kind === "dispatcher") {
      this.#host.fail(
        `the dispatcher failed: ${count(decision.restarts, "restart")} within ` +
          `${this.#host.options.restartWindowMs} ms, the last one ${how}; nothing can be served ` +
          `without it`,
      );
      traceEvent({ event: "failed", channel: "process", peer: role.name, detail: how });
    } else if (decision.kind === "failed") {
      role.state = "failed";
      this.#host.segment.slot(role.slot).set("state", ROLE_STATE.failed);
      const pauseMs = role.policy.failed();
      log.error(
        "{role} failed: {n} within {window} ms; the system goes on without it, and tries it " +
          "again in {pause} s (deno task reset-failed: now)",
        {
          role: role.name,
          n: count(decision.restarts, "restart"),
          window: this.#host.options.restartWindowMs,
          pause: pauseMs / 1000,
        },
      );
      traceEvent({
        event: "failed",
        channel: "process",
        peer: role.name,
        detail: `${count(decision.restarts, "restart")}; tried again in ${pauseMs / 1000} s`,
      });
      role.restartTimer = setTimeout(
        () => this.#host.events.push({ kind: "retry", role }),
        pauseMs,
      );
    } else {
      log.warning("{role} {how}; restarting", { role: role.name, how });
      this.restart(role, decision.delayMs);
    }
    if (decision.kind !== "stop-instance" && !this.#host.failed()) this.#restartGroup(role);
  }

  /**
   * The restart strategy: the roles that restart along with `crashed` (`policy.ts`) are ended at
   * once with SIGKILL — what they hold may depend on what the crashed one left in the shared
   * memory, as PostgreSQL ends every backend after one crashes — and each restarts as soon as it
   * is reaped. A role already waiting for its own restart, or failed, is left as it is.
   */
  #restartGroup(crashed: Supervised): void {
    const cause = `${crashed.name} (${this.#host.options.strategy})`;
    for (const role of strategyGroup(this.#host.options.strategy, crashed, this.#host.roles)) {
      if (role.child === null || (role.state !== "running" && role.state !== "starting")) continue;
      if (role.groupRestart !== null) continue;
      role.groupRestart = cause;
      traceEvent({
        event: "group restart",
        channel: "signal",
        peer: role.name,
        detail: `SIGKILL: restarts with ${cause}`,
      });
      signalRole(role, "SIGKILL");
    }
  }

  /** A failed slot is tried again, at once: after its pause, or because an operator asked. */
  retry(role: Supervised, why: string): void {
    clearTimeout(role.restartTimer);
    role.policy.retry();
    log.warning("{role} was failed; trying it again: {why}", { role: role.name, why });
    traceEvent({ event: "retry", channel: "process", peer: role.name, detail: why });
    this.restart(role, 0);
  }

  /** `reset-failed`: every failed slot is tried again now. */
  resetFailed(): void {
    const failed = this.#host.roles.filter((r) => r.state === "failed");
    if (failed.length === 0) log.info("reset-failed: no slot is failed");
    for (const role of failed) this.retry(role, "reset-failed asked for it");
  }

  /** Restart: the role's next process starts after `delayMs` (at once for 0). */
  restart(role: Supervised, delayMs: number): void {
    role.restartCount++;
    const slot = this.#host.segment.slot(role.slot);
    slot.set("restarts", role.restartCount);
    role.state = "backoff";
    slot.set("state", ROLE_STATE.starting);
    // At once means the loop's next event, not a timer (Deno's shortest timer takes ~2 ms).
    if (delayMs === 0) this.#host.events.push({ kind: "restart", role });
    else {role.restartTimer = setTimeout(() =>
        this.#host.events.push({ kind: "restart", role }), delayMs);}
  }
}
