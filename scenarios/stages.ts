/**
 * The stage scenarios (`scenario:relay`, `scenario:worker-calls-client`, `scenario:ideal`): start
 * a dispatcher and 3 workers in one stage, run 4 concurrent clients × 5 requests each over one
 * dispatcher connection, check every answer against one computed here, stop, and report: a
 * timeline of the first events, the counts, latencies, and what was left behind.
 *
 * @module
 */

import { closeTrace, count, freshTraceFile, quantile, setupLogging } from "../roles/mod.ts";
import { compute, okLine, parseLine } from "../roles/protocol.ts";
import type { Stage } from "../roles/stages.ts";
import { type RequestRecord, runClients } from "./clients.ts";
import { startSystem, type StopReport } from "./harness.ts";
import { isClean } from "./proof.ts";
import type { TracedEvent } from "../roles/mod.ts";
import { formatTimeline, readTrace } from "./timeline.ts";
import { renderTrace } from "./diagram_render.ts";

/** Options of {@link runStageScenario}. */
export interface StageScenarioOptions {
  /** The stage to run. */
  stage: Stage;
  /** Workers (default 3). */
  workers?: number;
  /** Concurrent clients (default 4). */
  clients?: number;
  /** Requests per client, over one connection (default 5). */
  requests?: number;
  /** The dispatcher's queue bound (default 64): past it, `ERR busy`. */
  queueLimit?: number;
  /** How long a reserved worker waits for its client, ms (default 5000). */
  claimTimeoutMs?: number;
  /** Where the trace goes (default `out/<stage>`). */
  outDir?: string;
  /** Roles' stderr log level (default warning). */
  logLevel?: string;
  /** How many trace events the timeline shows (default 40). */
  timelineEvents?: number;
  /**
   * Aborting ends the run early: no new request is sent, the system is stopped and checked, and
   * the report says it was interrupted.
   */
  signal?: AbortSignal;
}

/** What a stage scenario did. */
export interface StageScenarioReport {
  /** The stage. */
  stage: Stage;
  /** The dispatcher's port during the run. */
  port: number;
  /** Every request, in completion order. */
  records: RequestRecord[];
  /** Requests sent. */
  sent: number;
  /** Right `OK` answers. */
  ok: number;
  /**
   * `ERR busy` answers: back-pressure, the specified answer when every worker is busy and the
   * queue is full (not wrong, not a failure).
   */
  busy: number;
  /** Answers that were neither the expected one nor `ERR busy`. */
  wrong: RequestRecord[];
  /** ERR answers by code. */
  errors: Record<string, number>;
  /** Requests with no answer at all. */
  missing: number;
  /** Latency percentiles over answered requests, ms. */
  p50Ms: number;
  /** 99th percentile, ms. */
  p99Ms: number;
  /** The first events of the run, rendered. */
  timeline: string[];
  /** The trace file. */
  tracePath: string;
  /** The run as a sequence diagram: Markdown (Mermaid) and HTML. */
  diagram: { markdown: string; html: string };
  /** How the roles ended and what was left. */
  stop: StopReport;
  /** Roles that died during the run. */
  unexpectedExits: string[];
  /** Whether the run was interrupted (its signal aborted) before every request was sent. */
  interrupted: boolean;
}

/** The request lines client `c` sends: echoes and prime counts, alternating. */
export function workload(c: number, requests: number): string[] {
  return Array.from(
    { length: requests },
    (_, i) =>
      i % 2 === 0
        ? `requetetype1 hello from client ${c}, request ${i + 1}`
        : `requetetype2 ${c * 1000 + i * 250}`,
  );
}

/** The right answer to a request line, computed here: `OK <result>`. */
export function expectedAnswer(line: string): string {
  const parsed = parseLine(line);
  if (parsed.kind !== "request") throw new Error(`workload line is not a request: ${line}`);
  return okLine(compute(parsed.request));
}

/** The events from the first request a client sent (start-up and LISTEN probes left out). */
function firstRequests(events: TracedEvent[], count: number): TracedEvent[] {
  const start = Math.max(
    0,
    events.findIndex((e) => e.event === "send" && e.detail?.startsWith("requetetype")),
  );
  return events.slice(start, start + count);
}

/** Runs one stage scenario; never leaves a process, pipe or segment behind. */
export async function runStageScenario(
  options: StageScenarioOptions,
): Promise<StageScenarioReport> {
  const outDir = options.outDir ?? `out/${options.stage}`;
  const tracePath = freshTraceFile(`${outDir}/trace.jsonl`);
  setupLogging(options.logLevel ?? "warning", { path: tracePath, role: "scenario" });
  const system = await startSystem({
    stage: options.stage,
    workers: options.workers ?? 3,
    queueLimit: options.queueLimit,
    claimTimeoutMs: options.claimTimeoutMs,
    tracePath,
    logLevel: options.logLevel,
  });
  let records: RequestRecord[];
  let stop: StopReport;
  try {
    records = await runClients(
      system.port,
      options.clients ?? 4,
      (c) => workload(c, options.requests ?? 5),
      { stage: options.stage, signal: options.signal },
    );
  } finally {
    stop = await system.stop();
    // The run is over: this process's own events are written, and its tracing ends.
    closeTrace();
  }
  const events = readTrace(tracePath);
  const first = firstRequests(events, options.timelineEvents ?? 40);
  const answered = records.filter((r) => r.got !== null);
  const latencies = answered.map((r) => r.latencyMs).sort((a, b) => a - b);
  const pct = (q: number) => quantile(latencies, q);
  const errors: Record<string, number> = {};
  for (const r of answered) {
    const m = /^ERR (\S+)/.exec(r.got!);
    if (m) errors[m[1]] = (errors[m[1]] ?? 0) + 1;
  }
  return {
    stage: options.stage,
    port: system.port,
    records,
    sent: records.length,
    ok: answered.filter((r) => r.got === expectedAnswer(r.line)).length,
    busy: answered.filter((r) => isBusy(r.got!)).length,
    wrong: answered.filter((r) => r.got !== expectedAnswer(r.line) && !isBusy(r.got!)),
    errors,
    missing: records.length - answered.length,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    timeline: formatTimeline(first),
    tracePath,
    diagram: renderTrace(tracePath, outDir, {
      title: `scenario ${options.stage}`,
      events,
      origin: {
        ts: first[0]?.ts ?? 0,
        label: "the first request sent, as in the printed timeline",
      },
    }),
    stop,
    unexpectedExits: Object.entries(stop.roles).filter(([, o]) => o.restarts > 0 || o.failed).map((
      [name, o],
    ) => `${name} (${count(o.restarts, "restart")}${o.failed ? ", failed" : ""})`),
    interrupted: options.signal?.aborted ?? false,
  };
}

/** Whether a reply is `ERR busy …`: back-pressure, not a wrong answer. */
function isBusy(reply: string): boolean {
  return reply === "ERR busy" || reply.startsWith("ERR busy ");
}

/**
 * Whether the run passed: every answer right (or `ERR busy`, the specified back-pressure), none
 * missing, no role died, nothing left; an interrupted run did not pass.
 */
export function stageScenarioPassed(r: StageScenarioReport): boolean {
  return !r.interrupted && r.wrong.length === 0 && r.missing === 0 && r.ok + r.busy === r.sent &&
    r.unexpectedExits.length === 0 &&
    isClean(r.stop.leftovers) && r.stop.watchdog.success &&
    Object.values(r.stop.roles).every((o) => o.exit === 0);
}
