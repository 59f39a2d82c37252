/**
 * The trace's vocabulary: every kind of event the processes of a run record, what each says, the
 * one type of a recorded event and the one parser of a trace line. The trace is the contract
 * between the processes that write it and what reads it — the timeline, the sequence diagram,
 * the scenarios' checks, the observer — so an event kind is named here, and a reader matching a
 * kind that is not is a type error.
 *
 * @module
 */

import type { RoleKind } from "../ipc/mod.ts";

/** The channel an event crossed. */
export const CHANNELS = ["tcp", "fifo", "shm", "signal", "process"] as const;

/** The channel an event crossed: {@link CHANNELS}. */
export type Channel = typeof CHANNELS[number];

/** Every event kind but `inject <SIGNAL>` ({@link injectEvent}), with what it says. */
export const TRACE_EVENTS = {
  // What crossed a channel.
  "connect": "a TCP connection opened to the peer",
  "connect failed": "a worker could not call its client back (worker-calls-client)",
  "accept": "a TCP connection taken from the peer",
  "send": "a line written to the peer (TCP, or a pipe in the ping-pong exercise)",
  "recv": "a line read from the peer",
  "reply": "a request's answer written to its client",
  "order":
    "an order frame on a worker's order pipe (dwtube<k>): written by the dispatcher, read by the worker",
  "answer":
    "an answer frame on a worker's answer pipe (wdtube<k>): written by the worker, read by the dispatcher",
  "write mailbox": "a payload written into a mailbox of the shared segment",
  "read mailbox": "a payload read from a mailbox of the shared segment",
  // The dispatcher's view of its workers.
  "stale answer": "an answer for no request in flight, dropped",
  "stale answers": "bytes a worker's answer pipe held at the dispatcher's start, dropped",
  "not retried": "a request lost with its worker, answered with an error instead of sent again",
  "pipes moved": "a worker's pipes were replaced (the worker restarted): opened again",
  "worker removed": "a worker's slot is gone (scaled down): no request goes to it any more",
  "worker lost": "a worker died with requests in flight",
  "worker left": "a worker drained and left with nothing in flight",
  // A role's own life.
  "ready": "a role is ready (its own event), or the watchdog saw a role ready (peer: the role)",
  "draining": "a role takes no new work and ends after what it holds",
  "drained": "a draining worker ended its last request",
  "stop": "a role was told to stop (its own event: the signal), or the watchdog told it (SIGTERM)",
  "parent gone": "a role's watchdog died: it leaves at once",
  // The watchdog's decisions.
  "spawn": "a role's first process started",
  "restart": "a role's process started again",
  "spawn failed": "a role's program could not be started",
  "exit": "a role's process ended (status in the detail)",
  "frozen": "a role's heartbeat is too old, or it was stopped by a signal: it is being killed",
  "start timeout": "a role was not ready within the start timeout: it is being killed",
  "kill": "SIGKILL sent to a role that did not end on SIGTERM, or could not act on it",
  "retry": "a role is started again after a pause",
  "failed": "a role restarted too often: left stopped (or paused before being tried again)",
  "group restart": "roles restarted together with the one that died (one-for-all, rest-for-one)",
  "standby": "a standby process started, to be ready for the next restart",
  "standby loaded": "the standby has loaded its code: a restart will cost no start-up",
  "standby exit": "a standby process ended before it was used",
  "pipe repaired": "a role's pipe was missing or foreign: made again",
  "header repaired": "the segment's header was damaged: written again",
  "drain": "a role was asked to drain (reload, scale down, recycling)",
  "retired": "a drained role's process ended and was not restarted in place",
  "reload": "a rolling reload begins",
  "reloaded": "a rolling reload ended: every role runs a new process",
  "reload stopped": "a rolling reload was given up (the detail says why)",
  "scale": "the number of workers changes",
  "stopped": "a role's process ended during the watchdog's stop",
  // What a scenario, a benchmark or the observer did.
  "operation": "a scenario's operation begins (the detail names it)",
} as const;

/** A fault injected by a scenario, a benchmark, chaos or the observer: `inject SIGKILL`… */
export type InjectEvent = `inject ${Deno.Signal}`;

/** One event kind of the trace. */
export type TraceEventKind = keyof typeof TRACE_EVENTS | InjectEvent;

/** The event kind of `signal` injected as a fault. */
export function injectEvent(signal: Deno.Signal): InjectEvent {
  return `inject ${signal}`;
}

/** Whether `name` is an event kind of the trace. */
export function isTraceEventKind(name: string): name is TraceEventKind {
  return Object.hasOwn(TRACE_EVENTS, name) || /^inject SIG[A-Z0-9]+$/.test(name);
}

/** One trace event: who did what on which channel, for which request, with whom. */
export interface TraceEvent {
  /** What happened. */
  event: TraceEventKind;
  /** The channel. */
  channel: Channel;
  /** The request id, if the event belongs to one. */
  req?: number;
  /** The other side: a role (`worker 2`) or an address. */
  peer?: string;
  /** Free text: the line sent, the reason… */
  detail?: string;
  /** The role, if not this process's own (a scenario's in-process clients). */
  role?: string;
}

/** A trace event as recorded, and read back: with its time, its process and the role it plays. */
export interface TracedEvent extends TraceEvent {
  /** When, ms since the epoch (µs precision). */
  ts: number;
  /** The process. */
  pid: number;
  /** Who did it: `dispatcher`, `worker 2`, `client 1`… */
  role: string;
}

const optional = (value: unknown, type: "number" | "string") =>
  value === undefined || typeof value === type;

/**
 * The event a trace line holds, or null if it holds none: a torn line (a killed process's last,
 * the first after a rotation), or anything but one JSON object with a number `ts` and `pid`, a
 * string `role`, a known `event` and `channel`, and, if present, a number `req` and string `peer`
 * and `detail`.
 */
export function parseTraceLine(line: string): TracedEvent | null {
  let o: Record<string, unknown> | null;
  try {
    o = JSON.parse(line);
  } catch (e) {
    if (e instanceof SyntaxError) return null;
    throw e;
  }
  if (typeof o !== "object" || o === null) return null;
  const { ts, pid, role, event, channel, req, peer, detail } = o;
  const valid = typeof ts === "number" && typeof pid === "number" && typeof role === "string" &&
    typeof event === "string" && isTraceEventKind(event) &&
    (CHANNELS as readonly unknown[]).includes(channel) && optional(req, "number") &&
    optional(peer, "string") && optional(detail, "string");
  return valid ? o as unknown as TracedEvent : null;
}

/** Who an event's role (or its peer) is: a kind of process, and its number (clients, workers). */
export interface Actor {
  /** A role of the registry, the standby, a client, or `other` (a scenario, chaos, an address). */
  kind: RoleKind | "standby" | "client" | "other";
  /** The worker's or client's number, from 1; 0 for the others. */
  n: number;
}

/** The actor named `name` in a trace: `worker 2`, `client 1`, `dispatcher`… */
export function actorOf(name: string): Actor {
  const numbered = /^(worker|client) ([1-9]\d*)$/.exec(name);
  if (numbered) return { kind: numbered[1] as "worker" | "client", n: Number(numbered[2]) };
  if (name === "watchdog" || name === "dispatcher" || name === "standby") {
    return { kind: name, n: 0 };
  }
  return { kind: "other", n: 0 };
}
