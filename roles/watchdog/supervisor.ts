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
  AsyncQueue,
  describeExit,
  DISPATCHER_SLOT,
  exitStatusField,
  isRunning,
  type ListenSocket,
  monotonicMs,
  type ProcessExit,
  registryRoles,
  ROLE_STATE,
  type RuntimeDir,
  type SharedSegment,
  type SignalQueue,
  waitExit,
  WATCHDOG_SLOT,
  workerSlot,
} from "../../ipc/mod.ts";
import { dispatcherArgs } from "../dispatcher/options.ts";
import { BeatRecord } from "../liveness.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { roleArgs } from "../role_args.ts";
import {
  readReadyLine,
  type ReadyOutcome,
  roleCommand,
  signalChild,
  SYSTEM_ROLE_PERMISSIONS,
} from "../spawn.ts";
import { type InstanceStatus, registryStatus } from "./status.ts";
import type { InstancePaths } from "./instance.ts";
import type { ResolvedOptions } from "./options.ts";
import { count } from "../words.ts";
import { explainExit } from "./exit_cause.ts";
import { Operations, type OperationsHost } from "./operations.ts";
import { strategyGroup } from "./policy.ts";
import { Standby } from "./standby.ts";
import { isStopped, signalRole, type Supervised, supervised } from "./supervised.ts";

export { signalRole, type Supervised } from "./supervised.ts";

const DISPATCHER = new URL("../dispatcher/main.ts", import.meta.url);
const WORKER = new URL("../worker/main.ts", import.meta.url);

/** How often the loop ticks (liveness, escalation, the registry's repair), ms. */
const TICK_MS = 50;

/** How long a role may take to be ready (a loaded standby: the heartbeat timeout), ms. */
const START_TIMEOUT_MS = 10_000;

/** Between SIGTERM and SIGKILL for a frozen role, ms. */
const KILL_GRACE_MS = 300;

const log = roleLogger("watchdog");

/** What the loop handles. */
export type WatchdogEvent =
  | { kind: "exit"; role: Supervised; generation: number; status: ProcessExit }
  | { kind: "ready"; role: Supervised; generation: number; outcome: ReadyOutcome }
  | { kind: "tick" }
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "fatal"; why: string }
  | { kind: "restart"; role: Supervised }
  | { kind: "retry"; role: Supervised }
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
  /** What a page or a tool in the watchdog's own process may ask of it. */
  watchdog: WatchdogHandle;
}

/**
 * The watchdog, as what runs in its own process (the observer) sees it: the status from its own
 * mapping of the registry, and signals through its own child handles — never a pid read from the
 * registry, which any process of the user can write (Gunicorn's control server refuses any pid not
 * in its own worker table).
 */
export interface WatchdogHandle {
  /** The instance's status now; null once the instance is being closed (its segment goes). */
  status(): InstanceStatus | null;
  /**
   * Sends `signal` to the current process of role `name` (or of the standby that would take the
   * next role); its pid, or why nothing was sent (no such role, none running).
   */
  signal(name: string, signal: Deno.Signal): { pid: number } | { refused: string };
}

/** The signal that tries every failed slot again at once (`deno task reset-failed`). */
export const RESET_FAILED_SIGNAL: Deno.Signal = "SIGUSR2";

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
          if (event.signal === RESET_FAILED_SIGNAL) this.#resetFailed();
          else this.operations.signal(event.signal);
        } else if (event.kind === "fatal") {
          return `unexpected error: ${event.why}`;
        } else if (event.kind === "tick") {
          this.#tick();
        } else if (event.kind === "restart") {
          if (event.role.state === "backoff") this.#spawn(event.role);
        } else if (event.kind === "retry") {
          if (event.role.state === "failed") this.#retry(event.role, "its pause is over");
        } else if (event.kind === "standby") {
          this.#standbyEvent(event.pid, event.how);
        } else if (event.role.generation === event.generation) {
          if (event.kind === "ready") this.#ready(event.role, event.outcome);
          else this.#reap(event.role, event.status);
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
              signal: (name, signal) => this.#signalByName(name, signal),
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

  /** See {@link WatchdogHandle.signal}. */
  #signalByName(name: string, signal: Deno.Signal): { pid: number } | { refused: string } {
    if (this.#closed) return { refused: "the instance is stopping" };
    const child = name === "standby"
      ? this.standby?.child ?? null
      : this.roles.find((r) => r.name === name)?.child ?? null;
    if (name !== "standby" && !this.roles.some((r) => r.name === name)) {
      return { refused: `no role ${JSON.stringify(name)} in this instance` };
    }
    if (child === null || !isRunning(child.pid)) {
      return { refused: `${name} has no running process` };
    }
    signalChild(child, signal);
    return { pid: child.pid };
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
    if (role.kind === "dispatcher") {
      return [...context, ...dispatcherArgs({ ...o, listenFd: this.listener.fd })];
    }
    return [
      ...context,
      "--worker",
      String(role.k),
      ...(role.port ? ["--worker-port", String(role.port)] : []),
    ];
  }

  /**
   * Spawn: starts (or restarts) a role's process in its slot; a restart hands the role to the
   * waiting standby if there is one, and then has a new standby started for the next. What the
   * role will open is put right first (the segment's header, a worker's pipes). A process that
   * cannot be started (no fork: EAGAIN in a full pids cgroup) is decided on like an exit.
   */
  #spawn(role: Supervised): void {
    this.#repairBeforeStart(role);
    const args = this.#args(role);
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
      this.#startFailed(role, e);
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

  /**
   * What a role opens when it starts, put right if another process spoiled it: the segment's
   * header (a role refuses a segment whose header is not its instance's), and a worker's two
   * pipes (gone, or replaced by a file: the worker could not open them).
   */
  #repairBeforeStart(role: Supervised): void {
    this.#repairHeader();
    if (role.kind !== "worker") return;
    for (const name of [`dwtube${role.k}`, `wdtube${role.k}`]) {
      const wrong = this.dir.ensureFifo(name);
      if (wrong === null) continue;
      log.warning("{pipe} made again before {role} starts: {wrong}", {
        pipe: name,
        role: role.name,
        wrong,
      });
      traceEvent({ event: "pipe repaired", channel: "fifo", peer: role.name, detail: name });
    }
  }

  /** Writes the segment's header again if another process changed it. */
  #repairHeader(): void {
    if (!this.segment.repairHeader()) return;
    log.warning("the segment's header was overwritten by another process: written again");
    traceEvent({ event: "header repaired", channel: "shm", detail: this.paths.segment });
  }

  /** A role's process could not be started: decided on like an exit with code 1. */
  #startFailed(role: Supervised, error: unknown): void {
    role.generation++;
    role.child = null;
    const how = `could not be started (${(error as Error)?.message ?? error})`;
    log.error("{role} {how}", { role: role.name, how });
    traceEvent({ event: "spawn failed", channel: "process", peer: role.name, detail: how });
    this.#decide(role, how, 1);
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
      this.#kill(role, "start timeout", `not ready within ${ms} ms`);
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

  /** Reap: a role's process exited (Deno reaped it); the policy says what follows. */
  #reap(role: Supervised, status: ProcessExit): void {
    role.lastStatus = status;
    role.killing = null;
    this.segment.slot(role.slot).set("exitStatus", exitStatusField(status));
    const how = `${describeExit(status)}${explainExit(status)}`;
    traceEvent({
      event: "exit",
      channel: "signal",
      peer: role.name,
      detail: `pid ${role.child!.pid} ${how}`,
    });
    if (this.operations.exited(role, how)) return;
    this.operations.failed(role, how);
    if (role.groupRestart !== null) {
      // Ended on purpose, to restart along with the role that crashed: at once, not counted.
      log.warning("{role} {how}; restarting with {cause}", {
        role: role.name,
        how,
        cause: role.groupRestart,
      });
      role.groupRestart = null;
      this.#restart(role, 0);
      return;
    }
    this.#decide(role, how, status.signalNumber === null ? status.code : null);
  }

  /**
   * What follows a role's end (`how`; exit `code`, null for a signal), as the policy says: the
   * instance stops (a failure while it starts, a bad configuration, or the dispatcher failing:
   * nothing can be served without it), the slot is marked failed (a worker's crash loop; it is
   * tried again after a pause), or the role restarts.
   */
  #decide(role: Supervised, how: string, code: number | null): void {
    const decision = role.policy.afterExit({ code, booting: this.#booting }, monotonicMs());
    if (decision.kind === "stop-instance") {
      this.#fatal = `${role.name} ${how} ${decision.why}`;
    } else if (decision.kind === "failed" && role.kind === "dispatcher") {
      this.#fatal = `the dispatcher failed: ${count(decision.restarts, "restart")} within ` +
        `${this.options.restartWindowMs} ms, the last one ${how}; nothing can be served without it`;
      traceEvent({ event: "failed", channel: "process", peer: role.name, detail: how });
    } else if (decision.kind === "failed") {
      role.state = "failed";
      this.segment.slot(role.slot).set("state", ROLE_STATE.failed);
      const pauseMs = role.policy.failed();
      log.error(
        "{role} failed: {n} within {window} ms; the system goes on without it, and tries it " +
          "again in {pause} s (deno task reset-failed: now)",
        {
          role: role.name,
          n: count(decision.restarts, "restart"),
          window: this.options.restartWindowMs,
          pause: pauseMs / 1000,
        },
      );
      traceEvent({
        event: "failed",
        channel: "process",
        peer: role.name,
        detail: `${count(decision.restarts, "restart")}; tried again in ${pauseMs / 1000} s`,
      });
      role.restartTimer = setTimeout(() => this.events.push({ kind: "retry", role }), pauseMs);
    } else {
      log.warning("{role} {how}; restarting", { role: role.name, how });
      this.#restart(role, decision.delayMs);
    }
    if (decision.kind !== "stop-instance" && this.#fatal === null) this.#restartGroup(role);
  }

  /**
   * The restart strategy: the roles that restart along with `crashed` (`policy.ts`) are ended at
   * once with SIGKILL — what they hold may depend on what the crashed one left in the shared
   * memory, as PostgreSQL ends every backend after one crashes — and each restarts as soon as it
   * is reaped. A role already waiting for its own restart, or failed, is left as it is.
   */
  #restartGroup(crashed: Supervised): void {
    const cause = `${crashed.name} (${this.options.strategy})`;
    for (const role of strategyGroup(this.options.strategy, crashed, this.roles)) {
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
  #retry(role: Supervised, why: string): void {
    clearTimeout(role.restartTimer);
    role.policy.retry();
    log.warning("{role} was failed; trying it again: {why}", { role: role.name, why });
    traceEvent({ event: "retry", channel: "process", peer: role.name, detail: why });
    this.#restart(role, 0);
  }

  /** `reset-failed`: every failed slot is tried again now. */
  #resetFailed(): void {
    const failed = this.roles.filter((r) => r.state === "failed");
    if (failed.length === 0) log.info("reset-failed: no slot is failed");
    for (const role of failed) this.#retry(role, "reset-failed asked for it");
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

  /**
   * Begins killing a role found frozen, or not ready in time (`event`, with `why` as detail):
   * SIGTERM now, SIGKILL after the kill grace (see {@link #escalate}); a
   * process stopped by a signal cannot act on SIGTERM, and gets SIGKILL at once.
   */
  #kill(role: Supervised, event: "frozen" | "start timeout", why: string): void {
    if (role.killing !== null || role.child === null) return;
    const stopped = isStopped(role.child.pid);
    const signal = stopped ? "SIGKILL" : "SIGTERM";
    log.warning("{role} {why}: {signal} to pid {pid}", {
      role: role.name,
      why,
      signal,
      pid: role.child.pid,
    });
    traceEvent({
      event,
      channel: "signal",
      peer: role.name,
      detail: `${why}; ${signal}`,
    });
    role.killing = { since: monotonicMs(), hard: stopped };
    if (stopped) traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: signal });
    signalRole(role, signal);
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
    this.#repairHeader();
    this.#repairRegistry();
    for (const role of this.roles) {
      this.#judgeLiveness(role, now);
      this.#judgeStart(role, now);
      this.#escalate(role, now);
    }
    this.operations.tick(now);
    // The standbys taken are replaced once no role is starting: loading a new one (~45 ms of
    // CPU each) would slow down the roles that start, on a machine of two cores.
    if (
      !this.#booting && !this.roles.some((r) => r.state === "starting" || r.state === "backoff")
    ) {
      this.standby?.ensure();
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

  /**
   * The fields the watchdog owns, written again from its own records: garbage that another process
   * writes into the registry lasts at most one tick. A running role's port is the one its ready
   * line said.
   */
  #repairRegistry(): void {
    for (const role of this.roles) {
      const slot = this.segment.slot(role.slot);
      if (role.child) slot.set("pid", role.child.pid);
      slot.set("generation", role.generation);
      slot.set("restarts", role.restartCount);
      if (role.state === "failed") slot.set("state", ROLE_STATE.failed);
      if (role.state === "running" && role.port > 0) slot.set("port", role.port);
    }
  }

  /** Judge liveness: a running role whose heartbeat is too old is frozen and gets killed. */
  #judgeLiveness(role: Supervised, now: number): void {
    if (role.state !== "running" || role.killing !== null) return;
    role.beats.heard(this.segment.slot(role.slot).get("heartbeat"), now);
    const verdict = role.beats.judge(now, this.options.heartbeatTimeoutMs);
    if (!verdict.alive) {
      this.#kill(role, "frozen", `heartbeat ${verdict.ageMs?.toFixed(0)} ms old`);
    }
    role.policy.running(role.startedAt, now);
  }

  /** A starting role stopped by a signal for longer than the heartbeat timeout is frozen. */
  #judgeStart(role: Supervised, now: number): void {
    if (role.state !== "starting" || role.killing !== null || role.child === null) return;
    if (!isStopped(role.child.pid)) {
      role.stoppedSince = null;
      return;
    }
    role.stoppedSince ??= now;
    if (now - role.stoppedSince > this.options.heartbeatTimeoutMs) {
      this.#kill(role, "frozen", "stopped by a signal while it starts");
    }
  }

  /** Escalate: a role still alive a kill grace after SIGTERM gets SIGKILL. */
  #escalate(role: Supervised, now: number): void {
    if (!role.killing || role.killing.hard) return;
    if (now - role.killing.since <= KILL_GRACE_MS) return;
    role.killing.hard = true;
    traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: "SIGKILL" });
    signalRole(role, "SIGKILL");
  }
}
