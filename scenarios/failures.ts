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

import { becomeSubreaper, isRunning, reapAdopted, ROLE_STATE } from "../ipc/mod.ts";
import {
  closeTrace,
  count,
  freshTraceFile,
  setupLogging,
  type Stage,
  traceEvent,
} from "../roles/mod.ts";
import type { RequestRecord } from "./clients.ts";
import { startSystem, type StopReport } from "./harness.ts";
import { isClean, processesMentioning } from "./proof.ts";
import { LoadGenerator, ZombieWatch } from "./load.ts";
import { expectedAnswer } from "./stages.ts";
import { renderTrace } from "./diagram_render.ts";
import { formatTimeline, readTrace, type TracedEvent, waitForTrace } from "./timeline.ts";
import { sleep } from "../roles/timers.ts";

/** The failure scenarios. */
export const FAILURES = [
  "worker-crash",
  "worker-freeze",
  "dispatcher-crash",
  "watchdog-crash",
  "crash-loop",
] as const;

/** One failure scenario's name. */
export type FailureName = typeof FAILURES[number];

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
  /** Where the trace goes (default `out/<name>`). */
  outDir?: string;
  /** Roles' stderr log level (default error: the scenario's faults are expected). */
  logLevel?: string;
  /** Aborting it (SIGINT, SIGTERM) stops the system at once; the scenario then reports. */
  signal?: AbortSignal;
}

/** One check of a scenario. */
export interface Check {
  /** What is checked. */
  what: string;
  /** Whether it holds. */
  ok: boolean;
  /** The measured value or the evidence. */
  detail: string;
}

/** What a failure scenario saw. */
export interface FailureReport {
  /** The scenario. */
  name: FailureName;
  /** The stage. */
  stage: Stage;
  /** From the fault to the watchdog's reaction, ms (null if it never came). */
  detectionMs: number | null;
  /** From the fault to the system serving again as before, ms. */
  servedAgainMs: number | null;
  /** Every request of the load, with its answer. */
  records: RequestRecord[];
  /** The checks, in order. */
  checks: Check[];
  /** What the watchdog did around the fault, rendered. */
  timeline: string[];
  /** The trace file. */
  tracePath: string;
  /** The run as a sequence diagram: Markdown (Mermaid) and HTML. */
  diagram: { markdown: string; html: string };
  /** Whether every check passed. */
  passed: boolean;
}

/**
 * The time from `since` (ms) to the watchdog's first event about `role` whose event is in
 * `events`, as its trace shows it (waiting, bounded, for the watchdog to write it); null if none.
 */
async function firstReaction(
  tracePath: string,
  role: string,
  since: number,
  events: string[],
): Promise<number | null> {
  const reaction = (e: TracedEvent) =>
    e.ts >= since && e.role === "watchdog" && e.peer === role && events.includes(e.event);
  const e = (await waitForTrace(tracePath, (all) => all.some(reaction)))?.find(reaction);
  return e ? e.ts - since : null;
}

function answersCheck(records: RequestRecord[]): Check[] {
  const wrong = records.filter((r) => r.got !== null && r.got !== expectedAnswer(r.line));
  const missing = records.filter((r) => r.got === null);
  return [
    { what: "requests sent under load", ok: records.length > 0, detail: String(records.length) },
    {
      what: "every request answered, and right",
      ok: wrong.length === 0 && missing.length === 0,
      detail: wrong.length + missing.length === 0
        ? `${records.length} right answers`
        : `${wrong.length} wrong (${
          wrong.slice(0, 2).map((w) => `${w.line} → ${w.got}`).join("; ")
        }), ` +
          `${missing.length} unanswered (${missing.slice(0, 2).map((m) => m.failure).join("; ")})`,
    },
  ];
}

function leftoverChecks(stop: StopReport, segmentName: string, zombies: ZombieWatch): Check[] {
  const orphans = processesMentioning(segmentName);
  return [
    {
      what: "watchdog stopped cleanly",
      ok: stop.watchdog.code === 0,
      detail: `exit code ${stop.watchdog.code}`,
    },
    {
      what: "no lasting zombie (sampled every 100 ms)",
      ok: zombies.lasting.size === 0,
      detail: [...zombies.lasting].join(", ") || "none",
    },
    {
      what: "no orphan role process",
      ok: orphans.length === 0,
      detail: orphans.map((o) => o.pid).join(", ") || "none",
    },
    {
      what: "nothing left behind",
      ok: isClean(stop.leftovers),
      detail: JSON.stringify(stop.leftovers),
    },
  ];
}

function finish(
  base: Omit<FailureReport, "passed" | "timeline" | "diagram">,
  since: number,
): FailureReport {
  // The run is over: this process's own events are written, and its tracing ends.
  closeTrace();
  const events = readTrace(base.tracePath).filter((e) =>
    e.ts >= since - 20 &&
    (e.role === "watchdog" || e.role === "scenario" ||
      ["ready", "worker lost", "parent gone"].includes(e.event))
  );
  const outDir = base.tracePath.slice(0, base.tracePath.lastIndexOf("/"));
  return {
    ...base,
    timeline: formatTimeline(events.slice(0, 30)),
    diagram: renderTrace(base.tracePath, outDir, `scenario ${base.name} (${base.stage})`),
    passed: base.checks.every((c) => c.ok),
  };
}

/** Runs one failure scenario; it always stops the system and checks what was left. */
export async function runFailureScenario(options: FailureOptions): Promise<FailureReport> {
  const name = options.name;
  const stage = options.stage ?? "client-calls-worker";
  const outDir = options.outDir ?? `out/${name}`;
  const tracePath = freshTraceFile(`${outDir}/trace.jsonl`);
  setupLogging(options.logLevel ?? "error", { path: tracePath, role: "scenario" });
  const systemOptions = {
    stage,
    workers: options.workers ?? 3,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 1000,
    tracePath,
    logLevel: options.logLevel ?? "error",
  };
  if (name === "watchdog-crash") {
    return await watchdogCrash(systemOptions, tracePath, options.clients ?? 4, options.signal);
  }
  const system = await startSystem(systemOptions);
  options.signal?.addEventListener("abort", () => void system.stop(), { once: true });
  const zombies = new ZombieWatch(() => [system.watchdog.pid]);
  const load = new LoadGenerator(system.port, options.clients ?? 4);
  let detectionMs: number | null = null;
  let servedAgainMs: number | null = null;
  const checks: Check[] = [];
  let t0 = 0;
  let records: RequestRecord[];
  let stop: StopReport;
  try {
    await sleep(300);
    const target = name === "dispatcher-crash"
      ? "dispatcher"
      : name === "crash-loop"
      ? "worker 2"
      : "worker 1";
    const { slot } = system.role(target);
    const generation = system.segment.slot(slot).get("generation");
    const workerPids = system.roles.filter((r) => r.name.startsWith("worker")).map((r) => r.pid);
    if (name === "crash-loop") system.crashAtStart(target, true);
    const signal = name === "worker-freeze" ? "SIGSTOP" : "SIGKILL";
    t0 = performance.timeOrigin + performance.now();
    traceEvent({ event: `inject ${signal}`, channel: "signal", peer: target });
    const pid = system.signal(target, signal);
    if (name === "crash-loop") {
      const took = await system.waitFor(
        `${target} marked failed`,
        (s) => s.segment.slot(slot).get("state") === ROLE_STATE.failed,
        20_000,
      ).catch(() => null);
      detectionMs = await firstReaction(tracePath, target, t0, ["exit"]);
      servedAgainMs = took;
      const restarts = system.segment.slot(slot).get("restarts");
      checks.push(
        {
          what: "crash detected",
          ok: detectionMs !== null && detectionMs < 500,
          detail: `${detectionMs?.toFixed(1)} ms`,
        },
        {
          what: `${target} restarted with growing delays, then marked failed`,
          ok: took !== null,
          detail: `${took?.toFixed(0)} ms, ${count(restarts, "restart")}`,
        },
        { what: "5 restarts before giving up", ok: restarts === 5, detail: String(restarts) },
      );
      await sleep(300);
    } else {
      const took = await system.waitFor(
        `${target} restarted and ready`,
        (s) => {
          const sl = s.segment.slot(slot);
          return sl.get("generation") > generation && sl.get("state") === ROLE_STATE.ready;
        },
        name === "worker-freeze" ? 10_000 : 5000,
      ).catch(() => null);
      servedAgainMs = took;
      detectionMs = await firstReaction(
        tracePath,
        target,
        t0,
        name === "worker-freeze" ? ["frozen"] : ["exit"],
      );
      const hb = options.heartbeatTimeoutMs ?? 1000;
      const limit = name === "worker-freeze" ? hb + 1000 : 500;
      checks.push(
        {
          what: name === "worker-freeze" ? "freeze detected (heartbeat timeout)" : "crash detected",
          ok: detectionMs !== null && detectionMs < limit,
          detail: `${detectionMs?.toFixed(1)} ms (bound ${limit} ms)`,
        },
        {
          what: `${target} restarted and ready again`,
          ok: took !== null,
          detail: `${took?.toFixed(0)} ms after the fault`,
        },
        { what: `old ${target} process gone`, ok: !isRunning(pid), detail: `pid ${pid}` },
      );
      if (name === "dispatcher-crash") {
        const same = system.roles.filter((r) => r.name.startsWith("worker")).map((r) => r.pid);
        checks.push({
          what: "workers kept running (not restarted)",
          ok: same.join() === workerPids.join(),
          detail: `${workerPids.join(",")} → ${same.join(",")}`,
        });
      }
      await sleep(500);
    }
  } finally {
    records = await load.stop();
    if (name === "crash-loop") system.crashAtStart("worker 2", false);
    zombies.stop();
    stop = await system.stop();
  }
  checks.push(...answersCheck(records), ...leftoverChecks(stop, system.segmentName, zombies));
  return finish({ name, stage, detectionMs, servedAgainMs, records, checks, tracePath }, t0);
}

/** SIGKILL the watchdog: no orphan within 1 s; the next start cleans up and serves. */
async function watchdogCrash(
  systemOptions: Parameters<typeof startSystem>[0],
  tracePath: string,
  clients: number,
  signal?: AbortSignal,
): Promise<FailureReport> {
  // Orphaned roles are re-parented here, not to init: this process reaps them (and sees them).
  becomeSubreaper();
  const instance = `wd${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  const first = await startSystem({ ...systemOptions, instance });
  signal?.addEventListener("abort", () => void first.stop(), { once: true });
  const checks: Check[] = [];
  const load = new LoadGenerator(first.port, clients);
  await sleep(300);
  const before = await load.stop();
  // Its roles and its standby.
  const pids = first.processes();
  const t0 = performance.timeOrigin + performance.now();
  traceEvent({ event: "inject SIGKILL", channel: "signal", peer: "watchdog" });
  const start = performance.now();
  first.watchdog.kill("SIGKILL");
  await first.watchdog.status;
  while (pids.some(isRunning) && performance.now() - start < 3000) await sleep(5);
  const goneMs = performance.now() - start;
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
    ok: (() => {
      try {
        return Deno.statSync(first.runtimeDir).isDirectory;
      } catch {
        return false;
      }
    })(),
    detail: first.runtimeDir,
  });
  const second = await startSystem({ ...systemOptions, instance });
  signal?.addEventListener("abort", () => void second.stop(), { once: true });
  const servedAgainMs = performance.timeOrigin + performance.now() - t0;
  const zombies = new ZombieWatch(() => [second.watchdog.pid]);
  const after = new LoadGenerator(second.port, clients);
  await sleep(500);
  const records = [...before, ...await after.stop()];
  zombies.stop();
  const stop = await second.stop();
  checks.push(
    {
      what: "the next start cleaned up and served",
      ok: records.length > before.length,
      detail: `${servedAgainMs.toFixed(0)} ms after the kill`,
    },
    ...answersCheck(records),
    ...leftoverChecks(stop, second.segmentName, zombies),
  );
  return finish({
    name: "watchdog-crash",
    stage: systemOptions.stage,
    detectionMs: goneMs,
    servedAgainMs,
    records,
    checks,
    tracePath,
  }, t0);
}
