/**
 * Systems measured beside each other in one run: each started once, each warmed up, then driven
 * in alternating rounds by the same load (so that what moves the machine's speed meanwhile moves
 * them alike): CPU per request of each whole process tree, requests per second, latency. What
 * `check --compare` and `bench stages` hold osps to: ratios taken in the same run.
 *
 * @module
 */

import type { Stage } from "../roles/mod.ts";
import { noHoldings, type ProcessRole, readArchitecture } from "./architecture.ts";
import { type LoadMeasure, measureLoad } from "./load.ts";
import { freePortBlock, type StageReport } from "./run.ts";
import { Target } from "./target.ts";

/** A system to measure: a name for the report and its command (`{port}` … replaced). */
export interface Subject {
  /** Its name in the report. */
  name: string;
  /** Its command line. */
  command: string[];
}

/** How the rounds run. */
export interface RoundsOptions {
  /** The stage. */
  stage: Stage;
  /** Workers of each system (default 4). */
  workers?: number;
  /** Concurrent clients (default 8). */
  clients?: number;
  /** Warm-up requests per client, before the first round (default 1000). */
  warmup?: number;
  /** Measured requests per client, over all the rounds (default 3000). */
  requests?: number;
  /** Rounds (default 3). */
  rounds?: number;
  /** Requests per client measured first on each fresh system, before any warm-up (default 0). */
  cold?: number;
  /** Aborting it ends the rounds (everything started is killed). */
  signal?: AbortSignal;
}

/** What a system gave over the rounds. */
export interface LoadFigures {
  /** The subject's name. */
  name: string;
  /** Requests measured. */
  requests: number;
  /** Answered right. */
  right: number;
  /** Requests per second, over the measured requests. */
  throughput: number;
  /** Median of the rounds' median latencies, ms. */
  p50Ms: number;
  /** Median of the rounds' 99th percentiles, ms. */
  p99Ms: number;
  /** CPU of its whole process tree per request, µs. */
  cpuUsPerRequest: number;
  /** The same by part of the design (as `architecture.ts` makes the processes out), µs. */
  cpuUsByRole: Record<ProcessRole, number>;
  /** The cold measure, if asked. */
  cold: LoadMeasure | null;
  /** Each round. */
  rounds: LoadMeasure[];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
}

/**
 * The figures of the rounds of one system, taken together; `roles` gives each pid's part (a pid
 * it does not name counts as `other`).
 */
export function figuresOf(
  name: string,
  rounds: LoadMeasure[],
  cold: LoadMeasure | null,
  roles: Map<number, ProcessRole> = new Map(),
): LoadFigures {
  const requests = rounds.reduce((n, r) => n + r.summary.requests, 0);
  const wallS = rounds.reduce((n, r) => n + (r.summary.endedAt - r.summary.startedAt) / 1000, 0);
  const cpuUs = rounds.reduce((n, r) => n + r.cpuUsPerRequest * r.summary.requests, 0);
  const cpuUsByRole: Record<ProcessRole, number> = {
    supervisor: 0,
    dispatcher: 0,
    worker: 0,
    other: 0,
  };
  for (const r of rounds) {
    for (const [pid, us] of Object.entries(r.cpuUsByPid)) {
      cpuUsByRole[roles.get(Number(pid)) ?? "other"] += (us * r.summary.requests) /
        Math.max(1, requests);
    }
  }
  return {
    name,
    requests,
    right: rounds.reduce((n, r) => n + r.summary.right, 0),
    throughput: requests / Math.max(0.001, wallS),
    p50Ms: median(rounds.map((r) => r.summary.p50Ms)),
    p99Ms: median(rounds.map((r) => r.summary.p99Ms)),
    cpuUsPerRequest: cpuUs / Math.max(1, requests),
    cpuUsByRole,
    cold,
    rounds,
  };
}

/**
 * Starts every subject (each on ports of its own), then drives them in alternating rounds, the
 * order reversed each round; every process started is killed and reaped at the end. Null if the
 * signal aborted it.
 */
export async function alternatingLoads(
  subjects: Subject[],
  options: RoundsOptions,
): Promise<LoadFigures[] | null> {
  const workers = options.workers ?? 4;
  const clients = options.clients ?? 8;
  const rounds = options.rounds ?? 3;
  const requests = options.requests ?? 3000;
  const ours = new Set<number>();
  const started: { subject: Subject; target: Target; port: number }[] = [];
  try {
    const used: number[] = [];
    for (const subject of subjects) {
      let port = freePortBlock(workers);
      while (used.some((p) => Math.abs(p - port) <= workers)) port = freePortBlock(workers);
      used.push(port);
      const target = Target.start(subject.command, { port, stage: options.stage, workers }, ours);
      started.push({ subject, target, port });
    }
    for (const s of started) {
      const up = await s.target.waitListening(s.port, 20_000);
      if (up !== "up") {
        throw new Error(
          `${s.subject.name} did not listen on ${s.port} (${up}): ${s.target.output}`,
        );
      }
    }
    const load = (s: typeof started[number], n: number, warmup: number) =>
      measureLoad(s.target, {
        port: s.port,
        stage: options.stage,
        clients,
        warmup,
        requests: n,
        mix: "mixed",
      }, ours);
    const cold = new Map<Subject, LoadMeasure>();
    if (options.cold) {
      for (const s of started) cold.set(s.subject, await load(s, options.cold, 0));
    }
    const measured = new Map<Subject, LoadMeasure[]>(subjects.map((s) => [s, []]));
    for (let r = 0; r < rounds; r++) {
      const share = Math.floor(((r + 1) * requests) / rounds) - Math.floor((r * requests) / rounds);
      const order = r % 2 === 0 ? started : [...started].reverse();
      for (const s of order) {
        if (options.signal?.aborted) return null;
        measured.get(s.subject)!.push(await load(s, share, r === 0 ? options.warmup ?? 1000 : 20));
      }
    }
    return started.map(({ subject, target, port }) => {
      const parts = readArchitecture(target.processes(), port, noHoldings()).processes;
      const roles = new Map(parts.map((p) => [p.pid, p.role]));
      return figuresOf(subject.name, measured.get(subject)!, cold.get(subject) ?? null, roles);
    });
  } finally {
    for (const s of started) await s.target.stop(5000);
  }
}

/** The side-by-side of `yours` and `osps`: figures and their ratios, osps ÷ yours. */
export interface Comparison {
  /** The stage. */
  stage: Stage;
  /** The load over the rounds. */
  loads: [LoadFigures, LoadFigures];
  /** Each system's own check (for the recovery times). */
  checks: [StageReport, StageReport];
}

/** The comparison as JSON: each system's figures (rounds left out) and osps ÷ yours. */
export function comparisonJson(c: Comparison): Record<string, unknown> {
  const figures = (f: LoadFigures) => ({
    requests: f.requests,
    right: f.right,
    cpuUsPerRequest: f.cpuUsPerRequest,
    throughput: f.throughput,
    p50Ms: f.p50Ms,
    p99Ms: f.p99Ms,
  });
  const [yours, osps] = c.loads;
  const recovery = (r: StageReport) =>
    Object.fromEntries(r.faults.map((f) => [f.kind, f.restartedMs]));
  return {
    rounds: yours.rounds.length,
    yours: { ...figures(yours), recoveryMs: recovery(c.checks[0]) },
    osps: { ...figures(osps), recoveryMs: recovery(c.checks[1]) },
    ospsOverYours: {
      cpuUsPerRequest: osps.cpuUsPerRequest / yours.cpuUsPerRequest,
      throughput: osps.throughput / yours.throughput,
      p50Ms: osps.p50Ms / yours.p50Ms,
      p99Ms: osps.p99Ms / yours.p99Ms,
    },
  };
}

/** The comparison as lines: a row per figure, the two systems and osps ÷ yours. */
export function formatComparison(c: Comparison): string[] {
  const [yours, osps] = c.loads;
  const row = (name: string, a: number | null, b: number | null, digits = 0) => {
    const f = (v: number | null) => (v === null ? "—" : v.toFixed(digits));
    const ratio = a && b !== null ? (b / a).toFixed(2) : "—";
    return `  ${name.padEnd(34)} ${f(a).padStart(10)} ${f(b).padStart(10)} ${ratio.padStart(12)}`;
  };
  const recovery = (r: StageReport, kind: string) =>
    r.faults.find((f) => f.kind === kind)?.restartedMs ?? null;
  return [
    `compare ${c.stage}: ${
      c.loads[0].rounds.length
    } alternating rounds, ${yours.requests} requests each, ${
      yours.rounds[0]?.clients ?? 0
    } clients`,
    `  ${"".padEnd(34)} ${"yours".padStart(10)} ${"osps".padStart(10)} ${
      "osps ÷ yours".padStart(12)
    }`,
    row("CPU per request, µs", yours.cpuUsPerRequest, osps.cpuUsPerRequest),
    row("requests/s", yours.throughput, osps.throughput),
    row("latency p50, ms", yours.p50Ms, osps.p50Ms, 2),
    row("latency p99, ms", yours.p99Ms, osps.p99Ms, 2),
    ...["worker SIGKILL", "worker SIGSTOP", "dispatcher SIGKILL"].map((k) =>
      row(`${k}: whole again, ms`, recovery(c.checks[0], k), recovery(c.checks[1], k))
    ),
  ];
}
