/**
 * What the observer's page receives, as Server-Sent Events:
 *
 * - `hello` once: the instance, its stage, whether it traces, the heartbeat timeout, and the
 *   recent history (event log, per-second counters) so a page opened late is not empty;
 * - `status` at 10 Hz: the instance's status, as `status --json` prints it;
 * - `log`: each event of the watchdog (spawn, ready, exit, frozen, kill, restart, failed) and each
 *   signal sent from the page, as it happens;
 * - `trace` every 100 ms, when tracing is on: the messages the run's processes traced, as the
 *   steps of a sequence diagram (`scenarios/diagram.ts`), at most {@link MAX_TRACE_RATE} a second,
 *   with the count of the trace events left out (lines not parsed, steps not drawn);
 * - `stats` every second: requests served in that second (from the registry's counters) and what
 *   the built-in load saw (answers, failures, latency), if it runs.
 *
 * @module
 */

import { type InstanceStatus, type TracedEvent } from "../roles/mod.ts";
import { type Step, StepBuilder } from "../scenarios/mod.ts";
import type { LoadSecond, LoadState } from "./load.ts";
import { TraceTail } from "./trace_tail.ts";

/** Steps of the trace sent to the pages, at most, per second. */
export const MAX_TRACE_RATE = 200;

/**
 * Trace lines parsed at most per 100 ms (besides those that teach who is behind an address): a
 * sample four times what the pages can be sent, since about half the events draw no step.
 */
const PARSED_PER_TICK = (4 * MAX_TRACE_RATE) / 10;

/** A slow page whose stream holds this many unsent bytes is dropped. */
const MAX_BACKLOG_BYTES = 1 << 20;

/** Seconds of counters kept. */
const HISTORY_SECONDS = 60;

/** Events of the log kept for pages that open later. */
const LOG_KEPT = 200;

/** One second of counters. */
export interface StatsSecond {
  /** When the second ended, ms since the epoch. */
  t: number;
  /** Requests the workers served in that second. */
  served: number;
  /** What the built-in load saw in that second, if it ran. */
  load: LoadSecond | null;
  /** What the built-in load is doing. */
  loadState: LoadState;
}

/** What the feed tells a page once, when it connects. */
export interface Hello {
  /** The instance's name. */
  instance: string;
  /** Its stage. */
  stage: string;
  /** Whether the run traces (and the page can draw messages). */
  tracing: boolean;
  /** The watchdog's heartbeat timeout, ms (the heartbeat bars' full scale). */
  heartbeatTimeoutMs: number;
  /** The request mixes the built-in load offers. */
  mixes: readonly string[];
  /** The event log so far. */
  log: TracedEvent[];
  /** The counters of the last minute. */
  stats: StatsSecond[];
}

const encoder = new TextEncoder();

/** The observer's event stream, shared by every page connected. */
export class Feed {
  readonly #status: () => InstanceStatus | null;
  readonly #hello: Omit<Hello, "log" | "stats">;
  readonly #pages = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #tail: TraceTail | null;
  readonly #steps = new StepBuilder();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #loadState: () => LoadState;
  #ticks = 0;
  #budget = MAX_TRACE_RATE;
  #dropped = 0;
  #log: TracedEvent[] = [];
  #stats: StatsSecond[] = [];
  #served: number | null = null;
  #load: LoadSecond | null = null;

  /**
   * A feed of the instance whose status `status` gives (null: not known yet, or gone); `trace` is
   * the run's trace file ("" for none), followed
   * from now; `loadState` tells what the built-in load does.
   */
  constructor(
    status: () => InstanceStatus | null,
    hello: Omit<Hello, "log" | "stats" | "tracing">,
    trace: string,
    loadState: () => LoadState,
  ) {
    this.#status = status;
    this.#hello = { ...hello, tracing: trace !== "" };
    this.#tail = trace === "" ? null : new TraceTail(trace);
    this.#loadState = loadState;
    this.#timer = setInterval(() => this.#tick(), 100);
  }

  /** A new page's stream (the body of `GET /api/events`). */
  subscribe(): ReadableStream<Uint8Array> {
    let page: ReadableStreamDefaultController<Uint8Array>;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        page = controller;
        this.#pages.add(controller);
        const hello: Hello = { ...this.#hello, log: this.#log, stats: this.#stats };
        controller.enqueue(message("hello", hello));
        const status = this.#status();
        if (status !== null) controller.enqueue(message("status", status));
      },
      cancel: () => {
        this.#pages.delete(page);
      },
    }, { highWaterMark: 1 << 16, size: (chunk) => chunk.byteLength });
  }

  /**
   * An event of the watchdog (a spawn, an exit, a kill… or a signal sent from a page): into the
   * log, to every page now; and, when tracing, into the sequence view.
   */
  event(e: TracedEvent): void {
    this.#log.push(e);
    if (this.#log.length > LOG_KEPT) this.#log.splice(0, this.#log.length - LOG_KEPT);
    this.#send("log", e);
    const step = this.#tail === null ? null : this.#steps.add(e);
    if (step !== null) this.#send("trace", { steps: [step], dropped: 0, skippedBytes: 0 });
  }

  /** The built-in load's report of its last second. */
  loadSecond(second: LoadSecond): void {
    this.#load = second;
  }

  /** Ends every page's stream and stops. */
  close(): void {
    clearInterval(this.#timer);
    for (const page of this.#pages) {
      try {
        page.close();
      } catch (e) {
        // Already cancelled by the page.
        if (!(e instanceof TypeError)) throw e;
      }
    }
    this.#pages.clear();
  }

  #tick(): void {
    this.#ticks++;
    const status = this.#status();
    if (status !== null) this.#send("status", status);
    if (this.#tail !== null) this.#traceBatch();
    if (this.#ticks % 10 === 0) this.#second(status);
  }

  /**
   * The steps traced in the last 100 ms, within the rate: a sample drawn; the events left out
   * (lines not parsed, steps not drawn) counted. With no page to send them to, only the lines that
   * teach are parsed.
   */
  #traceBatch(): void {
    const { events, skippedBytes, unparsed } = this.#tail!.poll({
      limit: this.#pages.size === 0 ? 0 : PARSED_PER_TICK,
      keep: StepBuilder.teaches,
    });
    const steps: Step[] = [];
    for (const e of events) {
      // The watchdog's own events come live through `event`.
      if (e.pid === Deno.pid) continue;
      const step = this.#steps.add(e);
      if (step !== null) steps.push(step);
    }
    this.#budget = Math.min(MAX_TRACE_RATE, this.#budget + MAX_TRACE_RATE / 10);
    const kept = sample(steps, Math.floor(this.#budget));
    this.#budget -= kept.length;
    this.#dropped += unparsed + steps.length - kept.length;
    if (kept.length === 0 && this.#dropped === 0 && skippedBytes === 0) return;
    this.#send("trace", { steps: kept, dropped: this.#dropped, skippedBytes });
    this.#dropped = 0;
  }

  #second(status: InstanceStatus | null): void {
    if (status === null) return;
    const served = status.roles
      .filter((r) => r.kind === "worker")
      .reduce((sum, r) => sum + r.served, 0);
    const second: StatsSecond = {
      t: Date.now(),
      served: this.#served === null ? 0 : Math.max(0, served - this.#served),
      load: this.#load,
      loadState: this.#loadState(),
    };
    this.#served = served;
    this.#load = null;
    this.#stats.push(second);
    if (this.#stats.length > HISTORY_SECONDS) this.#stats.shift();
    this.#send("stats", second);
  }

  #send(event: string, data: unknown): void {
    if (this.#pages.size === 0) return;
    const bytes = message(event, data);
    for (const page of this.#pages) {
      if ((page.desiredSize ?? 0) < -MAX_BACKLOG_BYTES) {
        // A page that does not read: its stream is ended rather than grown without bound.
        this.#pages.delete(page);
        page.close();
        continue;
      }
      page.enqueue(bytes);
    }
  }
}

/**
 * At most `n` of `steps`, evenly spread (the processes append their events in batches: the last
 * `n` would all be one process's).
 */
function sample(steps: Step[], n: number): Step[] {
  if (steps.length <= n) return steps;
  if (n <= 0) return [];
  const stride = steps.length / n;
  return Array.from({ length: n }, (_, i) => steps[Math.floor(i * stride)]);
}

/** One Server-Sent Event. */
function message(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
