/**
 * A run's trace as a sequence diagram: one lifeline per role instance (client k, dispatcher,
 * worker k, watchdog), one arrow per message, labelled with what it carried and the channel it
 * crossed, the watchdog's restarts and signals drawn as such; long runs focused on what matters.
 * `diagram_render.ts` draws it.
 *
 * @module
 */

import { labelRequestIds } from "../roles/mod.ts";
import { actorOf, type TracedEvent, type TraceEventKind } from "../roles/mod.ts";
import { inbound } from "./timeline.ts";

/** One step of the diagram. */
export type Step =
  | {
    kind: "arrow";
    from: string;
    to: string;
    label: string;
    channel: string;
    req?: number;
    ts: number;
    /** `message` for data, `process` for spawns and readiness, `signal` for exits and kills. */
    style: "message" | "process" | "signal";
  }
  | {
    kind: "note";
    over: string;
    text: string;
    req?: number;
    ts: number;
    style: "note" | "signal";
  }
  | { kind: "gap"; count: number; ts: number };

/** A diagram: its lifelines, its steps in time order, and what was left out. */
export interface Diagram {
  /** Lifelines, left to right: clients, dispatcher, workers, watchdog. */
  lifelines: string[];
  /** The steps drawn, in time order. */
  steps: Step[];
  /** Steps left out: collapsed in the middle or cut at the end (the diagram says so). */
  omitted: number;
  /**
   * What is drawn of the run: all of it; its first steps (a long run without a fault); or its
   * start, then its first fault and what followed (a long run with one).
   */
  shown: "all" | "first" | "fault";
  /**
   * Latency of each request, from the dispatcher's receipt (`ts`, ms since the epoch) to the
   * request's last event, ms; in the order they were received.
   */
  latencies: { req: number; ts: number; ms: number }[];
}

/** The watchdog's events drawn as a kill: an arrow of the signal channel to the role. */
const KILLS: readonly TraceEventKind[] = ["frozen", "start timeout", "kill", "group restart"];

/** Lifelines' order: clients, the dispatcher, workers by number, then the others. */
const ROLE_ORDER = (name: string): [number, number] => {
  const { kind, n } = actorOf(name);
  const group = ["client", "dispatcher", "worker"].indexOf(kind);
  return [group < 0 ? 3 : group, n];
};

/** The raw form of the lines {@link PeerResolver.learn} looks at: the events it learns from. */
const TEACHING_LINE = /"event":"(?:connect|ready)"|"detail":"(?:LISTEN|READY) /;

/**
 * Learns, in time order, which client or worker stands behind the addresses and tokens the others
 * saw. Ports are reused over a long run, so a peer resolves to whoever held its port last.
 */
class PeerResolver {
  #byPort = new Map<string, string>();
  #byToken = new Map<string, string>();

  learn(e: TracedEvent): void {
    const port = (s: string) => /:(\d+)$/.exec(s)?.[1] ?? /port (\d+)/.exec(s)?.[1];
    const kind = actorOf(e.role).kind;
    if (kind === "client" && e.event === "connect" && e.detail) {
      const p = port(e.detail);
      if (p) this.#byPort.set(p, e.role);
    }
    if (kind === "client" && e.event === "send" && e.detail?.startsWith("LISTEN ")) {
      this.#byPort.set(e.detail.slice(7), e.role);
    }
    if (kind === "worker" && e.event === "ready" && e.detail) {
      const p = port(e.detail);
      if (p) this.#byPort.set(p, e.role);
    }
    if (kind === "worker" && e.event === "send" && e.detail?.startsWith("READY ")) {
      this.#byToken.set(e.detail.slice(6), e.role);
    }
  }

  resolve(peer: string): string {
    if (!["other", "standby"].includes(actorOf(peer).kind)) return peer;
    const token = /^worker calling for (\S+)$/.exec(peer)?.[1];
    if (token && this.#byToken.has(token)) return this.#byToken.get(token)!;
    const p = /:(\d+)$/.exec(peer)?.[1];
    if (p && this.#byPort.has(p)) return this.#byPort.get(p)!;
    // An address not resolved: the description says whose (`worker 127.0.0.1:4000`).
    const whose = /^(worker|client) /.exec(peer)?.[1];
    return whose ? `${whose} ?` : peer;
  }
}

/** `s` cut to `n` characters, an ellipsis marking the cut. */
export function clipLabel(s: string, n = 48): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/**
 * Turns trace events, in time order, into the steps they draw: one arrow per message (drawn from
 * its sender's event; the receiver's is not drawn again), the watchdog's spawns, exits and kills,
 * notes. Learns as it goes which client or worker stands behind an address. The observer draws a
 * live run with it; {@link buildDiagram} a whole trace.
 */
export class StepBuilder {
  readonly #peers = new PeerResolver();

  /**
   * Whether a raw trace line may teach who stands behind an address: a reader that skips lines
   * for speed parses these all the same, so that the steps it draws name their peers.
   */
  static teaches(line: string): boolean {
    return TEACHING_LINE.test(line);
  }

  /** The step event `e` draws, or null if it draws none. */
  add(e: TracedEvent): Step | null {
    this.#peers.learn(e);
    const resolve = (peer: string) => this.#peers.resolve(peer);
    const base = { req: e.req, ts: e.ts };
    const detail = e.detail ? clipLabel(labelRequestIds(e.detail)) : "";
    if (e.role === "scenario" || e.role === "bench") {
      return {
        kind: "note",
        over: resolve(e.peer ?? "watchdog"),
        text: `${e.event}${detail ? ` ${detail}` : ""}`,
        style: "signal",
        ...base,
      };
    }
    if (e.role === "watchdog" && e.peer) {
      const role = resolve(e.peer);
      if (e.event === "exit") {
        return {
          kind: "arrow",
          from: role,
          to: "watchdog",
          label: `exit: ${detail}`,
          channel: "signal",
          style: "signal",
          ...base,
        };
      }
      if (e.event === "ready") {
        return {
          kind: "arrow",
          from: role,
          to: "watchdog",
          label: "ready",
          channel: "process",
          style: "process",
          ...base,
        };
      }
      if (e.event === "spawn" || e.event === "restart" || e.event === "stop") {
        return {
          kind: "arrow",
          from: "watchdog",
          to: role,
          label: `${e.event} ${detail}`,
          channel: "process",
          style: "process",
          ...base,
        };
      }
      if (e.event === "drain") {
        // A planned retirement (reload, recycling, scaling down): no fault.
        return {
          kind: "arrow",
          from: "watchdog",
          to: role,
          label: `drain: ${detail}`,
          channel: "signal",
          style: "process",
          ...base,
        };
      }
      if (KILLS.includes(e.event)) {
        return {
          kind: "arrow",
          from: "watchdog",
          to: role,
          label: `${e.event}: ${detail}`,
          channel: "signal",
          style: "signal",
          ...base,
        };
      }
      return {
        kind: "note",
        over: role,
        text: `${e.event} ${detail}`,
        style: e.event === "failed" ? "signal" : "note",
        ...base,
      };
    }
    if (e.peer && !inbound(e)) {
      const to = resolve(e.peer);
      return {
        kind: "arrow",
        from: e.role,
        to,
        label: `${e.event === "send" || e.event === "reply" ? "" : `${e.event}: `}${detail}`,
        channel: e.channel,
        style: "message",
        ...base,
      };
    }
    if (!e.peer && e.event !== "ready") {
      return {
        kind: "note",
        over: e.role,
        text: `${e.event}${detail ? `: ${detail}` : ""}`,
        // A role stopping as asked is no fault: only other signals are drawn as such.
        style: e.channel === "signal" && e.event !== "stop" ? "signal" : "note",
        ...base,
      };
    }
    return null;
  }
}

/** Builds the diagram of `events`, drawing at most `maxSteps` steps. */
export function buildDiagram(events: TracedEvent[], maxSteps = 300): Diagram {
  const builder = new StepBuilder();
  const steps: Step[] = [];
  for (const e of events) {
    const step = builder.add(e);
    if (step !== null) steps.push(step);
  }
  const { drawn, shown } = focus(steps, maxSteps);
  const names = new Set<string>();
  for (const s of drawn) {
    if (s.kind === "arrow") names.add(s.from).add(s.to);
    else if (s.kind === "note") names.add(s.over);
  }
  const lifelines = [...names].sort((a, b) => {
    const [ga, na] = ROLE_ORDER(a), [gb, nb] = ROLE_ORDER(b);
    return ga - gb || na - nb || a.localeCompare(b);
  });
  const first = new Map<number, number>(), last = new Map<number, number>();
  for (const e of events) {
    if (e.req === undefined) continue;
    if (e.role === "dispatcher" && e.event === "recv" && !first.has(e.req)) first.set(e.req, e.ts);
    last.set(e.req, e.ts);
  }
  const latencies = [...first].map(([req, ts]) => ({ req, ts, ms: (last.get(req) ?? ts) - ts }))
    .sort((a, b) => a.ts - b.ts);
  const count = drawn.filter((s) => s.kind !== "gap").length;
  return { lifelines, steps: drawn, omitted: steps.length - count, shown, latencies };
}

/**
 * At most `maxSteps` steps of a long run that stay readable: the start; then, if a fault or a
 * watchdog reaction (red) happens later, the window around the first one, and around each watchdog
 * step after it (its restarts, readiness, kills: under load hundreds of messages may come between
 * a crash and its restart) while room is left. Each run of steps left out becomes one gap.
 */
function focus(steps: Step[], maxSteps: number): { drawn: Step[]; shown: Diagram["shown"] } {
  if (steps.length <= maxSteps) return { drawn: steps, shown: "all" };
  const head = Math.floor(maxSteps / 4);
  const fault = steps.findIndex((s) => s.kind !== "gap" && s.style === "signal");
  if (fault < 0) return { drawn: steps.slice(0, maxSteps), shown: "first" };
  const keep = new Set<number>();
  const take = (from: number, to: number) => {
    for (let i = Math.max(0, from); i < Math.min(steps.length, to) && keep.size < maxSteps; i++) {
      keep.add(i);
    }
  };
  take(0, head);
  take(fault - 20, fault + Math.floor(maxSteps / 3));
  for (let i = fault + 1; i < steps.length && keep.size < maxSteps; i++) {
    const s = steps[i];
    if (s.kind !== "gap" && (s.style === "signal" || s.style === "process")) take(i - 3, i + 4);
  }
  if (keep.size < maxSteps) take(fault, steps.length);
  const drawn: Step[] = [];
  let skipped = 0;
  for (let i = 0; i < steps.length; i++) {
    if (!keep.has(i)) {
      skipped++;
      continue;
    }
    if (skipped > 0) drawn.push({ kind: "gap", count: skipped, ts: steps[i].ts });
    skipped = 0;
    drawn.push(steps[i]);
  }
  return { drawn, shown: "fault" };
}
