/**
 * Chaos: a verified load (8 clients, every answer checked) while a seeded injector sends random
 * fatal signals — SIGKILL, SIGSTOP, SIGABRT, SIGTRAP, SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGXCPU,
 * SIGSYS — into random roles and the standby, about one every 1.3 s; then the instance is stopped
 * and checked. It reports the requests, the wrong answers, the lost ones (each explained by the
 * fault that hit it in flight, or not), the restarts, the outages (the longest spells with no
 * right answer), the stop's time and what was left.
 *
 * The injector leaves a slot alone that it hit 3 times in the last 10 s: what is tested is the
 * recovery, not the crash-loop limit (5 restarts in 10 s), which `scenario:crash-loop` shows.
 *
 * @module
 */

import { isRunning, NoSuchProcessError, ROLE_STATE, sendSignal } from "../ipc/mod.ts";
import {
  closeTrace,
  count,
  freshTraceFile,
  injectEvent,
  setupLogging,
  type Stage,
  traceEvent,
} from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";
import type { RequestRecord } from "./clients.ts";
import { type RunningSystem, startSystem, type StopReport } from "./harness.ts";
import { LoadGenerator, quietSpells, seeded, ZombieWatch } from "./load.ts";
import { isClean, processesOfSegment } from "./proof.ts";
import { expectedAnswer } from "./stages.ts";

/** The signals the injector sends, each a way a process is stopped or dies. */
export const CHAOS_SIGNALS = [
  "SIGKILL",
  "SIGSTOP",
  "SIGABRT",
  "SIGTRAP",
  "SIGILL",
  "SIGFPE",
  "SIGSEGV",
  "SIGBUS",
  "SIGXCPU",
  "SIGSYS",
] as const;

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** The stage. */
  stage: Stage;
  /** How long the faults last, s (default 180). */
  seconds?: number;
  /** The injector's seed (default 1). */
  seed?: number;
  /** Concurrent clients (default 8). */
  clients?: number;
  /** Workers (default 4). */
  workers?: number;
  /** Mean time between two faults, ms (default 1300: about 140 faults in 3 minutes). */
  meanIntervalMs?: number;
  /** The watchdog's heartbeat timeout, ms (default 1000). */
  heartbeatTimeoutMs?: number;
  /** Where the run's trace goes (default: none). */
  tracePath?: string;
  /** Aborting it ends the faults early: the load stops, the system is stopped and checked. */
  signal?: AbortSignal;
}

/** One injected fault. */
export interface ChaosFault {
  /** When, ms after the start of the faults. */
  atMs: number;
  /** The signal. */
  signal: typeof CHAOS_SIGNALS[number];
  /** Whom it hit: `dispatcher`, `worker k`, `standby`. */
  target: string;
  /** Its pid. */
  pid: number;
}

/** A spell with no right answer to any client. */
export interface Outage {
  /** When it began (the last right answer before it), ms after the start of the faults. */
  fromMs: number;
  /** How long it lasted, ms. */
  ms: number;
  /** The faults that came just before or during it. */
  causes: string[];
}

/** What a chaos run saw. */
export interface ChaosReport {
  /** The stage. */
  stage: Stage;
  /** The seed. */
  seed: number;
  /** Seconds of faults. */
  seconds: number;
  /** The faults injected. */
  faults: ChaosFault[];
  /** Requests sent. */
  sent: number;
  /** Right OK answers. */
  ok: number;
  /** Answers that were not the right one, and not a specified ERR: each one is a failure. */
  wrong: RequestRecord[];
  /** Requests with no right answer (no answer, or an ERR), each with what explains it. */
  lost: { record: RequestRecord; explained: string | null }[];
  /** Spells of more than 200 ms with no right answer, longest first. */
  outages: Outage[];
  /** The watchdog's heartbeat timeout, ms (a frozen dispatcher's outage lasts about as long). */
  heartbeatTimeoutMs: number;
  /** Restarts by role, as the registry had them at the end. */
  restarts: Record<string, number>;
  /** Whether the watchdog ran until the stop (it never exited on its own). */
  watchdogSurvived: boolean;
  /** How long the graceful stop took, ms. */
  stopMs: number;
  /** How the instance ended and what it left. */
  stop: StopReport;
  /** Zombies seen in two samples in a row. */
  zombiesLasting: number;
  /** Role processes still running after the stop. */
  orphans: number;
  /** Whether it was interrupted before its time was up. */
  interrupted: boolean;
  /** Whether it passed (see {@link chaosVerdicts}). */
  passed: boolean;
}

/**
 * The longest an outage may last, ms: 1 s; but a frozen dispatcher serves nobody until the
 * watchdog sees its heartbeat is stale: then the heartbeat timeout and 500 ms.
 */
export function outageBoundMs(outage: Outage, heartbeatTimeoutMs: number): number {
  return outage.causes.includes("SIGSTOP dispatcher") ? heartbeatTimeoutMs + 500 : 1000;
}

/** The checks of a chaos run, each with its verdict. */
export function chaosVerdicts(r: Omit<ChaosReport, "passed">): { what: string; ok: boolean }[] {
  const unexplained = r.lost.filter((l) => l.explained === null).length;
  const over = r.outages.filter((o) => o.ms > outageBoundMs(o, r.heartbeatTimeoutMs));
  return [
    { what: `no wrong answer (${r.wrong.length})`, ok: r.wrong.length === 0 },
    {
      what: `every request lost was in flight on a role hit by a fault (${unexplained} not)`,
      ok: unexplained === 0,
    },
    { what: "the watchdog ran until the stop", ok: r.watchdogSurvived },
    {
      what: `no outage longer than its bound (1 s; a frozen dispatcher's: the heartbeat ` +
        `timeout + 500 ms)${over.length ? `: ${over.map((o) => `${o.ms.toFixed(0)} ms`)}` : ""}`,
      ok: over.length === 0,
    },
    { what: "right answers all along", ok: r.ok > 0 },
    { what: "a clean stop (watchdog exit 0)", ok: r.stop.watchdog.code === 0 },
    {
      what: "nothing left: no lasting zombie, no orphan, no pipe, directory or segment",
      ok: r.zombiesLasting === 0 && r.orphans === 0 && isClean(r.stop.leftovers),
    },
  ];
}

/** The replies that are specified answers, not wrong ones: back-pressure and the stop. */
const SPECIFIED = /^ERR (busy|shutting-down|timeout|unavailable)( |$)/;

/** Picks the next fault's target and signal, leaving alone what cannot or should not be hit. */
function pickFault(
  system: RunningSystem,
  random: () => number,
  recent: Map<string, number[]>,
  now: number,
): { target: string; pid: number; signal: ChaosFault["signal"] } | null {
  const candidates: { target: string; pid: number }[] = [];
  for (const r of system.roles) {
    const state = system.segment.slot(r.slot).get("state");
    if (state === ROLE_STATE.ready || state === ROLE_STATE.busy) {
      candidates.push({ target: r.name, pid: r.pid });
    }
  }
  const standby = system.standbyPid();
  if (standby !== null && isRunning(standby)) candidates.push({ target: "standby", pid: standby });
  const allowed = candidates.filter((c) =>
    (recent.get(c.target) ?? []).filter((t) => now - t < 10_000).length < 3
  );
  if (allowed.length === 0) return null;
  const chosen = allowed[Math.floor(random() * allowed.length)];
  const signal = CHAOS_SIGNALS[Math.floor(random() * CHAOS_SIGNALS.length)];
  return { ...chosen, signal };
}

/** The spells with no right answer (see {@link quietSpells}), and the faults that may explain each. */
function outagesOf(records: RequestRecord[], start: number, end: number, faults: ChaosFault[]) {
  return quietSpells(records, start, end, 200).map(({ from, ms }): Outage => ({
    fromMs: from - start,
    ms,
    causes: faults.filter((f) => f.atMs + start >= from - 1500 && f.atMs + start <= from + ms)
      .map((f) => `${f.signal} ${f.target}`),
  }));
}

/** Runs chaos on one stage; the system is stopped and checked whatever happens. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const seconds = options.seconds ?? 180;
  const seed = options.seed ?? 1;
  const random = seeded(seed);
  const meanMs = options.meanIntervalMs ?? 1300;
  const heartbeatMs = options.heartbeatTimeoutMs ?? 1000;
  if (options.tracePath) {
    setupLogging("fatal", { path: freshTraceFile(options.tracePath), role: "chaos" });
  }
  const system = await startSystem({
    stage: options.stage,
    workers: options.workers ?? 4,
    heartbeatTimeoutMs: heartbeatMs,
    tracePath: options.tracePath,
    logLevel: "fatal",
  });
  const zombies = new ZombieWatch(() => [system.watchdog.pid]);
  const load = new LoadGenerator(system.port, options.clients ?? 8);
  const faults: ChaosFault[] = [];
  const recent = new Map<string, number[]>();
  let watchdogSurvived = true;
  const start = performance.now();
  let end = start;
  let stop: StopReport;
  let records: RequestRecord[];
  let stopMs = 0;
  try {
    while (performance.now() - start < seconds * 1000 && !options.signal?.aborted) {
      // Exponential waits: faults come at random, sometimes close together.
      await sleep(-Math.log(1 - random()) * meanMs, options.signal).catch((e) => {
        if (!options.signal?.aborted) throw e;
      });
      if (options.signal?.aborted) break;
      if (!isRunning(system.watchdog.pid)) {
        watchdogSurvived = false;
        break;
      }
      const now = performance.now();
      const fault = pickFault(system, random, recent, now);
      if (fault === null) continue;
      try {
        sendSignal(fault.pid, fault.signal);
      } catch (e) {
        // Gone between the pick and the signal (it was being replaced): nothing hit.
        if (e instanceof NoSuchProcessError) continue;
        throw e;
      }
      recent.set(fault.target, [...(recent.get(fault.target) ?? []), now]);
      faults.push({ atMs: now - start, ...fault });
      traceEvent({ event: injectEvent(fault.signal), channel: "signal", peer: fault.target });
    }
    // The last faults are detected and recovered from, under load.
    await sleep(heartbeatMs + 1500);
  } finally {
    end = performance.now();
    records = await load.stop();
    zombies.stop();
    watchdogSurvived &&= isRunning(system.watchdog.pid);
    const t = performance.now();
    stop = await system.stop();
    stopMs = performance.now() - t;
    closeTrace();
  }
  const restarts = stop.roles;
  const answered = records.filter((r) => r.got !== null);
  const ok = answered.filter((r) => r.got === expectedAnswer(r.line)).length;
  const wrong = answered.filter((r) => r.got !== expectedAnswer(r.line) && !SPECIFIED.test(r.got!));
  const lost = records.filter((r) => r.got === null || SPECIFIED.test(r.got)).map((record) => {
    // In flight when a fault hit (or within the heartbeat timeout after one: a frozen role holds
    // what it has until it is killed).
    const from = record.sentAt! - start - heartbeatMs - 500;
    const to = record.sentAt! + record.latencyMs - start;
    const hit = faults.find((f) => f.atMs >= from && f.atMs <= to);
    return {
      record,
      explained: hit ? `in flight when ${hit.target} got ${hit.signal}` : null,
    };
  });
  const base = {
    stage: options.stage,
    seed,
    seconds,
    faults,
    sent: records.length,
    ok,
    wrong,
    lost,
    outages: outagesOf(records, start, end, faults),
    heartbeatTimeoutMs: heartbeatMs,
    restarts: Object.fromEntries(Object.entries(restarts).map(([n, o]) => [n, o.restarts])),
    watchdogSurvived,
    stopMs,
    stop,
    zombiesLasting: zombies.lasting.size,
    orphans: processesOfSegment(system.segmentName).length,
    interrupted: options.signal?.aborted ?? false,
  };
  const passed = !base.interrupted && chaosVerdicts(base).every((v) => v.ok);
  return { ...base, passed };
}

/** A chaos report as lines of text. */
export function formatChaos(r: ChaosReport): string[] {
  const bySignal = CHAOS_SIGNALS.map((s) => [s, r.faults.filter((f) => f.signal === s).length])
    .filter(([, n]) => n).map(([s, n]) => `${s} ${n}`).join(", ");
  const byTarget = [...new Set(r.faults.map((f) => f.target))].sort()
    .map((t) => `${t} ${r.faults.filter((f) => f.target === t).length}`).join(", ");
  const errs: Record<string, number> = {};
  for (const { record } of r.lost) {
    const code = record.got === null ? "no answer" : record.got.split(" ").slice(0, 2).join(" ");
    errs[code] = (errs[code] ?? 0) + 1;
  }
  const lines = [
    `chaos ${r.stage} (seed ${r.seed}): ${r.seconds} s, ${count(r.faults.length, "fault")}: ${
      bySignal || "none"
    }`,
    `  into: ${byTarget || "nothing"}`,
    `  requests ${r.sent}, right ${r.ok}, wrong ${r.wrong.length}, lost ${r.lost.length}` +
    (r.lost.length
      ? ` (${Object.entries(errs).map(([c, n]) => `${c} ${n}`).join(", ")}; ${
        r.lost.filter((l) => l.explained !== null).length
      } in flight on a role hit by a fault)`
      : ""),
    `  restarts: ${Object.entries(r.restarts).map(([n, k]) => `${n} ${k}`).join(", ")}`,
    `  outages (no right answer for over 200 ms): ${r.outages.length}${
      r.outages.length
        ? `, longest ${
          r.outages.slice(0, 3).map((o) =>
            `${o.ms.toFixed(0)} ms at ${(o.fromMs / 1000).toFixed(1)} s (${
              o.causes.join(", ") || "no fault"
            })`
          ).join("; ")
        }`
        : ""
    }`,
    `  stop: ${r.stopMs.toFixed(0)} ms, watchdog exit ${r.stop.watchdog.code}; zombies ` +
    `${r.zombiesLasting}, orphans ${r.orphans}, leftovers ${
      isClean(r.stop.leftovers) ? "none" : JSON.stringify(r.stop.leftovers)
    }`,
    ...r.wrong.slice(0, 3).map((w) => `  WRONG: ${w.line} → ${w.got}`),
    ...r.lost.filter((l) => l.explained === null).slice(0, 3)
      .map((l) => `  LOST, unexplained: ${l.record.line} → ${l.record.got ?? l.record.failure}`),
  ];
  for (const v of chaosVerdicts(r)) lines.push(`  ${v.ok ? "ok  " : "FAIL"} ${v.what}`);
  lines.push(`  ${r.interrupted ? "INTERRUPTED" : r.passed ? "PASS" : "FAIL"}`);
  return lines;
}
