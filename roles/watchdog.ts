/**
 * The watchdog: the root of a system instance (seed questions 3.a–3.c). It takes the instance's
 * lock, creates the runtime directory, the shared segment and the pipes, spawns the dispatcher and
 * every worker itself, and owns the cleanup.
 *
 * One supervision loop handles every event in order — a child's exit (seen at once: Deno resolves
 * its status on SIGCHLD), a role's ready line, a 50 ms tick, a stop signal, a restart timer:
 *
 * - a role that exits is reaped and restarted in its slot (same port for a worker): at once the
 *   first time, then after 100, 200, 400, 800 ms; past 5 restarts within 10 s the slot is marked
 *   failed and the system serves with the others; a stable run of 10 s clears the count;
 * - a role whose heartbeat is older than the heartbeat timeout (SIGSTOP, a busy loop) is frozen:
 *   SIGTERM, then SIGKILL after the kill grace, then restarted like a crash;
 * - a role that fails while the instance boots, or exits with code 2 (bad configuration), stops
 *   the whole instance with a clear message instead of looping;
 * - SIGINT/SIGTERM stop in phases: the dispatcher (it drains in-flight requests within its grace),
 *   then the workers; every child is reaped; pipes, segment, lock and directory are removed.
 *
 * It never writes into the dispatcher↔worker pipes: its channels are the slots' heartbeats, child
 * exits and signals. Children arm a parent-death signal and check their parent every beat, so they
 * leave within a second if the watchdog is killed; the next start finds the dead instance's lock
 * free, removes its leftovers, and starts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DISPATCHER_SLOT,
  monotonicMs,
  processInfo,
  ROLE_STATE,
  SegmentError,
  setParentDeathSignal,
  SharedSegment,
  signalNumber,
  SignalQueue,
  WATCHDOG_SLOT,
  workerSlot,
} from "../ipc/mod.ts";
import {
  clearLeftovers,
  closeInstance,
  type InstancePaths,
  instancePaths,
  openInstance,
} from "./instance.ts";
import { EXIT_PARENT_GONE } from "./lifecycle.ts";
import { HEARTBEAT_INTERVAL_MS, judgeBeat, plausibleBeat } from "./liveness.ts";
import { roleLogger, setupLogging, traceEvent } from "./logging.ts";
import { DEFAULT_TRACE_MAX_BYTES } from "./trace_file.ts";
import { parseStage, type Stage } from "./protocol.ts";
import { roleArgs, type RoleContext } from "./role_args.ts";
import {
  EventQueue,
  readReadyLine,
  type ReadyOutcome,
  reapChild,
  roleCommand,
  SYSTEM_ROLE_PERMISSIONS,
} from "./spawn.ts";

const DISPATCHER = new URL("./dispatcher.ts", import.meta.url);
const WORKER = new URL("./worker.ts", import.meta.url);

const log = roleLogger("watchdog");

/** How to run an instance. */
export interface WatchdogOptions {
  /** The stage. */
  stage: Stage;
  /** Number of workers. */
  workers: number;
  /** Address the dispatcher and workers listen on. */
  host: string;
  /** Dispatcher port; workers use port + k (0: any free ports). */
  port: number;
  /** The instance's name: its directory `osps-<name>`, its segment `/osps-<name>` (default: the port). */
  instance?: string;
  /** Where the instance directory goes (default $XDG_RUNTIME_DIR, $TMPDIR or /tmp). */
  runtimeBase?: string;
  /** Dispatcher queue bound. */
  queueLimit: number;
  /** The dispatcher's client connections at once, at most (default: from its open-file limit). */
  maxConnections?: number;
  /** The host REDIRECTs name (default: the address each client reached the dispatcher on). */
  advertise?: string;
  /** Request timeout, ms. */
  requestTimeoutMs: number;
  /** Claim timeout, ms. */
  claimTimeoutMs: number;
  /** Idle connection timeout, ms. */
  idleTimeoutMs: number;
  /** Grace for in-flight requests at stop, ms. */
  graceMs: number;
  /** A heartbeat older than this is a frozen role, ms (default 1000). */
  heartbeatTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL for a frozen role, ms (default 300). */
  killGraceMs?: number;
  /** How long a role may take to be ready, ms (default 10000). */
  startTimeoutMs?: number;
  /** Restarts allowed within {@link restartWindowMs} before a slot is marked failed (default 5). */
  maxRestarts?: number;
  /** The crash-loop window, ms; a run this long clears a slot's count (default 10000). */
  restartWindowMs?: number;
  /** Roles' stderr log level. */
  logLevel: string;
  /** The trace file ("" for none). */
  trace: string;
  /** The trace file's bound, bytes (default 64 MiB): past it, it is rotated to `<trace>.1`. */
  traceMaxBytes?: number;
}

/** The instance could not start; everything it had started was stopped and removed. */
export class WatchdogStartError extends Error {
  /** Builds the error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WatchdogStartError";
  }
}

/** A supervised role. */
interface Supervised {
  name: string;
  slug: string;
  slot: number;
  kind: "dispatcher" | "worker";
  k: number;
  child: Deno.ChildProcess | null;
  generation: number;
  state: "starting" | "running" | "backoff" | "failed" | "stopped";
  /** Restart times within the crash-loop window. */
  restarts: number[];
  /** When its current process started, on the monotonic clock (the slot shows wall time). */
  startedAt: number;
  /** The worker's port once known (a restart takes it again). */
  port: number;
  /** Since when a frozen role is being killed, and whether SIGKILL was sent. */
  killing: { since: number; hard: boolean } | null;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  lastStatus: Deno.CommandStatus | null;
  /** Restarts so far; the slot shows it, and is rewritten from here at every tick. */
  restartCount: number;
  /** The latest plausible heartbeat seen in the slot (garbage values are not beats). */
  lastBeat: number;
}

type WatchdogEvent =
  | { kind: "exit"; role: Supervised; generation: number; status: Deno.CommandStatus }
  | { kind: "ready"; role: Supervised; generation: number; outcome: ReadyOutcome }
  | { kind: "tick" }
  | { kind: "signal"; signal: Deno.Signal }
  | { kind: "fatal"; why: string }
  | { kind: "restart"; role: Supervised };

/** What a watchdog run ended with. */
export interface WatchdogReport {
  /** Exit status of each role's last process. */
  statuses: Record<string, Deno.CommandStatus | null>;
  /** Restarts per role. */
  restarts: Record<string, number>;
  /** Roles marked failed (crash loop). */
  failed: string[];
  /** Why it stopped: a signal name, or the fatal problem. */
  reason: string;
  /** Every pid it spawned, restarts included. */
  pids: number[];
}

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
}

/** The supervisor of one instance. */
class Watchdog {
  readonly options: Required<WatchdogOptions>;
  readonly paths: InstancePaths;
  readonly segment: SharedSegment;
  readonly roles: Supervised[];
  readonly events = new EventQueue<WatchdogEvent>();
  readonly spawned: number[] = [];
  #stopping = false;
  #stopped = false;
  #fatal: string | null = null;

  constructor(options: Required<WatchdogOptions>, paths: InstancePaths, segment: SharedSegment) {
    this.options = options;
    this.paths = paths;
    this.segment = segment;
    const role = (kind: Supervised["kind"], k: number): Supervised => ({
      name: kind === "dispatcher" ? "dispatcher" : `worker ${k}`,
      slug: kind === "dispatcher" ? "dispatcher" : `worker-${k}`,
      slot: kind === "dispatcher" ? DISPATCHER_SLOT : workerSlot(k),
      kind,
      k,
      child: null,
      generation: 0,
      state: "starting",
      restarts: [],
      startedAt: 0,
      port: 0,
      killing: null,
      restartTimer: undefined,
      lastStatus: null,
      restartCount: 0,
      lastBeat: 0,
    });
    this.roles = [
      role("dispatcher", 0),
      ...Array.from({ length: options.workers }, (_, i) => role("worker", i + 1)),
    ];
  }

  #context(): RoleContext {
    const o = this.options;
    return {
      stage: o.stage,
      segment: this.paths.segment,
      runtimeDir: this.paths.dir,
      host: o.host,
      port: o.port,
      claimTimeoutMs: o.claimTimeoutMs,
      parentPid: Deno.pid,
      logLevel: o.logLevel,
      trace: o.trace,
      traceMaxBytes: o.traceMaxBytes,
    };
  }

  /** Starts (or restarts) a role's process in its slot. */
  spawn(role: Supervised): void {
    const o = this.options;
    const extra = role.kind === "dispatcher"
      ? [
        "--workers",
        String(o.workers),
        "--queue-limit",
        String(o.queueLimit),
        "--max-connections",
        String(o.maxConnections),
        "--advertise",
        o.advertise,
        "--request-timeout",
        String(o.requestTimeoutMs),
        "--idle-timeout",
        String(o.idleTimeoutMs),
        "--grace",
        String(o.graceMs),
      ]
      : ["--worker", String(role.k), ...(role.port ? ["--worker-port", String(role.port)] : [])];
    // A restarted dispatcher takes the port of the one it replaces (it matters with port 0).
    const context = {
      ...this.#context(),
      ...(role.kind === "dispatcher" && role.port ? { port: role.port } : {}),
    };
    const child = roleCommand(role.kind === "dispatcher" ? DISPATCHER : WORKER, [
      ...roleArgs(context),
      ...extra,
    ], {
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }, SYSTEM_ROLE_PERMISSIONS).spawn();
    role.child = child;
    this.spawned.push(child.pid);
    role.generation++;
    role.state = "starting";
    role.startedAt = monotonicMs();
    role.lastBeat = role.startedAt;
    role.killing = null;
    const slot = this.segment.slot(role.slot);
    slot.set("pid", child.pid);
    slot.set("generation", role.generation);
    slot.set("startedAt", Date.now());
    slot.set("heartbeat", role.startedAt);
    slot.set("state", ROLE_STATE.starting);
    traceEvent({
      event: role.generation > 1 ? "restart" : "spawn",
      channel: "process",
      peer: role.name,
      detail: `pid ${child.pid}`,
    });
    const generation = role.generation;
    // Every chain ends in the loop: a failure becomes a fatal event, never an unhandled rejection.
    child.status.then(
      (status) => this.events.push({ kind: "exit", role, generation, status }),
      (error) => this.events.push({ kind: "fatal", why: `${role.name}'s exit status: ${error}` }),
    );
    readReadyLine(child, o.startTimeoutMs).then(
      (outcome) => this.events.push({ kind: "ready", role, generation, outcome }),
      (error) => this.events.push({ kind: "fatal", why: `${role.name}'s ready line: ${error}` }),
    );
  }

  /** The loop: one event at a time, until a stop signal or a fatal problem. */
  async run(signals: SignalQueue, onReady: (ready: WatchdogReady) => void): Promise<string> {
    (async () => {
      for await (const signal of signals) this.events.push({ kind: "signal", signal });
    })().catch((error) => this.events.push({ kind: "fatal", why: `signals: ${error}` }));
    const ticker = setInterval(() => this.events.push({ kind: "tick" }), 50);
    try {
      for (const role of this.roles) this.spawn(role);
      let booting = true;
      while (true) {
        const event = await this.events.next();
        if (event.kind === "signal") {
          if (event.signal === "SIGINT" || event.signal === "SIGTERM") return event.signal;
        } else if (event.kind === "fatal") {
          return `unexpected error: ${event.why}`;
        } else if (event.kind === "tick") {
          this.#tick();
        } else if (event.kind === "restart") {
          if (event.role.state === "backoff") this.spawn(event.role);
        } else if (event.role.generation === event.generation) {
          if (event.kind === "ready") this.#ready(event.role, event.outcome);
          else this.#exited(event.role, event.status, booting);
        }
        if (this.#fatal !== null) return this.#fatal;
        if (booting && this.roles.every((r) => r.state === "running")) {
          booting = false;
          onReady({
            paths: this.paths,
            port: this.segment.slot(DISPATCHER_SLOT).get("port"),
            pids: Object.fromEntries(this.roles.map((r) => [r.name, r.child!.pid])),
            ports: Object.fromEntries(this.roles.map((r) => [r.name, r.port])),
          });
        }
      }
    } finally {
      clearInterval(ticker);
    }
  }

  #ready(role: Supervised, outcome: ReadyOutcome): void {
    // Its stdout closed without a ready line: it is exiting, and its exit event will say how.
    if (outcome === "closed") return;
    if (outcome === "late") {
      this.#kill(role, `not ready within ${this.options.startTimeoutMs} ms`);
      return;
    }
    const port = outcome.port;
    role.state = "running";
    role.port = port;
    traceEvent({
      event: "ready",
      channel: "process",
      peer: role.name,
      detail: `pid ${role.child!.pid}`,
    });
  }

  #exited(role: Supervised, status: Deno.CommandStatus, booting: boolean): void {
    role.lastStatus = status;
    role.killing = null;
    const slot = this.segment.slot(role.slot);
    slot.set("exitStatus", status.signal ? -signalNumber(status.signal) : status.code);
    const how = status.signal ? `killed by ${status.signal}` : `exited with code ${status.code}`;
    traceEvent({
      event: "exit",
      channel: "signal",
      peer: role.name,
      detail: `pid ${role.child!.pid} ${how}`,
    });
    if (booting || status.code === 2) {
      // A role that cannot boot, or whose configuration is bad, would only loop: stop instead.
      this.#fatal = `${role.name} ${how} ${
        booting ? "while the instance was starting" : "(bad configuration)"
      }`;
      return;
    }
    log.warning("{role} {how}; restarting", { role: role.name, how });
    const now = monotonicMs();
    role.restarts = role.restarts.filter((t) => now - t < this.options.restartWindowMs);
    if (role.restarts.length >= this.options.maxRestarts) {
      role.state = "failed";
      slot.set("state", ROLE_STATE.failed);
      log.error("{role} failed: {n} restarts within {window} ms; the system goes on without it", {
        role: role.name,
        n: role.restarts.length,
        window: this.options.restartWindowMs,
      });
      traceEvent({
        event: "failed",
        channel: "process",
        peer: role.name,
        detail: `${role.restarts.length} restarts`,
      });
      return;
    }
    const delay = role.restarts.length === 0 ? 0 : 100 * 2 ** (role.restarts.length - 1);
    role.restarts.push(now + delay);
    role.restartCount++;
    slot.set("restarts", role.restartCount);
    role.state = "backoff";
    slot.set("state", ROLE_STATE.starting);
    role.restartTimer = setTimeout(() => this.events.push({ kind: "restart", role }), delay);
  }

  /** Begins killing a role: SIGTERM now, SIGKILL after the kill grace (the tick does it). */
  #kill(role: Supervised, why: string): void {
    if (role.killing !== null || role.child === null) return;
    log.warning("{role} {why}: killing pid {pid}", { role: role.name, why, pid: role.child.pid });
    traceEvent({ event: "frozen", channel: "signal", peer: role.name, detail: `${why}; SIGTERM` });
    role.killing = { since: monotonicMs(), hard: false };
    try {
      role.child.kill("SIGTERM");
    } catch {
      // Exited meanwhile: its exit event is on its way.
    }
  }

  #tick(): void {
    const now = monotonicMs();
    const own = this.segment.slot(WATCHDOG_SLOT);
    own.set("heartbeat", now);
    own.set("pid", Deno.pid);
    // The fields the watchdog owns, written again from its own records: garbage that another
    // process writes into the registry lasts at most one tick.
    for (const role of this.roles) {
      const slot = this.segment.slot(role.slot);
      if (role.child) slot.set("pid", role.child.pid);
      slot.set("generation", role.generation);
      slot.set("restarts", role.restartCount);
      if (role.state === "failed") slot.set("state", ROLE_STATE.failed);
    }
    for (const role of this.roles) {
      if (role.state === "running" && role.killing === null) {
        const beat = this.segment.slot(role.slot).get("heartbeat");
        // Only a plausible value is a beat (garbage another process wrote is not); the role
        // rewrites it at its next beat.
        if (plausibleBeat(beat, now, role.startedAt) && beat > role.lastBeat) role.lastBeat = beat;
        const verdict = judgeBeat(role.lastBeat, now, this.options.heartbeatTimeoutMs);
        if (verdict.frozen) this.#kill(role, `heartbeat ${verdict.ageMs.toFixed(0)} ms old`);
        // A stable run clears the crash-loop count.
        if (now - role.startedAt > this.options.restartWindowMs) role.restarts = [];
      }
      if (
        role.killing && !role.killing.hard && now - role.killing.since > this.options.killGraceMs
      ) {
        role.killing.hard = true;
        traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: "SIGKILL" });
        try {
          role.child?.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
    }
  }

  /**
   * Graceful stop, within the grace plus one second whatever happens: a frozen role is killed at
   * once (it could not act on SIGTERM); the dispatcher gets SIGTERM and its grace to finish what is
   * in flight (half a second more, then SIGKILL); then the workers, SIGKILL at the end of the
   * budget. A second SIGINT or SIGTERM kills every role at once. Every child is reaped.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    const end = monotonicMs() + this.options.graceMs + 1000;
    const left = (marginMs: number) => Math.max(100, end - marginMs - monotonicMs());
    for (const role of this.roles) clearTimeout(role.restartTimer);
    const killAll = (why: string) => {
      for (const role of this.roles) {
        if (role.child === null || role.state === "stopped") continue;
        traceEvent({
          event: "kill",
          channel: "signal",
          peer: role.name,
          detail: `SIGKILL: ${why}`,
        });
        try {
          role.child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
    };
    // A second stop signal means now.
    (async () => {
      for (let e = await this.events.next(); !this.#stopped; e = await this.events.next()) {
        if (e.kind === "signal" && (e.signal === "SIGINT" || e.signal === "SIGTERM")) {
          log.warning("second {signal} while stopping: killing every role now", {
            signal: e.signal,
          });
          killAll(`second ${e.signal}`);
          return;
        }
      }
    })().catch((e) => log.error("stop: {e}", { e: String(e) }));
    for (const role of this.roles) {
      const why = this.#frozenAtStop(role);
      if (why === null) continue;
      log.warning("{role} is frozen ({why}): SIGKILL, it could not act on SIGTERM", {
        role: role.name,
        why,
      });
      traceEvent({ event: "kill", channel: "signal", peer: role.name, detail: `SIGKILL: ${why}` });
      try {
        role.child!.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    const phase = async (roles: Supervised[], marginMs: number) => {
      await Promise.all(roles.map(async (role) => {
        const child = role.child;
        if (child === null) return;
        this.segment.slot(role.slot).set("state", ROLE_STATE.stopping);
        const termMs = left(marginMs);
        const status = await reapChild(child, { graceMs: 0, termMs });
        if (status.signal === "SIGKILL") {
          log.warning("{role} stopped by SIGKILL", { role: role.name });
        }
        role.lastStatus = status;
        role.state = "stopped";
        const slot = this.segment.slot(role.slot);
        slot.set("exitStatus", status.signal ? -signalNumber(status.signal) : status.code);
        slot.set("state", ROLE_STATE.empty);
      }));
    };
    await phase(this.roles.filter((r) => r.kind === "dispatcher"), 500);
    await phase(this.roles.filter((r) => r.kind === "worker"), 100);
    this.#stopped = true;
    // Wakes the second-signal watcher, whose loop then ends.
    this.events.push({ kind: "tick" });
  }

  /** Why a running role cannot stop by itself now (stopped, or silent for 500 ms), or null. */
  #frozenAtStop(role: Supervised): string | null {
    const child = role.child;
    if (child === null || role.state !== "running") return null;
    if (processInfo(child.pid)?.state === "T") return "stopped by a signal";
    const now = monotonicMs();
    const beat = this.segment.slot(role.slot).get("heartbeat");
    const last = plausibleBeat(beat, now, role.startedAt)
      ? Math.max(beat, role.lastBeat)
      : role.lastBeat;
    const verdict = judgeBeat(last, now, 5 * HEARTBEAT_INTERVAL_MS);
    return verdict.frozen ? `no heartbeat for ${verdict.ageMs.toFixed(0)} ms` : null;
  }

  report(reason: string): WatchdogReport {
    return {
      statuses: Object.fromEntries(this.roles.map((r) => [r.name, r.lastStatus])),
      restarts: Object.fromEntries(
        this.roles.map((r) => [r.name, this.segment.slot(r.slot).get("restarts")]),
      ),
      failed: this.roles.filter((r) => r.state === "failed").map((r) => r.name),
      reason,
      pids: this.spawned,
    };
  }

  get stopping(): boolean {
    return this.#stopping;
  }
}

/**
 * Runs an instance until SIGINT/SIGTERM (or a fatal problem), then stops it and removes
 * everything. `onReady` is called once every role is up. Throws {@link WatchdogStartError} (or
 * the lock's `InstanceLockedError`) if it cannot start; what it had started is then removed.
 */
export async function runWatchdog(
  options: WatchdogOptions,
  onReady: (ready: WatchdogReady) => void = () => {},
): Promise<WatchdogReport> {
  const o: Required<WatchdogOptions> = {
    instance: options.instance ?? (options.port === 0 ? `p${Deno.pid}` : String(options.port)),
    runtimeBase: options.runtimeBase ??
      (Deno.env.get("XDG_RUNTIME_DIR") || Deno.env.get("TMPDIR") || "/tmp"),
    heartbeatTimeoutMs: 1000,
    killGraceMs: 300,
    startTimeoutMs: 10_000,
    maxRestarts: 5,
    restartWindowMs: 10_000,
    traceMaxBytes: DEFAULT_TRACE_MAX_BYTES,
    maxConnections: 0,
    advertise: "",
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<WatchdogOptions>;
  const paths = instancePaths(o.instance, o.runtimeBase);
  // Listen for the stop signals first: none may be missed while starting.
  using signals = new SignalQueue(["SIGINT", "SIGTERM"]);
  const hold = openInstance(paths);
  let segment: SharedSegment | null = null;
  let watchdog: Watchdog | null = null;
  try {
    for (const line of await clearLeftovers(paths)) {
      log.warning("leftover of a dead instance: {line}", { line });
    }
    segment = SharedSegment.create(paths.segment, { workers: o.workers, label: o.stage });
    const own = segment.slot(WATCHDOG_SLOT);
    own.set("pid", Deno.pid);
    own.set("startedAt", Date.now());
    own.set("heartbeat", monotonicMs());
    own.set("state", ROLE_STATE.ready);
    for (let k = 1; k <= o.workers; k++) {
      hold.dir.fifo(`dwtube${k}`);
      hold.dir.fifo(`wdtube${k}`);
    }
    watchdog = new Watchdog(o, paths, segment);
    const reason = await watchdog.run(signals, onReady);
    await watchdog.stop();
    return watchdog.report(reason);
  } catch (e) {
    if (e instanceof SegmentError) {
      throw new WatchdogStartError(`cannot start instance ${paths.name}: ${e.message}`, {
        cause: e,
      });
    }
    throw e;
  } finally {
    if (watchdog !== null && !watchdog.stopping) await watchdog.stop();
    closeInstance(paths, hold, segment);
  }
}

/** The exit status of a role as `status` shows it. */
export function describeExit(exitStatus: number): string {
  if (exitStatus >= 0) return `code ${exitStatus}`;
  const name = Object.entries({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGSEGV: 11, SIGABRT: 6 }).find(
    ([, n]) => n === -exitStatus,
  );
  return name ? name[0] : `signal ${-exitStatus}`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      stage: { type: "string", default: "ideal" },
      workers: { type: "string", default: "3" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "0" },
      instance: { type: "string" },
      "runtime-base": { type: "string" },
      "queue-limit": { type: "string", default: "64" },
      "max-connections": { type: "string", default: "0" },
      advertise: { type: "string", default: "" },
      "request-timeout": { type: "string", default: "10000" },
      "claim-timeout": { type: "string", default: "5000" },
      "idle-timeout": { type: "string", default: "60000" },
      grace: { type: "string", default: "5000" },
      "heartbeat-timeout": { type: "string", default: "1000" },
      "log-level": { type: "string", default: "warning" },
      trace: { type: "string", default: "" },
      "trace-max-bytes": { type: "string", default: String(DEFAULT_TRACE_MAX_BYTES) },
      "parent-pid": { type: "string" },
    },
  });
  // Started by a harness: if the harness dies, this instance stops (SIGTERM: the graceful stop)
  // instead of running on as an orphan.
  if (values["parent-pid"] !== undefined) {
    try {
      setParentDeathSignal("SIGTERM", Number(values["parent-pid"]));
    } catch (e) {
      console.error(`watchdog: ${e instanceof Error ? e.message : e}`);
      Deno.exit(EXIT_PARENT_GONE);
    }
  }
  const stage = parseStage(values.stage);
  if (stage === null) {
    console.error(`watchdog: bad --stage ${values.stage}`);
    Deno.exit(2);
  }
  const traceMaxBytes = Number(values["trace-max-bytes"]);
  setupLogging(
    values["log-level"],
    values.trace ? { path: values.trace, role: "watchdog", maxBytes: traceMaxBytes } : undefined,
  );
  try {
    const report = await runWatchdog({
      stage,
      workers: Number(values.workers),
      host: values.host,
      port: Number(values.port),
      instance: values.instance,
      runtimeBase: values["runtime-base"],
      queueLimit: Number(values["queue-limit"]),
      maxConnections: Number(values["max-connections"]),
      advertise: values.advertise,
      requestTimeoutMs: Number(values["request-timeout"]),
      claimTimeoutMs: Number(values["claim-timeout"]),
      idleTimeoutMs: Number(values["idle-timeout"]),
      graceMs: Number(values.grace),
      heartbeatTimeoutMs: Number(values["heartbeat-timeout"]),
      logLevel: values["log-level"],
      trace: values.trace,
      traceMaxBytes,
    }, (ready) => console.log(`ready ${ready.port} ${ready.paths.name}`));
    const clean = report.reason === "SIGINT" || report.reason === "SIGTERM";
    if (!clean) console.error(`watchdog: stopped the instance: ${report.reason}`);
    Deno.exit(clean ? 0 : 1);
  } catch (e) {
    console.error(`watchdog: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
