/**
 * The watchdog's supervision loop, in the manner of Gunicorn's arbiter: one loop handles every
 * event in order — a child's exit (seen at once: Deno resolves its status on SIGCHLD), a role's
 * ready line, a 50 ms tick, a stop signal, a restart timer — and each step is named for what it
 * does: spawn, reap, judge liveness, escalate, restart. What an exit leads to is the restart
 * policy's decision, carried out in `restarts.ts`; what a tick decides of each role, `judge.ts`
 * (on the one liveness judgement, `liveness.ts`); what it puts right, `repair.ts`; a role's
 * command line, `role_command.ts`. A restart hands the role to the standby process when one is
 * waiting (`standby.ts`), and spawns it otherwise.
 *
 * @module
 */

import {
  AsyncQueue,
  DISPATCHER_SLOT,
  type ListenSocket,
  monotonicMs,
  registryRoles,
  ROLE_STATE,
  type RuntimeDir,
  type SharedSegment,
  type SignalQueue,
  waitExit,
  WATCHDOG_SLOT,
  workerSlot,
} from "../../ipc/mod.ts";
import { BeatRecord } from "../liveness.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import {
  readReadyLine,
  type ReadyOutcome,
  roleCommand,
  SYSTEM_ROLE_PERMISSIONS,
} from "../spawn.ts";
import { registryStatus } from "./status.ts";
import type { InstancePaths } from "./instance.ts";
import type { ResolvedOptions } from "./options.ts";
import { Operations, type OperationsHost } from "./operations.ts";
import { Standby } from "./standby.ts";
import {
  beginKill,
  isStopped,
  signalNamed,
  signalRole,
  type Supervised,
  supervised,
} from "./supervised.ts";
import { judgeRole } from "./judge.ts";
import { repairBeforeStart, repairHeader, repairRegistry } from "./repair.ts";
import { roleProgramArgs } from "./role_command.ts";
import { RESET_FAILED_SIGNAL, type WatchdogEvent, type WatchdogReady } from "./events.ts";
import { Restarts } from "./restarts.ts";

export { signalRole, type Supervised } from "./supervised.ts";

const DISPATCHER = new URL("../dispatcher/main.ts", import.meta.url);
const WORKER = new URL("../worker/main.ts", import.meta.url);

/** How often the loop ticks (liveness, escalation, the registry's repair), ms. */
const TICK_MS = 50;

/** How long a role may take to be ready (a loaded standby: the heartbeat timeout), ms. */
const START_TIMEOUT_MS = 10_000;

const log = roleLogger("watchdog");

/** The supervisor of one instance's roles. */
export class Supervisor implements OperationsHost {
  /** The instance's options, defaults filled in. */
  readonly options: ResolvedOptions;
  /** The instance's paths. */
  readonly paths: InstancePaths;
  /** The instance's directory (its pipes). */
  readonly dir: RuntimeDir;
  /** The instance's segment (the registry). */
  readonly segment: SharedSegment;
  /** The dispatcher's listening socket, which every dispatcher inherits. */
  readonly listener: ListenSocket;
  /** The dispatcher, then the workers (in slot order; scaling adds and removes workers). */
  readonly roles: Supervised[];
  /** Reloads, recycling and scaling (`operations.ts`). */
  readonly operations: Operations;
  /** The loop's events. */
  readonly events: AsyncQueue<WatchdogEvent> = new AsyncQueue<WatchdogEvent>();
  /** Every pid spawned, restarts and standbys included. */
  readonly spawned: number[] = [];
  /** The process that takes the next restarted role's place (null with `standby: false`). */
  readonly standby: Standby | null;
  /** The stop signal that ended the loop, and when it came (monotonic ms); null otherwise. */
  stopSignal: { signal: Deno.Signal; at: number } | null = null;
  /** What follows a role's end. */
  readonly restarts: Restarts;
  #fatal: string | null = null;
  /** Whether the instance is still starting: not every role has been ready yet. */
  #booting = true;
  #closed = false;

  /** The supervisor of the instance at `paths` (its directory `dir`), whose segment is `segment`. */
  constructor(
    options: ResolvedOptions,
    paths: InstancePaths,
    dir: RuntimeDir,
    segment: SharedSegment,
    listener: ListenSocket,
  ) {
    this.options = options;
    this.paths = paths;
    this.dir = dir;
    this.segment = segment;
    this.listener = listener;
    const own = () => this.segment.slot(WATCHDOG_SLOT);
    this.standby = options.standby
      ? new Standby(paths.segment, listener, {
        spawned: (pid) => {
          this.spawned.push(pid);
          own().set("standby", this.standby?.pid ?? pid);
          traceEvent({ event: "standby", channel: "process", detail: `pid ${pid}` });
        },
        loaded: (pid) => this.events.push({ kind: "standby", pid, how: null }),
        exited: (pid, how) => {
          own().set("standby", this.standby?.pid ?? 0);
          this.events.push({ kind: "standby", pid, how });
        },
        // A crash that restarts every role (one-for-all; rest-for-one, the dispatcher's) finds a
        // standby for each.
      }, () => options.strategy === "one-for-one" ? 1 : this.roles.length)
      : null;
    // The registry's roles but its own (the watchdog's slot comes first).
    this.roles = registryRoles(options.workers).slice(1).map((role) =>
      supervised(role, this.#limits)
    );
    this.operations = new Operations(this);
    this.restarts = new Restarts({
      options,
      segment,
      roles: this.roles,
      events: this.events,
      operations: () => this.operations,
      booting: () => this.#booting,
      fail: (why) => this.#fatal = why,
      failed: () => this.#fatal !== null,
    });
    this.segment.slot(WATCHDOG_SLOT).set("workers", options.workers);
  }

  get #limits() {
    return { maxRestarts: this.options.maxRestarts, windowMs: this.options.restartWindowMs };
  }

  /** Whether every role has been ready once. */
  get booted(): boolean {
    return !this.#booting;
  }

  /** The loop: one event at a time, until a stop signal or a fatal problem; returns why it ended. */
  async run(signals: SignalQueue, onReady: (ready: WatchdogReady) => void): Promise<string> {
    (async () => {
      for await (const signal of signals) this.events.push({ kind: "signal", signal });
    })().catch((error) => this.events.push({ kind: "fatal", why: `signals: ${error}` }));
    const ticker = setInterval(() => this.events.push({ kind: "tick" }), TICK_MS);
    try {
      for (const role of this.roles) this.#spawn(role);
      while (true) {
        // Never closed: there is always a next event.
        const event = (await this.events.next())!;
        if (event.kind === "signal") {
          if (event.signal === "SIGINT" || event.signal === "SIGTERM") {
            this.stopSignal = { signal: event.signal, at: monotonicMs() };
            return event.signal;
          }
          if (event.signal === RESET_FAILED_SIGNAL) this.restarts.resetFailed();
          else this.operations.signal(event.signal);
        } else if (event.kind === "fatal") {
          return `unexpected error: ${event.why}`;
        } else if (event.kind === "tick") {
          this.#tick();
        } else if (event.kind === "restart") {
          if (event.role.state === "backoff") this.#spawn(event.role);
        } else if (event.kind === "retry") {
          if (event.role.state === "failed") this.restarts.retry(event.role, "its pause is over");
        } else if (event.kind === "standby") {
          this.#standbyEvent(event.pid, event.how);
        } else if (event.role.generation === event.generation) {
          if (event.kind === "ready") this.#ready(event.role, event.outcome);
          else this.restarts.reap(event.role, event.status);
        }
        if (this.#fatal !== null) return this.#fatal;
        if (this.#booting && this.roles.every((r) => r.state === "running")) {
          this.#booting = false;
          this.standby?.ensure();
          onReady({
            paths: this.paths,
            port: this.segment.slot(DISPATCHER_SLOT).get("port"),
            pids: Object.fromEntries(this.roles.map((r) => [r.name, r.child!.pid])),
            ports: Object.fromEntries(this.roles.map((r) => [r.name, r.port])),
            standby: this.standby?.pid ?? null,
            watchdog: {
              status: () =>
                this.#closed ? null : {
                  instance: this.paths.name,
                  segment: this.paths.segment,
                  running: true,
                  ...registryStatus(this.segment),
                },
              signal: (name, signal) =>
                this.#closed
                  ? { refused: "the instance is stopping" }
                  : signalNamed(this.roles, this.standby?.child ?? null, name, signal),
            },
          });
        }
      }
    } finally {
      clearInterval(ticker);
    }
  }

  /** The instance is being closed: its segment is unmapped next; the handle answers no more. */
  close(): void {
    this.#closed = true;
  }

  /**
   * Spawn: starts (or restarts) a role's process in its slot; a restart hands the role to the
   * waiting standby if there is one, and then has a new standby started for the next. What the
   * role will open is put right first (the segment's header, a worker's pipes). A process that
   * cannot be started (no fork: EAGAIN in a full pids cgroup) is decided on like an exit.
   */
  #spawn(role: Supervised): void {
    repairBeforeStart(this.segment, this.dir, this.paths.segment, role);
    const args = roleProgramArgs(this.options, this.paths, this.listener.fd, role);
    const restart = role.generation > 0;
    // Any start once the instance is up (a restart, a worker added) is the standby's to take.
    const standby = restart || !this.#booting
      ? this.standby?.take({ program: role.kind, args }) ?? null
      : null;
    if (standby !== null) this.segment.slot(WATCHDOG_SLOT).set("standby", this.standby?.pid ?? 0);
    let child: Deno.ChildProcess;
    try {
      const spawn = () =>
        roleCommand(
          role.kind === "dispatcher" ? DISPATCHER : WORKER,
          args,
          { stdin: "null", stdout: "piped", stderr: "inherit" },
          SYSTEM_ROLE_PERMISSIONS,
        ).spawn();
      // The dispatcher inherits the listening socket; a worker does not.
      child = standby?.child ??
        (role.kind === "dispatcher" ? this.listener.inheritedBy(spawn) : spawn());
    } catch (e) {
      this.restarts.startFailed(role, e);
      return;
    }
    if (standby === null) this.spawned.push(child.pid);
    role.child = child;
    role.generation++;
    role.state = "starting";
    role.startedAt = monotonicMs();
    // A loaded standby is the role within milliseconds: one that is not ready by the heartbeat
    // timeout is hung, and the role must not stay down for the whole start timeout.
    const readyWithinMs = standby?.loaded ? this.options.heartbeatTimeoutMs : START_TIMEOUT_MS;
    role.readyBy = role.startedAt + readyWithinMs;
    role.beats = new BeatRecord(role.startedAt);
    role.killing = null;
    role.stoppedSince = null;
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
    const generation = role.generation;
    // Every chain ends in the loop: a failure becomes a fatal event, never an unhandled rejection.
    waitExit(child).then(
      (status) => this.events.push({ kind: "exit", role, generation, status }),
      (error) => this.events.push({ kind: "fatal", why: `${role.name}'s exit status: ${error}` }),
    );
    readReadyLine(child, readyWithinMs, standby?.lines).then(
      (outcome) => this.events.push({ kind: "ready", role, generation, outcome }),
      (error) => this.events.push({ kind: "fatal", why: `${role.name}'s ready line: ${error}` }),
    );
  }

  /** The waiting standby has loaded (`how` null), or it exited before it was handed a role. */
  #standbyEvent(pid: number | null, how: string | null): void {
    if (how === null) {
      traceEvent({ event: "standby loaded", channel: "process", detail: `pid ${pid}` });
      this.operations.standbyLoaded();
      return;
    }
    this.operations.standbyFailed(how);
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
      const ms = Math.round(role.readyBy - role.startedAt);
      this.operations.failed(role, `was not ready within ${ms} ms`);
      beginKill(role, "start timeout", `not ready within ${ms} ms`);
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
    this.operations.ready(role);
  }

  /**
   * Every tick: beat, repair the registry and the segment's header, judge every role's liveness
   * (a starting one too: stopped by a signal, it would never be ready), escalate kills.
   */
  #tick(): void {
    const now = monotonicMs();
    const own = this.segment.slot(WATCHDOG_SLOT);
    own.set("heartbeat", now);
    own.set("pid", Deno.pid);
    own.set("standby", this.standby?.pid ?? 0);
    repairHeader(this.segment, this.paths.segment);
    repairRegistry(this.segment, this.roles);
    for (const role of this.roles) this.#judge(role, now);
    this.operations.tick(now);
    // The standbys taken are replaced once no role is starting: loading a new one (~45 ms of
    // CPU each) would slow down the roles that start, on a machine of two cores.
    if (
      !this.#booting && !this.roles.some((r) => r.state === "starting" || r.state === "backoff")
    ) {
      this.standby?.ensure();
    }
  }

  /** What the tick decides for `role` (`judge.ts`), carried out: a kill begun, or escalated. */
  #judge(role: Supervised, now: number): void {
    const seen = {
      heartbeat: () => this.segment.slot(role.slot).get("heartbeat"),
      stopped: () => role.child !== null && isStopped(role.child.pid),
    };
    const judgement = judgeRole(role, seen, now, this.options.heartbeatTimeoutMs);
    if (judgement.act === "kill") beginKill(role, "frozen", judgement.why);
    else if (judgement.act === "escalate") {
      traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: "SIGKILL" });
      signalRole(role, "SIGKILL");
    }
  }

  /** A role retired on purpose (recycled, reloaded) starts again in its slot at once: not a crash. */
  replace(role: Supervised): void {
    role.state = "backoff";
    this.segment.slot(role.slot).set("state", ROLE_STATE.starting);
    this.events.push({ kind: "restart", role });
  }

  /** Scaling up: a worker in the first free slot, its pipes made, started (the standby if it waits). */
  addWorker(): Supervised | null {
    const taken = new Set(this.roles.map((r) => r.k));
    let k = 1;
    while (taken.has(k)) k++;
    if (k > this.options.maxWorkers) return null;
    const role = supervised(registryRoles(k).at(-1)!, this.#limits);
    // Its generations go on from the slot's last: the dispatcher knows a dead one by its number.
    role.generation = this.segment.slot(role.slot).get("generation");
    const at = this.roles.findIndex((r) => r.kind === "worker" && r.k > k);
    this.roles.splice(at < 0 ? this.roles.length : at, 0, role);
    for (const name of [`dwtube${k}`, `wdtube${k}`]) this.dir.ensureFifo(name);
    log.info("{role} added", { role: role.name });
    this.#spawn(role);
    return role;
  }

  /**
   * Scaling down: a worker that has left is forgotten; its slot says empty. Its pipes stay until
   * the slot is used again or the instance stops: the dispatcher, which lets go of them when it
   * sees the slot empty, may still be waiting on them for the worker's next process.
   */
  removeWorker(role: Supervised): void {
    clearTimeout(role.restartTimer);
    this.roles.splice(this.roles.indexOf(role), 1);
    const slot = this.segment.slot(workerSlot(role.k));
    slot.set("state", ROLE_STATE.empty);
    slot.set("pid", 0);
    slot.set("port", 0);
    role.state = "stopped";
  }
}
