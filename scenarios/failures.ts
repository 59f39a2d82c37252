/**
 * The failure scenarios: break a running system under client load and check that the watchdog
 * sees it, brings the role back, and that every request still gets exactly its right answer.
 *
 * - `worker-crash`: SIGKILL a worker. The watchdog sees the exit at once and restarts it.
 * - `worker-freeze`: SIGSTOP a worker. Its heartbeat stops; the watchdog kills and restarts it.
 * - `dispatcher-crash`: SIGKILL the dispatcher. It is restarted, the workers are not; clients
 *   reconnect.
 * - `watchdog-crash`: SIGKILL the watchdog. Every role leaves within 1 s (no orphan); the next
 *   start of the same instance removes the leftovers and serves.
 * - `crash-loop`: a worker that dies at every start: restarts with growing delays, then its slot
 *   is marked failed and the others serve.
 *
 * Each returns its checks (detection time, time until served again, answers, zombies, orphans,
 * leftovers), a timeline of what the watchdog saw, and whether all checks passed.
 *
 * @module
 */

import { becomeSubreaper, isRunning, reapAdopted, ROLE_STATE, waitExit } from "../ipc/mod.ts";
import {
  closeTrace,
  count,
  freshTraceFile,
  injectEvent,
  setupLogging,
  type Stage,
  type TracedEvent,
  traceEvent,
  type TraceEventKind,
} from "../roles/mod.ts";
import type { RequestRecord } from "./clients.ts";
import { type RunningSystem, startSystem, type StopReport, type SystemOptions } from "./harness.ts";
import {
  answersCheck,
  type Check,
  interruptibly,
  LEFTOVER_CHECKS,
  leftoverChecks,
  type ScenarioReport,
} from "./checks.ts";
import { ConnectProbe, LoadGenerator, ZombieWatch } from "./load.ts";
import { renderTrace } from "./diagram_render.ts";
import { formatTimeline, readTrace, waitForTrace } from "./timeline.ts";
import { sleep } from "../roles/timers.ts";
import { CASES, type FailureCase, type FailureName } from "./failure_cases.ts";

export { FAILURE_SUMMARIES, type FailureName, FAILURES } from "./failure_cases.ts";

/** Options of {@link runFailureScenario}. */
export interface FailureOptions {
  /** Which failure. */
  name: FailureName;
  /** The stage (default client-calls-worker, the ideal one). */
  stage?: Stage;
  /** Workers (default 3). */
  workers?: number;
  /** Concurrent clients under load (default 4). */
  clients?: number;
  /** Heartbeat timeout of the watchdog, ms (default 1000). */
  heartbeatTimeoutMs?: number;
  /** The dispatcher's queue bound (default 64). */
  queueLimit?: number;
  /** How long a reserved worker waits for its client, ms (default 5000). */
  claimTimeoutMs?: number;
  /** Where the trace goes (default `out/<name>`). */
  outDir?: string;
  /** Roles' stderr log level (default error: the scenario's faults are expected). */
  logLevel?: string;
  /**
   * Aborting it (SIGINT, SIGTERM) ends the scenario where it is: the load stops, the system is
   * stopped and checked, and the report says it was interrupted.
   */
  signal?: AbortSignal;
}

/** What a failure scenario saw. */
export interface FailureReport extends ScenarioReport {
  /** The scenario. */
  name: FailureName;
  /** From the fault to the watchdog's reaction, ms (null if it never came). */
  detectionMs: number | null;
  /** From the fault to the system serving again as before, ms (null: never, or not expected). */
  servedAgainMs: number | null;
  /** From the fault to the slot marked failed, ms (crash-loop; null otherwise). */
  markedFailedMs: number | null;
}

/**
 * The time from `since` (ms) to the watchdog's first event about `role` whose event is in
 * `events`, as its trace shows it (waiting, bounded, for the watchdog to write it); null if none.
 */
async function firstReaction(
  tracePath: string,
  role: string,
  since: number,
  events: TraceEventKind[],
): Promise<number | null> {
  const reaction = (e: TracedEvent) =>
    e.ts >= since && e.role === "watchdog" && e.peer === role && events.includes(e.event);
  const e = (await waitForTrace(tracePath, (all) => all.some(reaction)))?.find(reaction);
  return e ? e.ts - since : null;
}

/** The events of roles other than the watchdog a failure's timeline shows. */
const SHOWN_OF_ROLES: TraceEventKind[] = ["ready", "worker lost", "parent gone"];

/** An interrupted run's report keeps only the checks of what it left. */
function finish(
  base: Omit<FailureReport, "passed" | "timeline" | "diagram" | "interrupted">,
  since: number,
  signal: AbortSignal | undefined,
): FailureReport {
  // The run is over: this process's own events are written, and its tracing ends.
  closeTrace();
  const events = readTrace(base.tracePath).filter((e) =>
    e.ts >= since - 20 &&
    (e.role === "watchdog" || e.role === "scenario" ||
      SHOWN_OF_ROLES.includes(e.event))
  );
  const outDir = base.tracePath.slice(0, base.tracePath.lastIndexOf("/"));
  const interrupted = signal?.aborted ?? false;
  const checks = interrupted
    ? base.checks.filter((c) => LEFTOVER_CHECKS.includes(c.what))
    : base.checks;
  return {
    ...base,
    checks,
    timeline: formatTimeline(events.slice(0, 30), since),
    diagram: renderTrace(base.tracePath, outDir, {
      title: `scenario ${base.name} (${base.stage})`,
      origin: { ts: since, label: "the injected fault, as in the printed timeline" },
    }),
    interrupted,
    passed: !interrupted && checks.every((c) => c.ok),
  };
}

/** Runs one failure scenario; it always stops the system and checks what was left. */
export async function runFailureScenario(options: FailureOptions): Promise<FailureReport> {
  const name = options.name;
  const stage = options.stage ?? "client-calls-worker";
  const outDir = options.outDir ?? `out/${name}`;
  const tracePath = freshTraceFile(`${outDir}/trace.jsonl`);
  setupLogging(options.logLevel ?? "error", { path: tracePath, role: "scenario" });
  const systemOptions: SystemOptions = {
    stage,
    workers: options.workers ?? 3,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 1000,
    queueLimit: options.queueLimit,
    claimTimeoutMs: options.claimTimeoutMs,
    tracePath,
    logLevel: options.logLevel ?? "error",
  };
  const clients = options.clients ?? 4;
  if (name === "watchdog-crash") {
    return await watchdogCrash(systemOptions, tracePath, clients, options.signal);
  }
  const c: FailureCase = CASES[name];
  const signal = options.signal;
  const system = await startSystem(systemOptions);
  const zombies = new ZombieWatch(() => [system.watchdog.pid]);
  const load = new LoadGenerator(system.port, clients);
  const probe = new ConnectProbe(system.port);
  let detectionMs: number | null = null;
  let servedAgainMs: number | null = null;
  let markedFailedMs: number | null = null;
  const checks: Check[] = [];
  let t0 = performance.timeOrigin + performance.now();
  let records: RequestRecord[];
  let stop: StopReport;
  try {
    await interruptibly(signal, async () => {
      await sleep(300, signal);
      const { slot } = system.role(c.target);
      const registry = system.segment.slot(slot);
      const generation = registry.get("generation");
      const workerPids = system.roles.filter((r) => r.kind === "worker").map((r) => r.pid);
      if (c.crashesAtStart) system.crashAtStart(c.target, true);
      t0 = performance.timeOrigin + performance.now();
      traceEvent({ event: injectEvent(c.fault), channel: "signal", peer: c.target });
      const pid = system.signal(c.target, c.fault);
      const heartbeatMs = systemOptions.heartbeatTimeoutMs!;
      const bound = c.seenWithinMs(heartbeatMs);
      const recovered = c.expect === "restarted"
        ? (s: RunningSystem) =>
          s.segment.slot(slot).get("generation") > generation &&
          s.segment.slot(slot).get("state") === ROLE_STATE.ready
        : (s: RunningSystem) => s.segment.slot(slot).get("state") === ROLE_STATE.failed;
      const took = await system.waitFor(
        `${c.target} ${c.expect}`,
        recovered,
        c.expect === "restarted" ? heartbeatMs + 9000 : 20_000,
        signal,
      ).catch((e) => {
        if (signal?.aborted) throw e;
        return null;
      });
      detectionMs = await firstReaction(tracePath, c.target, t0, c.seenBy);
      checks.push({
        what: c.fault === "SIGSTOP" ? "freeze detected (heartbeat timeout)" : "crash detected",
        ok: detectionMs !== null && detectionMs < bound,
        detail: `${
          detectionMs === null ? "never" : `${detectionMs.toFixed(1)} ms`
        } (bound ${bound} ms)`,
      });
      if (c.expect === "restarted") {
        servedAgainMs = took;
        checks.push(
          {
            what: `${c.target} restarted and ready again`,
            ok: took !== null,
            detail: took === null ? "never" : `${took.toFixed(0)} ms after the fault`,
          },
          { what: `old ${c.target} process gone`, ok: !isRunning(pid), detail: `pid ${pid}` },
        );
      } else {
        markedFailedMs = took;
        const restarts = registry.get("restarts");
        checks.push(
          {
            what: `${c.target} restarted with growing delays, then marked failed`,
            ok: took !== null,
            detail: `${took === null ? "never" : `${took.toFixed(0)} ms`}, ${
              count(restarts, "restart")
            }`,
          },
          { what: "5 restarts before giving up", ok: restarts === 5, detail: String(restarts) },
        );
      }
      if (c.workersUntouched) {
        const same = system.roles.filter((r) => r.kind === "worker").map((r) => r.pid);
        checks.push({
          what: "workers kept running (not restarted)",
          ok: same.join() === workerPids.join(),
          detail: `${workerPids.join(",")} → ${same.join(",")}`,
        });
      }
      // The load goes on a while after the recovery: requests served by the new process.
      await sleep(c.expect === "restarted" ? 500 : 300, signal);
    });
  } finally {
    records = await load.stop();
    await probe.stop();
    if (c.crashesAtStart) system.crashAtStart(c.target, false);
    zombies.stop();
    stop = await system.stop();
  }
  if (c.noneRefused) {
    checks.push({
      what: "no connection refused while it restarted",
      ok: probe.refused === 0,
      detail: `${probe.refused} refused of ${probe.refused + probe.accepted}`,
    });
  }
  checks.push(
    ...answersCheck(records),
    ...leftoverChecks(stop, system.segmentName, zombies.lasting),
  );
  return finish(
    { name, stage, detectionMs, servedAgainMs, markedFailedMs, records, checks, tracePath },
    t0,
    signal,
  );
}

/** SIGKILL the watchdog: no orphan within 1 s; the next start cleans up and serves. */
async function watchdogCrash(
  systemOptions: SystemOptions,
  tracePath: string,
  clients: number,
  signal?: AbortSignal,
): Promise<FailureReport> {
  // Orphaned roles are re-parented here, not to init: this process reaps them (and sees them).
  becomeSubreaper();
  const instance = `wd${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  const checks: Check[] = [];
  const records: RequestRecord[] = [];
  let t0 = performance.timeOrigin + performance.now();
  let detectionMs: number | null = null;
  let servedAgainMs: number | null = null;
  const first = await startSystem({ ...systemOptions, instance });
  // What the steps started, for the end to stop: they may be cut short anywhere.
  const started: { second: RunningSystem | null; zombies: ZombieWatch | null } = {
    second: null,
    zombies: null,
  };
  let stop: StopReport;
  try {
    await interruptibly(signal, async () => {
      const load = new LoadGenerator(first.port, clients);
      await sleep(300, signal).finally(async () => records.push(...await load.stop()));
      // Its roles and its standby.
      const pids = first.processes();
      t0 = performance.timeOrigin + performance.now();
      traceEvent({ event: "inject SIGKILL", channel: "signal", peer: "watchdog" });
      const start = performance.now();
      first.watchdog.kill("SIGKILL");
      await waitExit(first.watchdog);
      while (pids.some(isRunning) && performance.now() - start < 3000) await sleep(5);
      const goneMs = performance.now() - start;
      detectionMs = goneMs;
      for (const pid of pids) {
        const deadline = performance.now() + 2000;
        while (!reapAdopted(pid) && performance.now() < deadline) await sleep(5);
      }
      checks.push({
        what: "every role left within 1 s of the watchdog's death",
        ok: goneMs < 1000 && !pids.some(isRunning),
        detail: `${goneMs.toFixed(0)} ms, roles ${pids.join(", ")}`,
      });
      checks.push({
        what: "leftovers are there for the next start (pipes, segment, lock)",
        ok: isDirectory(first.runtimeDir),
        detail: first.runtimeDir,
      });
      const second = started.second = await startSystem({ ...systemOptions, instance });
      servedAgainMs = performance.timeOrigin + performance.now() - t0;
      started.zombies = new ZombieWatch(() => [second.watchdog.pid]);
      const before = records.length;
      const after = new LoadGenerator(second.port, clients);
      await sleep(500, signal).finally(async () => records.push(...await after.stop()));
      checks.push({
        what: "the next start cleaned up and served",
        ok: records.length > before,
        detail: `${servedAgainMs.toFixed(0)} ms after the kill`,
      });
    });
  } finally {
    started.zombies?.stop();
    // Interrupted before the kill, the first instance is still running: it is stopped instead.
    stop = await (started.second ?? first).stop();
  }
  checks.push(
    ...answersCheck(records),
    ...leftoverChecks(
      stop,
      (started.second ?? first).segmentName,
      started.zombies?.lasting ?? new Set(),
    ),
  );
  return finish(
    {
      name: "watchdog-crash",
      stage: systemOptions.stage,
      detectionMs,
      servedAgainMs,
      markedFailedMs: null,
      records,
      checks,
      tracePath,
    },
    t0,
    signal,
  );
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
