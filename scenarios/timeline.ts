/**
 * Reads a run's trace (one JSON object per line, written by every process of the run) and renders
 * it as a readable timeline: who → whom, over which channel, what.
 *
 * @module
 */

import { flushTrace, traceFiles } from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";

/** One trace event as read back from the file. */
export interface TracedEvent {
  /** Time, ms since the epoch (µs precision). */
  ts: number;
  /** The process's pid. */
  pid: number;
  /** Who did it: `dispatcher`, `worker 2`, `client 1`… */
  role: string;
  /** What happened. */
  event: string;
  /** tcp, fifo, shm, signal or process. */
  channel: string;
  /** The request id, if any. */
  req?: number;
  /** The other side. */
  peer?: string;
  /** The line, the order… */
  detail?: string;
}

/**
 * Reads a trace, in time order: the file and, when it was rotated, the older `FILE.1` before it.
 * Lines that are not trace events are skipped. This process's own buffered events are written
 * first; other processes write theirs within 100 ms (see {@link waitForTrace}).
 */
export function readTrace(path: string): TracedEvent[] {
  flushTrace();
  const events: TracedEvent[] = [];
  for (const file of traceFiles(path)) {
    for (const line of Deno.readTextFileSync(file).split("\n")) {
      if (line.trim() === "") continue;
      try {
        // A flat event; traces of earlier versions nested it in LogTape's `properties`.
        const o = JSON.parse(line);
        const p = o?.properties ?? o;
        if (typeof p?.ts === "number" && typeof p.event === "string") events.push(p as TracedEvent);
      } catch {
        // A torn last line of a killed process: skip it.
      }
    }
  }
  return events.sort((a, b) => a.ts - b.ts);
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
  // A ping is sent by the dispatcher and received by a worker; a pong the other way round.
  if (e.event === "ping") return e.role !== "dispatcher";
  if (e.event === "pong") return e.role === "dispatcher";
  return false;
}

/** Renders events as lines: time since the first, actor, arrow, peer, channel, request, detail. */
export function formatTimeline(events: TracedEvent[]): string[] {
  if (events.length === 0) return [];
  const t0 = events[0].ts;
  return events.map((e) => {
    const arrow = e.peer ? `${inbound(e) ? "←" : "→"} ${e.peer}` : "";
    const detail = e.detail
      ? `  ${JSON.stringify(e.detail.length > 60 ? `${e.detail.slice(0, 57)}...` : e.detail)}`
      : "";
    return `${(e.ts - t0).toFixed(3).padStart(9)} ms  ${e.role.padEnd(12)} ${e.event.padEnd(13)} ${
      arrow.padEnd(28)
    } [${e.channel}]${e.req ? ` req ${e.req}` : ""}${detail}`;
  });
}
