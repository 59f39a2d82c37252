/**
 * The watchdog's supervision loop, in the manner of Gunicorn's arbiter: one loop handles every
 * event in order — a child's exit (seen at once: Deno resolves its status on SIGCHLD), a role's
 * ready line, a 50 ms tick, a stop signal, a restart timer — and each step is named for what it
 * does: spawn, reap, judge liveness, escalate, restart. What an exit leads to is the restart
 * policy's decision (`policy.ts`); whether a role is alive, the one liveness judgement
 * (`liveness.ts`). A restart hands the role to the standby process when one is waiting
 * (`standby.ts`), and spawns it otherwise.
 *
 * @module
 */

import {
  describeExit,
  DISPATCHER_SLOT,
  exitStatusField,
  monotonicMs,
  type ProcessExit,
  registryRoles,
  ROLE_STATE,
  type SharedSegment,
  type SignalQueue,
  waitExit,
  WATCHDOG_SLOT,
} from "../../ipc/mod.ts";
import { dispatcherArgs } from "../dispatcher/options.ts";
import { BeatRecord } from "../liveness.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { roleArgs } from "../role_args.ts";
import {
  EventQueue,
  readReadyLine,
  type ReadyOutcome,
  roleCommand,
  SYSTEM_ROLE_PERMISSIONS,
} from "../spawn.ts";
import type { InstancePaths } from "./instance.ts";
import type { WatchdogOptions } from "./options.ts";
import { RestartPolicy } from "./policy.ts";
import { count } from "../words.ts";
import { Standby } from "./standby.ts";

const DISPATCHER = new URL("../dispatcher/main.ts", import.meta.url);
const WORKER = new URL("../worker/main.ts", import.meta.url);

/** How often the loop ticks (liveness, escalation, the registry's repair), ms. */
const TICK_MS = 50;

const log = roleLogger("watchdog");

/** A supervised role. */
export interface Supervised {
  /** `dispatcher` or `worker k`. */
  name: string;
  /** Its slot in the registry. */
  slot: number;
  /** Which program it runs. */
  kind: "dispatcher" | "worker";
  /** The worker's number (0 for the dispatcher). */
  k: number;
  /** Its current process. */
  child: Deno.ChildProcess | null;
  /** Processes started in its slot so far. */
  generation: number;
  /** Where it stands. */
  state: "starting" | "running" | "backoff" | "failed" | "stopped";
  /** Its restart history and the decisions it leads to. */
  policy: RestartPolicy;
  /** The heartbeats of its current process. */
  beats: BeatRecord;
  /** When its current process started, on the monotonic clock (the slot shows wall time). */
  startedAt: number;
  /** Its port once known (a restart takes it again). */
  port: number;
  /** Since when a frozen role is being killed, and whether SIGKILL was sent. */
  killing: { since: number; hard: boolean } | null;
  /** The timer of a restart after a backoff. */
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** Its last process's exit status. */
  lastStatus: ProcessExit | null;
  /** Restarts so far; the slot shows it, and is rewritten from here at every tick. */
  restartCount: number;
}

/** What the loop handles. */
export type WatchdogEvent =
  | { kind: "exit"; role: Supervised; generation: number; status: ProcessExit }
  | { kind: "ready"; role: Supervised; generation: number; outcome: ReadyOutcome }
  | { kind: "tick" }
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "fatal"; why: string }
  | { kind: "restart"; role: Supervised }
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
}

/** The supervisor of one instance's roles. */
export class Supervisor {
  /** The instance's options, defaults filled in. */
  readonly options: Required<WatchdogOptions>;
  /** The instance's paths. */
  readonly paths: InstancePaths;
  /** The instance's segment (the registry). */
  readonly segment: SharedSegment;
  /** The dispatcher, then the workers. */
  readonly roles: Supervised[];
  /** The loop's events. */
  readonly events: EventQueue<WatchdogEvent> = new EventQueue<WatchdogEvent>();
  /** Every pid spawned, restarts and standbys included. */
  readonly spawned: number[] = [];
  /** The process that takes the next restarted role's place (null with `standby: false`). */
  readonly standby: Standby | null;
  #fatal: string | null = null;
  /** The stop signal that ended the loop, and when it came (monotonic ms); null otherwise. */
  stopSignal: { signal: Deno.Signal; at: number } | null = null;

  /** The supervisor of the instance at `paths`, whose segment is `segment`. */
  constructor(options: Required<WatchdogOptions>, paths: InstancePaths, segment: SharedSegment) {
    this.options = options;
    this.paths = paths;
    this.segment = segment;
    this.standby = options.standby
      ? new Standby(paths.segment, {
        spawned: (pid) => {
          this.spawned.push(pid);
          this.segment.slot(WATCHDOG_SLOT).set("standby", pid);
          traceEvent({ event: "standby", channel: "process", detail: `pid ${pid}` });
        },
        loaded: (pid) => this.events.push({ kind: "standby", pid, how: null }),
        exited: (pid, how) => {
          this.segment.slot(WATCHDOG_SLOT).set("standby", 0);
          this.events.push({ kind: "standby", pid, how });
        },
      })
      : null;
    const limits = { maxRestarts: options.maxRestarts, windowMs: options.restartWindowMs };
    // The registry's roles but its own (the watchdog's slot comes first).
    this.roles = registryRoles(options.workers).slice(1).map(({ name, slot, kind, k }) => ({
      name,
      slot,
      kind: kind as Supervised["kind"],
      k,
      child: null,
      generation: 0,
      state: "starting",
      policy: new RestartPolicy(limits),
      beats: new BeatRecord(0),
      startedAt: 0,
      port: 0,
      killing: null,
      restartTimer: undefined,
      lastStatus: null,
      restartCount: 0,
    }));
  }

  /** The loop: one event at a time, until a stop signal or a fatal problem; returns why it ended. */
  async run(signals: SignalQueue, onReady: (ready: WatchdogReady) => void): Promise<string> {
    (async () => {
      for await (const signal of signals) this.events.push({ kind: "signal", signal });
    })().catch((error) => this.events.push({ kind: "fatal", why: `signals: ${error}` }));
    const ticker = setInterval(() => this.events.push({ kind: "tick" }), TICK_MS);
    try {
      for (const role of this.roles) this.#spawn(role);
      let booting = true;
      while (true) {
        const event = await this.events.next();
        if (event.kind === "signal") {
          if (event.signal === "SIGINT" || event.signal === "SIGTERM") {
            this.stopSignal = { signal: event.signal, at: monotonicMs() };
            return event.signal;
          }
        } else if (event.kind === "fatal") {
          return `unexpected error: ${event.why}`;
        } else if (event.kind === "tick") {
          this.#tick();
        } else if (event.kind === "restart") {
          if (event.role.state === "backoff") this.#spawn(event.role);
        } else if (event.kind === "standby") {
          this.#standbyEvent(event.pid, event.how);
        } else if (event.role.generation === event.generation) {
          if (event.kind === "ready") this.#ready(event.role, event.outcome);
          else this.#reap(event.role, event.status, booting);
        }
        if (this.#fatal !== null) return this.#fatal;
        if (booting && this.roles.every((r) => r.state === "running")) {
          booting = false;
          this.standby?.ensure();
          onReady({
            paths: this.paths,
            port: this.segment.slot(DISPATCHER_SLOT).get("port"),
            pids: Object.fromEntries(this.roles.map((r) => [r.name, r.child!.pid])),
            ports: Object.fromEntries(this.roles.map((r) => [r.name, r.port])),
            standby: this.standby?.pid ?? null,
          });
        }
      }
    } finally {
      clearInterval(ticker);
    }
  }

  /** The command line of a role's next process. */
  #args(role: Supervised): string[] {
    const o = this.options;
    const context = roleArgs({
      stage: o.stage,
      segment: this.paths.segment,
      runtimeDir: this.paths.dir,
      host: o.host,
      // A restarted dispatcher takes the port of the one it replaces (it matters with port 0).
      port: role.kind === "dispatcher" && role.port ? role.port : o.port,
      claimTimeoutMs: o.claimTimeoutMs,
      parentPid: Deno.pid,
      logLevel: o.logLevel,
      trace: o.trace,
      traceMaxBytes: o.traceMaxBytes,
    });
    if (role.kind === "dispatcher") return [...context, ...dispatcherArgs(o)];
    return [
      ...context,
      "--worker",
      String(role.k),
      ...(role.port ? ["--worker-port", String(role.port)] : []),
    ];
  }

  /**
   * Spawn: starts (or restarts) a role's process in its slot; a restart hands the role to the
   * waiting standby if there is one, and then has a new standby started for the next.
   */
  #spawn(role: Supervised): void {
    const args = this.#args(role);
    const restart = role.generation > 0;
    const standby = restart ? this.standby?.take({ program: role.kind, args }) ?? null : null;
    if (standby !== null) this.segment.slot(WATCHDOG_SLOT).set("standby", 0);
    const child = standby?.child ?? roleCommand(
      role.kind === "dispatcher" ? DISPATCHER : WORKER,
      args,
      { stdin: "null", stdout: "piped", stderr: "inherit" },
      SYSTEM_ROLE_PERMISSIONS,
    ).spawn();
    if (standby === null) this.spawned.push(child.pid);
    role.child = child;
    role.generation++;
    role.state = "starting";
    role.startedAt = monotonicMs();
    role.beats = new BeatRecord(role.startedAt);
    role.killing = null;
    const slot = this.segment.slot(role.slot);
    slot.set("pid", child.pid);
    slot.set("generation", role.generation);
    slot.set("startedAt", Date.now());
    slot.set("heartbeat", role.startedAt);
    slot.set("state", ROLE_STATE.starting);
    traceEvent({
      event: restart ? "restart" : "spawn",
      channel: "process",
      peer: role.name,
      detail: `pid ${child.pid}${standby === null ? "" : " (the standby)"}`,
    });
    // The standby is gone or was never there: one waits for the next restart.
    if (restart) this.standby?.ensure();
    const generation = role.generation;
    // Every chain ends in the loop: a failure becomes a fatal event, never an unhandled rejection.
    waitExit(child).then(
      (status) => this.events.push({ kind: "exit", role, generation, status }),
      (error) => this.events.push({ kind: "fatal", why: `${role.name}'s exit status: ${error}` }),
    );
    readReadyLine(child, this.options.startTimeoutMs, standby?.lines).then(
      (outcome) => this.events.push({ kind: "ready", role, generation, outcome }),
      (error) => this.events.push({ kind: "fatal", why: `${role.name}'s ready line: ${error}` }),
    );
  }

  /** The waiting standby has loaded (`how` null), or it exited before it was handed a role. */
  #standbyEvent(pid: number | null, how: string | null): void {
    if (how === null) {
      traceEvent({ event: "standby loaded", channel: "process", detail: `pid ${pid}` });
      return;
    }
    const which = pid === null ? "the standby" : `the standby (pid ${pid})`;
    log.warning("{which} {how}; the next restart starts a new one", { which, how });
    traceEvent({
      event: "standby exit",
      channel: "process",
      detail: pid === null ? how : `pid ${pid} ${how}`,
    });
  }

  /** A role's ready line came (its port), never came in time (kill it), or its stdout closed. */
  #ready(role: Supervised, outcome: ReadyOutcome): void {
    // Its stdout closed without a ready line: it is exiting, and its exit event will say how.
    if (outcome === "closed") return;
    if (outcome === "late") {
      this.#kill(role, `not ready within ${this.options.startTimeoutMs} ms`);
      return;
    }
    role.state = "running";
    role.port = outcome.port;
    traceEvent({
      event: "ready",
      channel: "process",
      peer: role.name,
      detail: `pid ${role.child!.pid}`,
    });
  }

  /** Reap: a role's process exited (Deno reaped it); the policy says what follows. */
  #reap(role: Supervised, status: ProcessExit, booting: boolean): void {
    role.lastStatus = status;
    role.killing = null;
    const slot = this.segment.slot(role.slot);
    slot.set("exitStatus", exitStatusField(status));
    const how = describeExit(status);
    traceEvent({
      event: "exit",
      channel: "signal",
      peer: role.name,
      detail: `pid ${role.child!.pid} ${how}`,
    });
    const decision = role.policy.afterExit(
      { code: status.signalNumber === null ? status.code : null, booting },
      monotonicMs(),
    );
    if (decision.kind === "stop-instance") {
      this.#fatal = `${role.name} ${how} ${decision.why}`;
    } else if (decision.kind === "failed") {
      role.state = "failed";
      slot.set("state", ROLE_STATE.failed);
      log.error("{role} failed: {n} restarts within {window} ms; the system goes on without it", {
        role: role.name,
        n: decision.restarts,
        window: this.options.restartWindowMs,
      });
      traceEvent({
        event: "failed",
        channel: "process",
        peer: role.name,
        detail: count(decision.restarts, "restart"),
      });
    } else {
      log.warning("{role} {how}; restarting", { role: role.name, how });
      this.#restart(role, decision.delayMs);
    }
  }

  /** Restart: the role's next process starts after `delayMs` (at once for 0). */
  #restart(role: Supervised, delayMs: number): void {
    role.restartCount++;
    const slot = this.segment.slot(role.slot);
    slot.set("restarts", role.restartCount);
    role.state = "backoff";
    slot.set("state", ROLE_STATE.starting);
    // At once means the loop's next event, not a timer (Deno's shortest timer takes ~2 ms).
    if (delayMs === 0) this.events.push({ kind: "restart", role });
    else role.restartTimer = setTimeout(() => this.events.push({ kind: "restart", role }), delayMs);
  }

  /** Begins killing a role: SIGTERM now, SIGKILL after the kill grace (see {@link #escalate}). */
  #kill(role: Supervised, why: string): void {
    if (role.killing !== null || role.child === null) return;
    log.warning("{role} {why}: killing pid {pid}", { role: role.name, why, pid: role.child.pid });
    traceEvent({ event: "frozen", channel: "signal", peer: role.name, detail: `${why}; SIGTERM` });
    role.killing = { since: monotonicMs(), hard: false };
    signalRole(role, "SIGTERM");
  }

  /** Every tick: beat, repair the registry, judge every role's liveness, escalate kills. */
  #tick(): void {
    const now = monotonicMs();
    const own = this.segment.slot(WATCHDOG_SLOT);
    own.set("heartbeat", now);
    own.set("pid", Deno.pid);
    own.set("standby", this.standby?.pid ?? 0);
    this.#repairRegistry();
    for (const role of this.roles) {
      this.#judgeLiveness(role, now);
      this.#escalate(role, now);
    }
  }

  /**
   * The fields the watchdog owns, written again from its own records: garbage that another process
   * writes into the registry lasts at most one tick.
   */
  #repairRegistry(): void {
    for (const role of this.roles) {
      const slot = this.segment.slot(role.slot);
      if (role.child) slot.set("pid", role.child.pid);
      slot.set("generation", role.generation);
      slot.set("restarts", role.restartCount);
      if (role.state === "failed") slot.set("state", ROLE_STATE.failed);
    }
  }

  /** Judge liveness: a running role whose heartbeat is too old is frozen and gets killed. */
  #judgeLiveness(role: Supervised, now: number): void {
    if (role.state !== "running" || role.killing !== null) return;
    role.beats.heard(this.segment.slot(role.slot).get("heartbeat"), now);
    const verdict = role.beats.judge(now, this.options.heartbeatTimeoutMs);
    if (!verdict.alive) this.#kill(role, `heartbeat ${verdict.ageMs?.toFixed(0)} ms old`);
    role.policy.running(role.startedAt, now);
  }

  /** Escalate: a role still alive a kill grace after SIGTERM gets SIGKILL. */
  #escalate(role: Supervised, now: number): void {
    if (!role.killing || role.killing.hard) return;
    if (now - role.killing.since <= this.options.killGraceMs) return;
    role.killing.hard = true;
    traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: "SIGKILL" });
    signalRole(role, "SIGKILL");
  }
}

/** Sends `signal` to a role's current process; one that exited meanwhile is left to its exit event. */
export function signalRole(role: Supervised, signal: Deno.Signal): void {
  try {
    role.child?.kill(signal);
  } catch {
    // Exited meanwhile: its exit event is on its way.
  }
}
