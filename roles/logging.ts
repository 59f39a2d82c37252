/**
 * Logs and traces. Human-readable logs go through LogTape to stderr (category `["osps", role]`).
 * Trace events — what crossed which channel — go, one flat JSON object per line, to the run's
 * trace file, which every process of a run appends to in batches and which is bounded
 * (`trace_file.ts`). A trace event is one `JSON.stringify` into a buffer: a dozen events per
 * request, so they bypass LogTape's per-record pipeline, which costs about ten times as much
 * (docs/performance.md). With no trace file, a trace event costs one test.
 *
 * @module
 */

import {
  configureSync,
  getLogger,
  getTextFormatter,
  type Logger,
  parseLogLevel,
  type Sink,
} from "@logtape/logtape";
import { lifecycleFile, TraceFile } from "./trace_file.ts";
import type { TracedEvent, TraceEvent, TraceEventKind } from "./trace_event.ts";

const encoder = new TextEncoder();

/** Where trace events go and which role this process plays. */
export interface TraceTarget {
  /** The trace file (appended to; created 0600 if missing). */
  path: string;
  /** This process's role, e.g. `dispatcher`, `worker 2`. */
  role: string;
  /** The file's bound, bytes: past it, it is rotated to `path.1` (default 64 MiB). */
  maxBytes?: number;
}

let defaultRole = "unknown";
let traceFile: TraceFile | null = null;
/** The trace's lifecycle file (see {@link isLifecycleEvent}), opened at its first event. */
let lifecycle: TraceFile | null = null;
let lifecycleTarget: { path: string; maxBytes?: number } | null = null;

/**
 * Sends the `osps` log categories at `level` (trace, debug, info, warning, error, fatal) and above
 * to stderr, and trace events to `trace.path` if given. `role` names this process in its trace
 * events (default: the trace target's). An unknown level throws a TypeError.
 */
export function setupLogging(level: string, trace?: TraceTarget, role = trace?.role): void {
  const format = getTextFormatter();
  const stderr: Sink = (record) => {
    Deno.stderr.writeSync(encoder.encode(format(record)));
  };
  closeTrace();
  if (role !== undefined) defaultRole = role;
  if (trace) {
    traceFile = new TraceFile(trace.path, { maxBytes: trace.maxBytes });
    lifecycleTarget = { path: lifecycleFile(trace.path), maxBytes: trace.maxBytes };
  }
  configureSync({
    reset: true,
    sinks: { stderr },
    loggers: [
      { category: ["osps"], lowestLevel: parseLogLevel(level), sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Writes this process's buffered trace events now (readers of the trace call it first). */
export function flushTrace(): void {
  traceFile?.flush();
  lifecycle?.flush();
}

/** Writes this process's buffered trace events and stops tracing (a scenario's end). */
export function closeTrace(): void {
  traceFile?.close();
  traceFile = null;
  lifecycle?.close();
  lifecycle = null;
  lifecycleTarget = null;
}

/** The logger of one role (`ponger`, `dispatcher`, `worker`…). */
export function roleLogger(role: string): Logger {
  return getLogger(["osps", role]);
}

/** Roles whose every event is part of the run's lifecycle: the supervisor, the fault injectors. */
const LIFECYCLE_ROLES = new Set(["watchdog", "scenario", "bench", "chaos", "check"]);

/** Events of any role that are part of its lifecycle: its start, its stop, its end. */
const LIFECYCLE_EVENTS = new Set<TraceEventKind>(["ready", "stop", "parent gone", "stale answers"]);

/**
 * Whether an event is one of the run's lifecycle (kept in the lifecycle file, see
 * `lifecycleFile`): everything the watchdog, a scenario or a fault injector records, a role's
 * readiness and stop, and what names a peer for the whole run — a client's connection to the
 * dispatcher, its LISTEN port.
 */
export function isLifecycleEvent(e: TracedEvent): boolean {
  return LIFECYCLE_ROLES.has(e.role) || LIFECYCLE_EVENTS.has(e.event) ||
    (e.event === "connect" && e.peer === "dispatcher") ||
    (e.event === "send" && e.detail?.startsWith("LISTEN ") === true);
}

const watchers = new Set<(e: TracedEvent) => void>();

/**
 * Calls `listener` with every trace event this process records from now on, whether or not a
 * trace file is set up (the observer shows the watchdog's events live); dispose to stop.
 */
export function watchTraceEvents(listener: (e: TracedEvent) => void): Disposable {
  watchers.add(listener);
  return { [Symbol.dispose]: () => watchers.delete(listener) };
}

/**
 * Records a trace event: a line `{"ts":…,"pid":…,"role":…,"event":…,"channel":…,…}` with the
 * time in ms since the epoch (µs precision). A no-op when no trace file is set up and nothing
 * watches.
 */
export function traceEvent(e: TraceEvent): void {
  if (traceFile === null && watchers.size === 0) return;
  const recorded: TracedEvent = {
    ts: performance.timeOrigin + performance.now(),
    pid: Deno.pid,
    role: e.role ?? defaultRole,
    event: e.event,
    channel: e.channel,
    req: e.req,
    peer: e.peer,
    detail: e.detail,
  };
  if (traceFile !== null) {
    const line = JSON.stringify(recorded) + "\n";
    traceFile.append(line);
    if (lifecycleTarget !== null && isLifecycleEvent(recorded)) {
      lifecycle ??= new TraceFile(lifecycleTarget.path, { maxBytes: lifecycleTarget.maxBytes });
      lifecycle.append(line);
    }
  }
  for (const watcher of watchers) watcher(recorded);
}
