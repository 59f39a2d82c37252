/**
 * What an operator runs a supervisor for, beyond restarts (Gunicorn's HUP, TTIN and TTOU and its
 * `max_requests`; PM2's reload, scale and `max_memory_restart`), all on one mechanism: a role is
 * **retired** — the drain signal ({@link DRAIN_SIGNAL}) makes it take no new work, finish what it
 * holds (a worker's claims included) and leave with exit 0 — then replaced in its slot, or not:
 *
 * - **recycling** (`--max-requests N`, `--max-requests-jitter J`, `--max-rss MiB`): a worker that
 *   served its N ± J requests, or whose resident memory passed the bound, checked at every tick
 *   from /proc, is retired and replaced by the standby; never two at once;
 * - **a rolling reload** (SIGHUP, `deno task reload`): a new standby is started, which loads the
 *   code as it is on disk now; once it has loaded, the first worker is retired and the standby
 *   takes its slot; once that worker is ready, the next, …, the dispatcher last. A standby that
 *   cannot load the new code stops the reload: the old processes go on serving;
 * - **scaling** (SIGTTIN one more worker, SIGTTOU one less, `deno task scale N`): a worker added
 *   gets the next free slot, its pipes and its port; one removed is retired, and its slot and
 *   pipes go once it has left.
 *
 * A retired role that does not leave within the grace gets SIGTERM, then SIGKILL.
 *
 * @module
 */

import {
  monotonicMs as now,
  type RoleSlot,
  rssKib,
  type SharedSegment,
  WATCHDOG_SLOT,
} from "../../ipc/mod.ts";
import { DRAIN_SIGNAL } from "../lifecycle.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import type { ResolvedOptions } from "./options.ts";
import { type RecycleLimits, recycleReason, requestBudget } from "./recycle.ts";
import type { Standby } from "./standby.ts";
import { signalRole, type Supervised } from "./supervised.ts";

export { DRAIN_SIGNAL } from "../lifecycle.ts";

/** SIGHUP: a rolling reload. */
export const RELOAD_SIGNAL: Deno.Signal = "SIGHUP";
/** SIGTTIN: one more worker. */
export const SCALE_UP_SIGNAL: Deno.Signal = "SIGTTIN";
/** SIGTTOU: one less worker. */
export const SCALE_DOWN_SIGNAL: Deno.Signal = "SIGTTOU";

/** Why a role is retired. */
export type RetireReason = "recycle" | "reload" | "remove";

/** A role being retired. */
export interface Retiring {
  /** Why. */
  reason: RetireReason;
  /** What the log and the trace say of it. */
  why: string;
  /** Since when (monotonic ms). */
  since: number;
  /** Whether the drain's bound passed and it was sent SIGTERM. */
  forced: boolean;
}

/** What the operations need of the supervisor. */
export interface OperationsHost {
  /** The instance's options. */
  readonly options: ResolvedOptions;
  /** The dispatcher, then the workers (workers come and go with scaling). */
  readonly roles: Supervised[];
  /** The instance's segment. */
  readonly segment: SharedSegment;
  /** The standby, if the instance keeps one. */
  readonly standby: Standby | null;
  /** Whether every role has been ready once. */
  readonly booted: boolean;
  /** Starts `role` again in its slot at once; not a crash: its restart count does not move. */
  replace(role: Supervised): void;
  /** Adds a worker in the first free slot, its pipes made, and starts it; null if none is free. */
  addWorker(): Supervised | null;
  /** Forgets a worker that has left for good: its slot emptied, its pipes removed. */
  removeWorker(role: Supervised): void;
}

const log = roleLogger("watchdog");

/** The reload under way: the roles left to do, the one being replaced. */
interface Reload {
  /** The roles still to be reloaded, in order (workers, then the dispatcher). */
  queue: Supervised[];
  /** The role retired or starting now, null between two. */
  current: Supervised | null;
  /** When it began (monotonic ms). */
  since: number;
}

/** The operations of one instance. */
export class Operations {
  #reload: Reload | null = null;
  /** A reload was asked for, and begins once no role is starting. */
  #reloadAsked = false;
  /** The request budget of each worker's current process, by role name. */
  #budgets = new Map<string, { generation: number; base: number; budget: number }>();

  /** The operations of `host`'s instance. */
  constructor(readonly host: OperationsHost) {}

  /** The recycling limits. */
  get limits(): RecycleLimits {
    const o = this.host.options;
    return { maxRequests: o.maxRequests, jitter: o.maxRequestsJitter, maxRssMiB: o.maxRssMiB };
  }

  /** The workers the instance runs, and will run: the ones being removed left out. */
  get workers(): number {
    return this.host.roles.filter((r) => r.kind === "worker" && r.retiring?.reason !== "remove")
      .length;
  }

  /** An operator's signal: a reload or a scaling; false if `signal` is none of theirs. */
  signal(signal: Deno.Signal): boolean {
    if (signal === RELOAD_SIGNAL) this.startReload();
    else if (signal === SCALE_UP_SIGNAL) this.scale(this.workers + 1);
    else if (signal === SCALE_DOWN_SIGNAL) this.scale(this.workers - 1);
    else return false;
    return true;
  }

  /**
   * Retires `role` (see the module): it is sent the drain signal; false if it is not running or
   * already retiring.
   */
  retire(role: Supervised, reason: RetireReason, why: string, now: number): boolean {
    if (role.state !== "running" || role.retiring !== null || role.child === null) return false;
    role.retiring = { reason, why, since: now, forced: false };
    log.info("{role}: {why}; retiring it ({signal})", {
      role: role.name,
      why,
      signal: DRAIN_SIGNAL,
    });
    traceEvent({
      event: "drain",
      channel: "signal",
      peer: role.name,
      detail: `${why}; ${DRAIN_SIGNAL}`,
    });
    signalRole(role, DRAIN_SIGNAL);
    return true;
  }

  /**
   * A retired role's process ended (`how`): replaced or removed; true if it was one, false for
   * any other exit (the restart policy's).
   */
  exited(role: Supervised, how: string): boolean {
    const retiring = role.retiring;
    if (retiring === null) return false;
    role.retiring = null;
    traceEvent({
      event: "retired",
      channel: "process",
      peer: role.name,
      detail: `${retiring.reason}: ${how}`,
    });
    if (retiring.reason === "remove") {
      log.info("{role} removed ({how})", { role: role.name, how });
      this.host.removeWorker(role);
      this.#publishWorkers();
    } else {
      this.host.replace(role);
    }
    return true;
  }

  /** Every tick: a retired role past its bound is stopped; a worker due for recycling is retired. */
  tick(now: number): void {
    for (const role of this.host.roles) {
      const r = role.retiring;
      if (r === null || r.forced || now - r.since <= this.host.options.graceMs + 1000) continue;
      r.forced = true;
      log.warning("{role} did not leave within the grace of its drain: SIGTERM", {
        role: role.name,
      });
      traceEvent({
        event: "kill",
        channel: "signal",
        peer: role.name,
        detail: "SIGTERM: drain too long",
      });
      role.killing = { since: now, hard: false };
      signalRole(role, "SIGTERM");
    }
    this.#beginReloadWhenSettled();
    this.#recycle(now);
    if (this.#reload !== null && now - this.#reload.since > 10 * 60_000) {
      this.#stopReload("it took over 10 minutes");
    }
  }

  /**
   * Recycling: one worker at a time out of service — none is retired while another is being
   * retired or replaced (a role starting or about to restart waits for its turn too).
   */
  #recycle(now: number): void {
    const limits = this.limits;
    if (limits.maxRequests === 0 && limits.maxRssMiB === 0) return;
    if (this.#reload !== null || this.#reloadAsked) return;
    const busy = (r: Supervised) =>
      r.retiring !== null || r.state === "starting" || r.state === "backoff";
    if (this.host.roles.some(busy)) return;
    for (const role of this.host.roles) {
      if (role.kind !== "worker" || role.state !== "running" || role.child === null) continue;
      const slot = this.host.segment.slot(role.slot);
      const budget = this.#budgetOf(role, slot);
      const served = slot.get("served") - budget.base;
      const why = recycleReason(limits, served, budget.budget, rssKib(role.child.pid));
      if (why !== null && this.retire(role, "recycle", why, now)) return;
    }
  }

  #budgetOf(role: Supervised, slot: RoleSlot): { base: number; budget: number } {
    const known = this.#budgets.get(role.name);
    if (known?.generation === role.generation) return known;
    const fresh = {
      generation: role.generation,
      base: slot.get("served"),
      budget: requestBudget(this.limits),
    };
    this.#budgets.set(role.name, fresh);
    return fresh;
  }

  /**
   * SIGHUP: a rolling reload (see the module). It begins once no role is starting or about to
   * restart: a role that is not running cannot be drained, and must not be left out.
   */
  startReload(): void {
    if (this.#reload !== null || this.#reloadAsked) {
      log.warning("reload asked for while one is under way: ignored");
      return;
    }
    this.#reloadAsked = true;
    this.#beginReloadWhenSettled();
  }

  #beginReloadWhenSettled(): void {
    if (!this.#reloadAsked || !this.host.booted) return;
    const settling = (r: Supervised) => r.state === "starting" || r.state === "backoff";
    if (this.host.roles.some((r) => settling(r) || r.retiring !== null)) return;
    this.#reloadAsked = false;
    const workers = this.host.roles.filter((r) => r.kind === "worker" && r.state === "running");
    const dispatcher = this.host.roles.filter((r) => r.kind === "dispatcher");
    this.#reload = { queue: [...workers, ...dispatcher], current: null, since: now() };
    log.warning("reload: {n} roles, one at a time, the dispatcher last", {
      n: this.#reload.queue.length,
    });
    traceEvent({
      event: "reload",
      channel: "process",
      detail: `${this.#reload.queue.map((r) => r.name).join(", ")}`,
    });
    // The standby waiting now loaded the code as it was: a new one loads it as it is.
    if (this.host.standby === null) this.#reloadNext();
    else {
      this.host.standby.renew().catch((e) =>
        log.error("the old standby could not be reaped: {e}", { e: String(e) })
      );
    }
  }

  /** The standby has loaded: the reload's next role may go. */
  standbyLoaded(): void {
    if (this.#reload?.current === null) this.#reloadNext();
  }

  /** The standby exited before it was loaded: during a reload, the new code does not load. */
  standbyFailed(how: string): void {
    if (this.#reload === null || this.#reload.current !== null) return;
    this.#stopReload(`the new code does not load: the standby ${how}`);
  }

  /** A role is ready: if it was the reload's, the next one goes once the standby has loaded. */
  ready(role: Supervised): void {
    const reload = this.#reload;
    if (reload?.current !== role) return;
    reload.current = null;
    if (this.host.standby === null || this.host.standby.loaded) this.#reloadNext();
  }

  /** A role being reloaded ended other than by its drain (a crash, or it never started). */
  failed(role: Supervised, how: string): void {
    if (this.#reload?.current !== role || role.retiring !== null) return;
    this.#stopReload(`${role.name} ${how} with the new code`);
  }

  #reloadNext(): void {
    const reload = this.#reload;
    if (reload === null) return;
    while (reload.queue.length > 0) {
      const role = reload.queue.shift()!;
      if (this.retire(role, "reload", "reload", now())) {
        reload.current = role;
        return;
      }
    }
    const ms = Math.round(now() - reload.since);
    this.#reload = null;
    log.warning("reload done in {ms} ms", { ms });
    traceEvent({ event: "reloaded", channel: "process", detail: `in ${ms} ms` });
  }

  #stopReload(why: string): void {
    const left = this.#reload?.queue.map((r) => r.name).join(", ") || "none";
    this.#reload = null;
    log.error("reload stopped: {why}; the roles not reloaded yet ({left}) go on serving", {
      why,
      left,
    });
    traceEvent({ event: "reload stopped", channel: "process", detail: why });
  }

  /** Scales to `target` workers (1 to --max-workers): adds them, or retires the last ones. */
  scale(target: number): void {
    const max = this.host.options.maxWorkers;
    const wanted = Math.max(1, Math.min(max, target));
    if (wanted !== target) {
      log.warning("scale to {target}: the instance runs 1 to {max} workers; {wanted} it is", {
        target,
        max,
        wanted,
      });
    }
    traceEvent({ event: "scale", channel: "process", detail: `${this.workers} → ${wanted}` });
    while (this.workers < wanted) {
      if (this.host.addWorker() === null) break;
    }
    const workers = this.host.roles.filter((r) =>
      r.kind === "worker" && r.retiring?.reason !== "remove"
    );
    for (const role of workers.slice(wanted).reverse()) {
      if (role.state === "running" && role.retiring === null) {
        this.retire(role, "remove", "scaled down", now());
        continue;
      }
      // Not serving yet, or any more: it goes at once, whatever it was to become.
      role.retiring = { reason: "remove", why: "scaled down", since: now(), forced: true };
      if (role.state === "starting" || role.state === "running") {
        signalRole(role, "SIGTERM");
      } else {
        clearTimeout(role.restartTimer);
        this.exited(role, role.state === "failed" ? "it was failed" : "it was to restart");
      }
    }
    this.#publishWorkers();
  }

  /** The watchdog's slot says how many workers it runs. */
  #publishWorkers(): void {
    this.host.segment.slot(WATCHDOG_SLOT).set("workers", this.workers);
  }
}
