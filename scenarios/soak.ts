/**
 * The soak: for each stage, 8 clients send a continuous mix of requests for S seconds while a
 * fault injector, on a seeded schedule, SIGKILLs a random worker every 2 s, SIGSTOPs one every
 * 5 s, and SIGKILLs the dispatcher once. The promise under test: nothing is lost, nothing is
 * answered wrong, nothing is left behind.
 *
 * @module
 */

import { NoSuchProcessError, ROLE_STATE } from "../ipc/mod.ts";
import type { Stage } from "../roles/mod.ts";
import { startSystem, type StopReport } from "./harness.ts";
import { LoadGenerator, seeded, ZombieWatch } from "./load.ts";
import { isClean, processesOfSegment } from "./proof.ts";
import { expectedAnswer } from "./stages.ts";
import { sleep } from "../roles/timers.ts";

/** Options of {@link runSoak}. */
export interface SoakOptions {
  /** The stage. */
  stage: Stage;
  /** How long the load and the faults last, s (default 60). */
  seconds?: number;
  /** The fault schedule's seed (default 1). */
  seed?: number;
  /** Concurrent clients (default 8). */
  clients?: number;
  /** Workers (default 4). */
  workers?: number;
  /** Aborting it ends the soak early: the load stops, the system is stopped and checked. */
  signal?: AbortSignal;
}

/** One injected fault. */
export interface Fault {
  /** When, ms after the start of the load. */
  atMs: number;
  /** SIGKILL or SIGSTOP. */
  signal: "SIGKILL" | "SIGSTOP";
  /** The role it hit. */
  role: string;
  /** Its pid. */
  pid: number;
}

/** What a soak of one stage saw. */
export interface SoakReport {
  /** The stage. */
  stage: Stage;
  /** Seconds of load. */
  seconds: number;
  /** The faults injected. */
  faults: Fault[];
  /** Requests sent. */
  sent: number;
  /** Right OK answers. */
  ok: number;
  /** OK answers with a wrong result. */
  wrong: number;
  /** ERR answers by code. */
  errors: Record<string, number>;
  /** Requests with no answer at all. */
  unanswered: number;
  /** The first few requests that were not answered right, with what came back or why not. */
  samples: string[];
  /** Times clients sent a request again. */
  retries: number;
  /** Slowest answer, ms. */
  maxLatencyMs: number;
  /** Restarts by role, and roles marked failed. */
  stop: StopReport;
  /** Zombie sightings (momentary ones included: a child between its exit and its reap). */
  zombiesSeen: number;
  /** Zombies seen in two samples in a row (a reap that did not happen). */
  zombiesLasting: number;
  /** Role processes of the instance still running after the stop. */
  orphans: number;
  /** Whether it was interrupted (its signal aborted) before its time was up. */
  interrupted: boolean;
  /** Whether it passed: 0 wrong, 0 unanswered, 0 lasting zombies, orphans or leftovers, ≥ 99 % OK. */
  passed: boolean;
}

/** Soaks one stage; the system is stopped and checked whatever happens. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const seconds = options.seconds ?? 60;
  const workers = options.workers ?? 4;
  const random = seeded(options.seed ?? 1);
  const system = await startSystem({ stage: options.stage, workers, logLevel: "fatal" });
  const zombies = new ZombieWatch(() => [system.watchdog.pid]);
  const load = new LoadGenerator(system.port, options.clients ?? 8);
  const faults: Fault[] = [];
  const start = performance.now();
  const inject = (signal: Fault["signal"], role: string) => {
    try {
      const pid = system.signal(role, signal);
      faults.push({ atMs: performance.now() - start, signal, role, pid });
    } catch (e) {
      // The role is between two processes (being restarted): nothing to hit this time.
      if (!(e instanceof NoSuchProcessError)) throw e;
    }
  };
  const pickWorker = () => {
    // A worker that is up; a slot marked failed or restarting is left alone.
    const up = system.roles.filter((r) =>
      r.kind === "worker" && system.segment.slot(r.slot).get("state") !== ROLE_STATE.failed
    );
    return up[Math.floor(random() * up.length)]?.name;
  };
  const timers = [
    setInterval(() => {
      const w = pickWorker();
      if (w) inject("SIGKILL", w);
    }, 2000),
    setInterval(() => {
      const w = pickWorker();
      if (w) inject("SIGSTOP", w);
    }, 5000),
    setTimeout(() => inject("SIGKILL", "dispatcher"), Math.max(1000, (seconds * 1000) / 2 + 700)),
  ];
  let stop: StopReport;
  let records;
  try {
    await sleep(seconds * 1000, options.signal).catch((e) => {
      if (!options.signal?.aborted) throw e;
    });
  } finally {
    for (const t of timers) clearInterval(t);
    // Give the last fault time to be detected and recovered before the load stops.
    if (!options.signal?.aborted) await sleep(1500);
    records = await load.stop();
    zombies.stop();
    stop = await system.stop();
  }
  const errors: Record<string, number> = {};
  let ok = 0, wrong = 0, unanswered = 0, retries = 0, maxLatencyMs = 0;
  const samples: string[] = [];
  for (const r of records) {
    retries += r.retries ?? 0;
    maxLatencyMs = Math.max(maxLatencyMs, r.latencyMs);
    if (r.got !== null && r.got.startsWith("ERR ")) {
      const code = r.got.split(" ")[1];
      errors[code] = (errors[code] ?? 0) + 1;
    } else if (r.got !== null && r.got === expectedAnswer(r.line)) {
      ok++;
      continue;
    } else if (r.got === null) unanswered++;
    else wrong++;
    if (samples.length < 3) {
      samples.push(`${r.line} → ${r.got ?? `no answer (${r.failure})`}`);
    }
  }
  const orphans = processesOfSegment(system.segmentName).length;
  return {
    stage: options.stage,
    seconds,
    faults,
    sent: records.length,
    ok,
    wrong,
    errors,
    unanswered,
    samples,
    retries,
    maxLatencyMs,
    stop,
    zombiesSeen: zombies.momentary,
    zombiesLasting: zombies.lasting.size,
    orphans,
    interrupted: options.signal?.aborted ?? false,
    passed: !options.signal?.aborted && wrong === 0 && unanswered === 0 &&
      zombies.lasting.size === 0 && orphans === 0 &&
      isClean(stop.leftovers) && stop.watchdog.success && records.length > 0 &&
      ok / records.length >= 0.99,
  };
}

/** A soak report as lines of text. */
export function formatSoak(r: SoakReport): string[] {
  const errs = Object.entries(r.errors).map(([c, n]) => `${c} ${n}`).join(", ") || "none";
  const restarts = Object.entries(r.stop.roles).map(([name, o]) =>
    `${name} ${o.restarts}${o.failed ? " (failed)" : ""}`
  )
    .join(", ");
  const kinds = (s: string) => r.faults.filter((f) => f.signal === s).length;
  return [
    `soak ${r.stage}: ${r.seconds} s, faults: ${kinds("SIGKILL")} SIGKILL (dispatcher ${
      r.faults.filter((f) => f.role === "dispatcher").length
    }), ${kinds("SIGSTOP")} SIGSTOP`,
    `  requests ${r.sent}, OK ${r.ok} (${
      ((100 * r.ok) / Math.max(1, r.sent)).toFixed(2)
    } %), wrong ${r.wrong}, ` +
    `ERR by code: ${errs}, no answer ${r.unanswered}, retries ${r.retries}, max latency ${
      r.maxLatencyMs.toFixed(0)
    } ms`,
    `  restarts: ${restarts}`,
    ...r.samples.map((s) => `  not answered right: ${s}`),
    `  zombies: ${r.zombiesLasting} lasting (seen in two samples 100 ms apart), ${r.zombiesSeen} momentary sightings; ` +
    `orphans ${r.orphans}; leftovers ${
      isClean(r.stop.leftovers) ? "none" : JSON.stringify(r.stop.leftovers)
    }`,
    `  ${
      r.interrupted ? "INTERRUPTED" : r.passed ? "PASS" : "FAIL"
    } (0 wrong, 0 unanswered, 0 lasting zombies, orphans, leftovers, >= 99 % OK)`,
  ];
}
