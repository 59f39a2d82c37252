/**
 * Logs and traces through LogTape. Human-readable logs go to stderr (category `["osps", role]`).
 * Trace events — what crossed which channel — go, one JSON object per line, to the run's trace
 * file (category `["osps", "trace"]`), which every process of a run appends to.
 *
 * @module
 */

import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  parseLogLevel,
  type Sink,
} from "@logtape/logtape";

const encoder = new TextEncoder();

/** Where trace events go and which role this process plays. */
export interface TraceTarget {
  /** The trace file (appended to; created 0600 if missing). */
  path: string;
  /** This process's role, e.g. `dispatcher`, `worker 2`. */
  role: string;
}

let defaultRole = "unknown";
let tracing = false;

/** Makes `path` an empty trace file (mode 0600), creating its folder: one trace per run. */
export function freshTraceFile(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash > 0) Deno.mkdirSync(path.slice(0, slash), { recursive: true });
  Deno.writeTextFileSync(path, "", { mode: 0o600 });
  return path;
}

/**
 * Sends the `osps` log categories at `level` (trace, debug, info, warning, error, fatal) and above
 * to stderr, and trace events to `trace.path` if given. An unknown level throws a TypeError.
 */
export function setupLogging(level: string, trace?: TraceTarget): void {
  const format = getTextFormatter();
  const stderr: Sink = (record) => {
    Deno.stderr.writeSync(encoder.encode(format(record)));
  };
  const sinks: Record<string, Sink> = { stderr };
  tracing = trace !== undefined;
  if (trace) {
    defaultRole = trace.role;
    const file = Deno.openSync(trace.path, { append: true, create: true, mode: 0o600 });
    const json = getJsonLinesFormatter();
    // One write per event on an O_APPEND file: events of several processes never interleave.
    sinks.trace = (record) => void file.writeSync(encoder.encode(json(record)));
  }
  configureSync({
    reset: true,
    sinks,
    loggers: [
      { category: ["osps"], lowestLevel: parseLogLevel(level), sinks: ["stderr"] },
      {
        category: ["osps", "trace"],
        lowestLevel: trace ? "info" : null,
        sinks: trace ? ["trace"] : [],
        parentSinks: "override",
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** The logger of one role (`ponger`, `dispatcher`, `worker`…). */
export function roleLogger(role: string): Logger {
  return getLogger(["osps", role]);
}

/** The channel an event crossed. */
export type Channel = "tcp" | "fifo" | "shm" | "signal" | "process";

/** One trace event: who did what on which channel, for which request, with whom. */
export interface TraceEvent {
  /** What happened, e.g. `ping`, `accept`, `reply`. */
  event: string;
  /** The channel. */
  channel: Channel;
  /** The request id, if the event belongs to one. */
  req?: number;
  /** The other side: a role (`worker 2`) or an address. */
  peer?: string;
  /** Free text: the line sent, the reason… */
  detail?: string;
  /** The role, if not this process's own (the scenario's in-process clients). */
  role?: string;
}

const traceLogger = getLogger(["osps", "trace"]);

/** Records a trace event (a no-op when no trace file is set up). */
export function traceEvent(e: TraceEvent): void {
  if (!tracing) return;
  traceLogger.info(e.event, {
    ts: performance.timeOrigin + performance.now(),
    pid: Deno.pid,
    ...e,
    role: e.role ?? defaultRole,
  });
}
