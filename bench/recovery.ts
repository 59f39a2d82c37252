/**
 * `bench recovery`: how fast the watchdog sees a fault and the system serves again, over repeated
 * trials per fault kind, and how long a cold start takes until the first answered request.
 *
 * - worker crash (SIGKILL): detection = the watchdog's exit event; served again = the restarted
 *   worker's slot is ready (it takes requests again); with the standby (the default, the fault
 *   injected once it has loaded) and with `--no-standby` (a new process);
 * - worker freeze (SIGSTOP): detection = the watchdog's "frozen" event; served again = the same;
 * - dispatcher crash (SIGKILL): detection = the exit event; served again = a new client's request
 *   is answered; with and without the standby;
 * - one-for-all (`--strategy one-for-all`), a worker SIGKILLed: every role restarts; served again =
 *   a new client's request is answered by the new dispatcher;
 * - rolling reload (SIGHUP) of 4 workers and the dispatcher, under 8 clients of load: from the
 *   signal to the watchdog's "reloaded"; requests lost;
 * - scale 4 → 8 under 8 clients of load: until 8 workers are ready; then each new worker's first
 *   order after its ready event (target ≤ 100 ms); requests lost;
 * - cold start: from spawning the watchdog to the first answered request.
 *
 * Each trial runs on a fresh system of 4 workers, so every fault is a first one: repeated faults
 * on one slot within 10 s would measure the crash-loop backoff (100, 200, 400… ms), not recovery.
 *
 * Times come from the run's trace (the fault's injection is traced by this process), so they are
 * the moments the events happened, not when this process noticed them.
 *
 * @module
 */

import { ROLE_STATE } from "../ipc/mod.ts";
import {
  ascending,
  ClientError,
  closeTrace,
  freshTraceFile,
  injectEvent,
  OspsClient,
  quantile,
  setupLogging,
  type TracedEvent,
  traceEvent,
  type TraceEventKind,
} from "../roles/mod.ts";
import {
  expectedAnswer,
  LoadGenerator,
  readTrace,
  type RunningSystem,
  startSystem,
  type SystemOptions,
  waitForTrace,
} from "../scenarios/mod.ts";
import { sleep } from "../roles/timers.ts";

/** Options of {@link runRecoveryBench}. */
export interface RecoveryBenchOptions {
  /** Trials per fault kind (default 10). */
  trials?: number;
  /** The watchdog's heartbeat timeout, ms (default 1000). */
  heartbeatTimeoutMs?: number;
  /** Where the trace goes (default bench/out/recovery-trace.jsonl). */
  tracePath?: string;
}

/** Median and max of one measure, ms. */
export interface Spread {
  /** Trials measured. */
  n: number;
  /** Median. */
  median: number;
  /** Maximum. */
  max: number;
}

/** One row of the table. */
export interface RecoveryRow {
  /** The fault. */
  fault: string;
  /** Time to detect, ms. */
  detect: Spread | null;
  /** Time until served again, ms. */
  servedAgain: Spread;
  /** Targets: detect and served-again bounds, ms (null: none). */
  targets: { detect: number | null; servedAgain: number | null };
  /** Requests of a load run meanwhile that got no right answer, over every trial (null: no load). */
  lost: number | null;
  /** What its columns measure, when not the fault's detection and recovery. */
  columns?: { detect: string; servedAgain: string };
}

/** What {@link runRecoveryBench} measured. */
export interface RecoveryBenchResult {
  /** The rows. */
  rows: RecoveryRow[];
  /** The heartbeat timeout used. */
  heartbeatTimeoutMs: number;
}

/** The system every row measures: relay, 4 workers, quiet; and what the row sets besides. */
function benchSystem(options: Partial<SystemOptions>): Promise<RunningSystem> {
  return startSystem({ stage: "relay", workers: 4, logLevel: "fatal", ...options });
}

function spread(values: number[]): Spread {
  const s = ascending(values);
  return { n: s.length, median: quantile(s, 0.5, NaN), max: s.at(-1) ?? NaN };
}

const now = () => performance.timeOrigin + performance.now();

/** Injects a fault on `role` and measures; returns [detect, servedAgain] in ms. */
async function trial(
  system: RunningSystem,
  role: string,
  signal: "SIGKILL" | "SIGSTOP",
  reaction: TraceEventKind,
): Promise<[number | null, number]> {
  const slot = system.segment.slot(system.role(role).slot);
  const generation = slot.get("generation");
  const t0 = now();
  traceEvent({ event: injectEvent(signal), channel: "signal", peer: role });
  system.signal(role, signal);
  let served: number | null = null;
  if (role === "dispatcher") {
    // Served again: a fresh client gets an answer.
    while (true) {
      try {
        await using client = await OspsClient.connect({ port: system.port, retries: 0 });
        const r = await client.request("requetetype1 probe");
        if (r.ok) break;
      } catch (e) {
        // Not yet.
        if (!(e instanceof ClientError)) throw e;
      }
      await sleep(2);
    }
    served = now() - t0;
  }
  await system.waitFor(
    `${role} back`,
    () => slot.get("generation") > generation && slot.get("state") === ROLE_STATE.ready,
    15_000,
  );
  // A worker serves again as soon as its restarted process is ready in its slot.
  served ??= now() - t0;
  const reacted = (e: TracedEvent) =>
    e.ts >= t0 && e.role === "watchdog" && e.peer === role && e.event === reaction;
  const seen = (await waitForTrace(system.tracePath!, (all) => all.some(reacted)))?.find(reacted);
  return [seen ? seen.ts - t0 : null, served];
}

/** Runs the benchmark; every system is stopped. */
export async function runRecoveryBench(
  options: RecoveryBenchOptions = {},
): Promise<RecoveryBenchResult> {
  const trials = options.trials ?? 10;
  const hb = options.heartbeatTimeoutMs ?? 1000;
  const tracePath = options.tracePath ?? "bench/out/recovery-trace.jsonl";
  setupLogging("error", { path: freshTraceFile(tracePath), role: "bench" });
  const rows: RecoveryRow[] = [];
  const crash = {
    signal: "SIGKILL",
    reaction: "exit",
    targets: { detect: 50, servedAgain: 300 },
  } as const;
  const faults = [
    { fault: "worker crash (SIGKILL)", role: "worker", standby: true, ...crash },
    { fault: "worker crash, --no-standby", role: "worker", standby: false, ...crash },
    {
      fault: "worker freeze (SIGSTOP)",
      role: "worker",
      standby: true,
      signal: "SIGSTOP",
      reaction: "frozen",
      targets: { detect: hb + 200, servedAgain: null },
    },
    { fault: "dispatcher crash (SIGKILL)", role: "dispatcher", standby: true, ...crash },
    { fault: "dispatcher crash, --no-standby", role: "dispatcher", standby: false, ...crash },
  ] as const;
  for (const f of faults) {
    const detect: number[] = [];
    const served: number[] = [];
    for (let i = 0; i < trials; i++) {
      // A fresh system per trial: each fault is a first one, not slowed by the crash-loop backoff.
      const t0 = now();
      const system = await benchSystem({ heartbeatTimeoutMs: hb, tracePath, standby: f.standby });
      try {
        // The fault comes once the system is all up, its standby included.
        if (f.standby) {
          const loaded = (e: TracedEvent) => e.ts >= t0 && e.event === "standby loaded";
          if (await waitForTrace(tracePath, (all) => all.some(loaded), 10_000) === null) {
            throw new Error("the standby did not load within 10 s");
          }
        }
        const [d, s] = await trial(
          system,
          f.role === "dispatcher" ? "dispatcher" : "worker 1",
          f.signal,
          f.reaction,
        );
        if (d !== null) detect.push(d);
        served.push(s);
      } finally {
        await system.stop();
      }
    }
    rows.push({
      fault: f.fault,
      detect: detect.length ? spread(detect) : null,
      servedAgain: spread(served),
      targets: f.targets,
      lost: null,
    });
  }
  rows.push(await groupRestartRow(trials, hb, tracePath));
  rows.push(await operationRow("reload", trials, tracePath));
  rows.push(await operationRow("scale", trials, tracePath));
  closeTrace();
  const cold: number[] = [];
  for (let i = 0; i < trials; i++) {
    const t0 = now();
    const system = await benchSystem({});
    try {
      await using client = await OspsClient.connect({ port: system.port, retries: 0 });
      await client.request("requetetype1 first");
      cold.push(now() - t0);
    } finally {
      await system.stop();
    }
  }
  rows.push({
    fault: "cold start, 4 workers, to 1st answer",
    detect: null,
    servedAgain: spread(cold),
    targets: { detect: null, servedAgain: 500 },
    lost: null,
  });
  return { rows, heartbeatTimeoutMs: hb };
}

/** A fresh client's request answered (retried every 2 ms until it is). */
async function answered(port: number): Promise<void> {
  while (true) {
    try {
      await using client = await OspsClient.connect({ port, retries: 0 });
      if ((await client.request("requetetype1 probe")).ok) return;
    } catch (e) {
      // Not yet.
      if (!(e instanceof ClientError)) throw e;
    }
    await sleep(2);
  }
}

/** One-for-all: a worker SIGKILLed restarts every role; detect = exit, served = a new answer. */
async function groupRestartRow(
  trials: number,
  hb: number,
  tracePath: string,
): Promise<RecoveryRow> {
  const detect: number[] = [];
  const served: number[] = [];
  for (let i = 0; i < trials; i++) {
    const t = now();
    const system = await benchSystem({
      heartbeatTimeoutMs: hb,
      tracePath,
      strategy: "one-for-all",
    });
    try {
      const loaded = (e: TracedEvent) => e.ts >= t && e.event === "standby loaded";
      await waitForTrace(tracePath, (all) => all.filter(loaded).length >= 5, 10_000);
      const slot = system.segment.slot(system.role("dispatcher").slot);
      const generation = slot.get("generation");
      const t0 = now();
      traceEvent({ event: "inject SIGKILL", channel: "signal", peer: "worker 1" });
      system.signal("worker 1", "SIGKILL");
      // The old dispatcher may answer for a few ms more: the new one's answer is what counts.
      await system.waitFor(
        "the dispatcher restarted",
        () => slot.get("generation") > generation,
        10_000,
      );
      await answered(system.port);
      served.push(now() - t0);
      const reacted = (e: TracedEvent) =>
        e.ts >= t0 && e.role === "watchdog" && e.peer === "worker 1" && e.event === "exit";
      const seen = (await waitForTrace(tracePath, (all) => all.some(reacted)))?.find(reacted);
      if (seen) detect.push(seen.ts - t0);
    } finally {
      await system.stop();
    }
  }
  return {
    fault: "one-for-all: worker crash, every role",
    detect: detect.length ? spread(detect) : null,
    servedAgain: spread(served),
    targets: { detect: 50, servedAgain: 300 },
    lost: null,
  };
}

/**
 * A rolling reload (time until the watchdog's "reloaded"), or scaling 4 → 8 (time until 8
 * workers are ready; then each new worker's first order after its ready event), under 8 clients
 * of load whose lost requests are counted.
 */
async function operationRow(
  kind: "reload" | "scale",
  trials: number,
  tracePath: string,
): Promise<RecoveryRow> {
  const took: number[] = [];
  const firstWork: number[] = [];
  let lost = 0;
  for (let i = 0; i < trials; i++) {
    const system = await benchSystem({ tracePath });
    // 8 clients: with fewer, the dispatcher's first free workers take every request.
    const load = new LoadGenerator(system.port, 8);
    try {
      await sleep(200);
      const t0 = now();
      if (kind === "reload") {
        system.reload();
        const done = (e: TracedEvent) => e.ts >= t0 && e.event === "reloaded";
        const e = (await waitForTrace(tracePath, (all) => all.some(done), 60_000))?.find(done);
        if (e === undefined) throw new Error("the reload did not complete within 60 s");
        took.push(e.ts - t0);
      } else {
        await system.scale(8);
        took.push(now() - t0);
        await sleep(300);
        const trace = readTrace(tracePath).filter((e) => e.ts >= t0);
        for (const k of [5, 6, 7, 8]) {
          const name = `worker ${k}`;
          const ready = trace.find((e) => e.event === "ready" && e.peer === name);
          const work = trace.find((e) =>
            e.role === name && e.event === "order" && e.req !== undefined
          );
          if (ready && work) firstWork.push(work.ts - ready.ts);
        }
      }
    } finally {
      const records = await load.stop();
      lost += records.filter((r) => r.got !== expectedAnswer(r.line)).length;
      await system.stop();
    }
  }
  return kind === "reload"
    ? {
      fault: "rolling reload, 4 workers + dispatcher",
      detect: null,
      servedAgain: spread(took),
      targets: { detect: null, servedAgain: null },
      lost,
      columns: { detect: "", servedAgain: "until reloaded" },
    }
    : {
      fault: "scale 4 → 8 workers",
      detect: spread(took),
      servedAgain: spread(firstWork),
      targets: { detect: null, servedAgain: 100 },
      lost,
      columns: { detect: "until 8 ready", servedAgain: "ready → 1st order" },
    };
}

/** The result as a Markdown table with the targets. */
export function formatRecoveryBench(r: RecoveryBenchResult): string {
  const cell = (s: Spread | null) =>
    s === null ? "-".padStart(15) : `${s.median.toFixed(1)} / ${s.max.toFixed(1)}`.padStart(15);
  const verdict = (s: Spread | null, target: number | null) =>
    target === null || s === null
      ? ""
      : s.median <= target
      ? `≤ ${target} met`
      : `≤ ${target} NOT met`;
  const named = (value: string, what: string | undefined) => what ? `${value} (${what})` : value;
  return [
    `Recovery, heartbeat timeout ${r.heartbeatTimeoutMs} ms; median / max in ms over ${
      r.rows[0]?.servedAgain.n ?? 0
    } trials; lost: requests of an 8-client load without their right answer, over every trial`,
    "",
    "| fault                                 | detect          | target         | served again    | target         | lost |",
    "|---------------------------------------|-----------------|----------------|-----------------|----------------|------|",
    ...r.rows.map((row) =>
      `| ${row.fault.padEnd(37)} | ${named(cell(row.detect), row.columns?.detect)} | ${
        verdict(row.detect, row.targets.detect).padEnd(14)
      } | ${named(cell(row.servedAgain), row.columns?.servedAgain)} | ${
        verdict(row.servedAgain, row.targets.servedAgain).padEnd(14)
      } | ${row.lost === null ? "-" : row.lost} |`
    ),
  ].join("\n");
}
