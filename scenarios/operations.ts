/**
 * The operation scenarios: what an operator does to a loaded system, and what it must not cost.
 * Each runs 8 clients whose every answer is checked, and a prober that opens a connection to the
 * dispatcher's port every 10 ms and counts the refused ones, then does one thing:
 *
 * - `reload`: a rolling reload (SIGHUP): every role replaced, one at a time; how long it took;
 * - `scale`: 4 workers → 8 → 2 → 4; each new worker takes work once ready (how soon is shown;
 *   bench:recovery holds it to its target);
 * - `recycle`: `--max-requests 500 --max-requests-jitter 50`: workers replaced as they reach
 *   their budget, never two at once;
 * - `strategy`: `--strategy one-for-all`, a worker SIGKILLed: every role restarts, and the system
 *   serves again (how soon is shown; bench:recovery holds it to its target of 300 ms).
 *
 * and checks: every request answered right, none lost, no connection refused, nothing left.
 *
 * @module
 */

import { ROLE_STATE } from "../ipc/mod.ts";
import {
  closeTrace,
  freshTraceFile,
  injectEvent,
  setupLogging,
  type Stage,
  traceEvent,
} from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";
import {
  answersCheck,
  type Check,
  interruptibly,
  leftoverChecks,
  type ScenarioReport,
} from "./checks.ts";
import type { RequestRecord } from "./clients.ts";
import { renderTrace } from "./diagram_render.ts";
import { type RunningSystem, startSystem, type StopReport, type SystemOptions } from "./harness.ts";
import { ConnectProbe, LoadGenerator, quietSpells, ZombieWatch } from "./load.ts";
import { expectedAnswer } from "./stages.ts";
import type { TracedEvent, TraceEventKind } from "../roles/mod.ts";
import { formatTimeline, readTrace } from "./timeline.ts";

/** The operation scenarios, in the order they are listed. */
export const OPERATIONS = ["reload", "scale", "recycle", "strategy"] as const;

/** One operation scenario's name. */
export type OperationName = typeof OPERATIONS[number];

/** What one operation scenario does and checks. */
interface OperationCase {
  /** What it does, in a line (for --help and the docs). */
  summary: string;
  /** The options its system starts with, beyond the stage. */
  system: Partial<SystemOptions>;
  /** Does the operation under load; returns its checks and figures. */
  run: (system: RunningSystem, t0: number, signal?: AbortSignal) => Promise<Check[]>;
}

/** The watchdog's events of the run so far. */
function watchdogEvents(system: RunningSystem, name?: TraceEventKind): TracedEvent[] {
  return system.trace().filter((e) => e.role === "watchdog" && (!name || e.event === name));
}

/** Waits (bounded) until the watchdog's trace holds an event `name` (or `failed`) since `t0`. */
async function watchdogSaid(
  system: RunningSystem,
  names: TraceEventKind[],
  t0: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<TracedEvent | null> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const e = watchdogEvents(system).find((e) => e.ts >= t0 && names.includes(e.event));
    if (e) return e;
    await sleep(50, signal);
  }
  return null;
}

/** The pids of the dispatcher and the workers now. */
function pids(system: RunningSystem): Map<string, number> {
  return new Map(system.roles.map((r) => [r.name, r.pid]));
}

const CASES: Record<OperationName, OperationCase> = {
  reload: {
    summary: "a rolling reload under load (SIGHUP): every role replaced, nothing lost or refused",
    system: {},
    run: async (system, t0, signal) => {
      const before = pids(system);
      system.reload();
      const end = await watchdogSaid(system, ["reloaded", "reload stopped"], t0, 60_000, signal);
      const after = pids(system);
      const same = [...before].filter(([name, pid]) => after.get(name) === pid).map(([n]) => n);
      return [
        {
          what: "the reload completed",
          ok: end?.event === "reloaded",
          detail: end === null ? "not within 60 s" : `${end.event} ${end.detail ?? ""}`,
        },
        {
          what: "every role runs a new process",
          ok: same.length === 0,
          detail: same.length ? `still the old process: ${same.join(", ")}` : [...after].map(([
            n,
            p,
          ]) => `${n} ${before.get(n)} → ${p}`).join(", "),
        },
      ];
    },
  },
  scale: {
    summary: "scale 4 → 8 → 2 → 4 under load: workers added take work, removed ones finish theirs",
    system: {},
    run: async (system, _t0, signal) => {
      const checks: Check[] = [];
      for (const n of [8, 2, 4]) {
        const from = system.roles.filter((r) => r.kind === "worker").map((r) => r.name);
        const t = performance.timeOrigin + performance.now();
        const took = performance.now();
        await system.scale(n);
        checks.push({
          what: `scaled to ${n} workers`,
          ok: true,
          detail: `${from.length} → ${n} in ${(performance.now() - took).toFixed(0)} ms`,
        });
        await sleep(1000, signal);
        const added = system.roles.filter((r) => r.kind === "worker" && !from.includes(r.name));
        for (const w of added) checks.push(firstWork(system, w.name, t));
      }
      return checks;
    },
  },
  recycle: {
    summary: "--max-requests 200 ± 20 under load: workers recycled as asked, never two at once",
    system: { maxRequests: 200, maxRequestsJitter: 20 },
    run: async (system, t0, signal) => {
      const recycled = () =>
        watchdogEvents(system, "retired").filter((e) =>
          e.ts >= t0 && /^recycle/.test(e.detail ?? "")
        );
      // Bounded generously: 8 recycles take some 2 000 requests, seconds on a loaded machine.
      const until = performance.now() + 60_000;
      while (recycled().length < 8 && performance.now() < until) await sleep(100, signal);
      const n = recycled().length;
      return [
        { what: "workers recycled (8 wanted)", ok: n >= 8, detail: `${n} in the run` },
        atMostOneAtATime(watchdogEvents(system).filter((e) => e.ts >= t0)),
      ];
    },
  },
  strategy: {
    summary: "--strategy one-for-all, a worker SIGKILLed under load: every role restarts",
    system: { strategy: "one-for-all" },
    run: async (system, t0, signal) => {
      const before = pids(system);
      traceEvent({ event: injectEvent("SIGKILL"), channel: "signal", peer: "worker 2" });
      system.signal("worker 2", "SIGKILL");
      await system.waitFor(
        "every role restarted and ready",
        (s) => {
          const now = pids(s);
          return [...before].every(([name, pid]) => now.get(name) !== pid) &&
            s.roles.every((r) => s.segment.slot(r.slot).get("state") === ROLE_STATE.ready);
        },
        10_000,
        signal,
      );
      await sleep(1000, signal);
      const after = pids(system);
      return [{
        what: "every role restarted with the worker",
        ok: [...before].every(([name, pid]) => after.get(name) !== pid),
        detail: [...after].map(([n, p]) => `${n} ${before.get(n)} → ${p}`).join(", "),
      }, {
        what: "restarts traced as the strategy's",
        ok: watchdogEvents(system, "group restart").filter((e) => e.ts >= t0).length ===
          before.size - 1,
        detail: `${watchdogEvents(system, "group restart").length} group restarts`,
      }];
    },
  },
};

/** What each operation scenario does, in a line. */
export const OPERATION_SUMMARIES: Readonly<Record<OperationName, string>> = Object.fromEntries(
  OPERATIONS.map((name) => [name, CASES[name].summary]),
) as Record<OperationName, string>;

/** How long after `t` (epoch ms) worker `name` took its first order, its ready event on. */
function firstWork(system: RunningSystem, name: string, t: number): Check {
  const trace = system.trace().filter((e) => e.ts >= t);
  const ready = trace.find((e) => e.role === "watchdog" && e.event === "ready" && e.peer === name);
  const work = trace.find((e) =>
    e.role === name && e.event === "order" && e.peer === "dispatcher" && e.req !== undefined
  );
  const ms = ready && work ? work.ts - ready.ts : null;
  return {
    what: `${name}, added, takes work once ready`,
    ok: ms !== null,
    detail: ms === null
      ? (ready ? "no work taken" : "never ready")
      : `its first order ${
        ms.toFixed(0)
      } ms after its ready event (target ≤ 100 ms: bench:recovery)`,
  };
}

/** From the watchdog's events: no two workers retired at once (drain → its replacement ready). */
function atMostOneAtATime(events: TracedEvent[]): Check {
  const draining = new Set<string>();
  let most = 0;
  for (const e of events) {
    if (e.event === "drain" && e.peer) draining.add(e.peer);
    else if (e.event === "ready" && e.peer) draining.delete(e.peer);
    most = Math.max(most, draining.size);
  }
  return {
    what: "never two workers recycled at once",
    ok: most <= 1,
    detail: `at most ${most} at a time`,
  };
}

/** Options of {@link runOperationScenario}. */
export interface OperationOptions {
  /** Which operation. */
  name: OperationName;
  /** The stage (default client-calls-worker, the ideal one). */
  stage?: Stage;
  /** Concurrent clients under load (default 8). */
  clients?: number;
  /** Where the trace goes (default `out/<name>`). */
  outDir?: string;
  /** Aborting it ends the scenario where it is; the system is stopped and checked. */
  signal?: AbortSignal;
}

/** What an operation scenario saw. */
export interface OperationReport extends ScenarioReport {
  /** The scenario. */
  name: OperationName;
  /** Connections the prober opened that were refused, and accepted. */
  connections: { refused: number; accepted: number };
  /** The longest spell without a right answer from the operation on, ms. */
  outageMs: number;
}

/** Runs one operation scenario; it always stops the system and checks what was left. */
export async function runOperationScenario(options: OperationOptions): Promise<OperationReport> {
  const { name, signal } = options;
  const c = CASES[name];
  const stage = options.stage ?? "client-calls-worker";
  const outDir = options.outDir ?? `out/${name}`;
  const tracePath = freshTraceFile(`${outDir}/trace.jsonl`);
  setupLogging("error", { path: tracePath, role: "scenario" });
  const system = await startSystem({
    stage,
    workers: 4,
    tracePath,
    logLevel: "error",
    ...c.system,
  });
  const zombies = new ZombieWatch(() => [system.watchdog.pid]);
  const load = new LoadGenerator(system.port, options.clients ?? 8);
  const probe = new ConnectProbe(system.port);
  const checks: Check[] = [];
  let t0 = performance.timeOrigin + performance.now();
  let records: RequestRecord[] = [];
  let end = 0;
  let stop: StopReport;
  try {
    await interruptibly(signal, async () => {
      await sleep(500, signal);
      t0 = performance.timeOrigin + performance.now();
      traceEvent({ event: "operation", channel: "process", detail: `${name} begins` });
      checks.push(...await c.run(system, t0, signal));
      await sleep(500, signal);
    });
  } finally {
    end = performance.now();
    records = await load.stop();
    await probe.stop();
    zombies.stop();
    stop = await system.stop();
  }
  const outageMs = quietSpells(records, t0 - performance.timeOrigin, end, 0)[0]?.ms ?? 0;
  checks.push(
    {
      what: "no connection refused",
      ok: probe.refused === 0,
      detail: `${probe.refused} refused of ${probe.refused + probe.accepted}`,
    },
    ...answersCheck(records),
    ...leftoverChecks(stop, system.segmentName, zombies.lasting),
  );
  if (name === "strategy") {
    const after = records.filter((r) =>
      r.sentAt !== undefined && performance.timeOrigin + r.sentAt > t0 + outageMs &&
      r.got === expectedAnswer(r.line)
    ).length;
    checks.push({
      what: "served again once every role restarted",
      ok: after > 0,
      detail: `${after} right answers after the longest spell without one, ${
        outageMs.toFixed(0)
      } ms (target ≤ 300 ms: bench:recovery)`,
    });
  }
  closeTrace();
  const interrupted = signal?.aborted ?? false;
  const events = readTrace(tracePath).filter((e) => e.ts >= t0 - 20 && e.role === "watchdog");
  return {
    name,
    stage,
    records,
    connections: { refused: probe.refused, accepted: probe.accepted },
    outageMs,
    checks,
    timeline: formatTimeline(events.slice(0, 40), t0),
    tracePath,
    diagram: renderTrace(tracePath, outDir, {
      title: `scenario ${name} (${stage})`,
      origin: { ts: t0, label: "the operation, as in the printed timeline" },
    }),
    interrupted,
    passed: !interrupted && checks.every((x) => x.ok),
  };
}
