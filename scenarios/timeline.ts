/**
 * Reads a run's trace (one JSON object per line, written by every process of the run) and renders
 * it as a readable timeline: who → whom, over which channel, what.
 *
 * @module
 */

import {
  flushTrace,
  labelRequestIds,
  lifecycleFile,
  parseTraceLine,
  requestLabel,
  type TracedEvent,
  traceFiles,
} from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";

/**
 * Reads a trace, in time order: the file and, when it was rotated, the older `FILE.1` before it.
 * Lines that are not trace events (a killed process's torn last line) are skipped. This process's
 * own buffered events are written first; other processes write theirs within 100 ms (see
 * {@link waitForTrace}).
 */
export function readTrace(path: string): TracedEvent[] {
  flushTrace();
  const events: TracedEvent[] = [];
  // A lifecycle event is in the trace too, unless rotated out: each is taken once, by its line.
  const seen = new Set<string>();
  const life = lifecycleFile(path);
  for (const file of traceFiles(path)) {
    const lifecycle = file.startsWith(life);
    for (const line of Deno.readTextFileSync(file).split("\n")) {
      if (line.trim() === "") continue;
      if (lifecycle) seen.add(line);
      else if (seen.has(line)) continue;
      const e = parseTraceLine(line);
      if (e !== null) events.push(e);
    }
  }
  return events.sort((a, b) => a.ts - b.ts);
}

/** A file given as a trace is none: empty, or its lines are not trace events. */
export class NotATraceError extends Error {
  /** `path` is not a trace, `why` says how. */
  constructor(path: string, why: string) {
    super(`${path} is not a trace: ${why}`);
    this.name = "NotATraceError";
  }
}

/**
 * Reads a file the user says is a trace, checked: one that holds no event, or whose first line is
 * not one (a diagram, random bytes), is refused with a {@link NotATraceError}.
 */
export function readTraceChecked(path: string, shownAs = path): TracedEvent[] {
  for (const file of traceFiles(path)) {
    const first = Deno.readTextFileSync(file).split("\n").find((l) => l.trim() !== "");
    if (first === undefined) continue;
    if (parseTraceLine(first) === null) {
      throw new NotATraceError(
        shownAs,
        `its first line is not a trace event (one JSON object with ts, pid, role, event and ` +
          `channel, as the roles write with --trace): ${JSON.stringify(first.slice(0, 40))}`,
      );
    }
  }
  const events = readTrace(path);
  if (events.length === 0) throw new NotATraceError(shownAs, "it holds no trace event");
  return events;
}

/**
 * Reads the trace until `found` holds of its events, at most `timeoutMs`: processes write their
 * events in batches, within 100 ms. Returns the events, or null if it never held.
 */
export async function waitForTrace(
  path: string,
  found: (events: TracedEvent[]) => boolean,
  timeoutMs = 2000,
): Promise<TracedEvent[] | null> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const events = readTrace(path);
    if (found(events)) return events;
    if (performance.now() > deadline) return null;
    await sleep(20);
  }
}

/** Whether an event is something the actor received from its peer (else it acted towards it). */
export function inbound(e: TracedEvent): boolean {
  if (e.event === "recv" || e.event === "accept" || e.event === "read mailbox") return true;
  // An order is sent by the dispatcher and received by a worker; an answer the other way round.
  if (e.event === "order") return e.role !== "dispatcher";
  if (e.event === "answer") return e.role === "dispatcher";
  return false;
}

/**
 * Renders events as lines: time since `origin` (ms since the epoch; default: the first event),
 * actor, arrow, peer, channel, request, detail.
 */
export function formatTimeline(events: TracedEvent[], origin?: number): string[] {
  if (events.length === 0) return [];
  const t0 = origin ?? events[0].ts;
  return events.map((e) => {
    const arrow = e.peer ? `${inbound(e) ? "←" : "→"} ${e.peer}` : "";
    const text = e.detail === undefined ? "" : labelRequestIds(e.detail);
    const detail = text
      ? `  ${JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)}`
      : "";
    return `${(e.ts - t0).toFixed(3).padStart(9)} ms  ${e.role.padEnd(12)} ${e.event.padEnd(13)} ${
      arrow.padEnd(28)
    } [${e.channel}]${e.req ? ` req ${requestLabel(e.req)}` : ""}${detail}`;
  });
}
