/**
 * Load on a system under check, from the load-generator process (`load_gen.ts`): a measured load
 * (a warm-up, then R requests per client, the CPU of the system's whole process tree sampled
 * around them), or a continuous one that runs until stopped (under faults). What came back is
 * kept per 100 ms, so that a report can draw requests per second and latency over time.
 *
 * @module
 */

import { type ProcessInfo, ticksToMs } from "../ipc/mod.ts";
import {
  ignoreGone,
  reapChild,
  ROLE_PERMISSIONS,
  roleCommand,
  type Stage,
  withTimeout,
} from "../roles/mod.ts";
import type { BadRequest, LoadMix, LoadSummary, LoadTick } from "./load_gen.ts";

export type { BadRequest, LoadMix, LoadSummary, LoadTick } from "./load_gen.ts";

const LOAD_GEN = new URL("./load_gen.ts", import.meta.url);

/** What a load is made of. */
export interface LoadOptions {
  /** The dispatcher's port. */
  port: number;
  /** The stage the clients follow. */
  stage: Stage;
  /** Concurrent clients, one dispatcher connection each. */
  clients: number;
  /** Requests per client before the measured ones. */
  warmup: number;
  /** Measured requests per client; 0: until {@link LoadRun.stop}. */
  requests: number;
  /** `mixed` (echoes and prime counts) or `echo`. */
  mix: LoadMix;
  /** How long a request may wait for its answer before it is lost, ms (default 5000). */
  timeoutMs?: number;
}

/** The load generator failed, or did not get through its warm-up in time. */
export class LoadError extends Error {
  /** A load error saying `message`. */
  constructor(message: string) {
    super(message);
    this.name = "LoadError";
  }
}

/** The processes of a system whose CPU is counted (a {@link Target}'s tree). */
export interface ProcessTree {
  /** Its processes now, zombies included. */
  processes(): ProcessInfo[];
}

/**
 * The CPU a tree has used so far, ms, by pid: user and system time of every process (all its
 * threads) and of the children it has reaped.
 */
export function treeCpu(tree: ProcessTree): Map<number, number> {
  return new Map(
    tree.processes().map((p) => [
      p.pid,
      ticksToMs(p.userTicks + p.systemTicks + p.reapedChildrenTicks),
    ]),
  );
}

/** The load generator, running. */
export class LoadRun {
  /** Each 100 ms of the measured requests. */
  readonly ticks: LoadTick[] = [];
  /** The requests that did not get their right answer (the first 100). */
  readonly bad: BadRequest[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #warm = Promise.withResolvers<void>();
  readonly #done = Promise.withResolvers<LoadSummary>();
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #errors = "";
  #stdinClosed = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#read();
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.#errors = (this.#errors + chunk).slice(-2000);
      }
    })().catch((e) => {
      this.#errors += `\n(osps check stopped reading here: ${e})`;
    });
  }

  /** The load generator's pid (not the system's: its CPU is never counted). */
  get pid(): number {
    return this.#child.pid;
  }

  async #read(): Promise<void> {
    const ended = () => new LoadError(`the load generator ended: ${this.#errors.trim()}`);
    try {
      let buffer = "";
      for await (const chunk of this.#child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
          const o = JSON.parse(buffer.slice(0, at));
          buffer = buffer.slice(at + 1);
          if (o.warm) this.#warm.resolve();
          else if (o.tick) this.ticks.push(o as LoadTick);
          else if (o.bad) this.bad.push(o.bad as BadRequest);
          else if (o.done) this.#done.resolve(o.done as LoadSummary);
        }
      }
      this.#warm.reject(ended());
      this.#done.reject(ended());
    } catch (e) {
      this.#warm.reject(e);
      this.#done.reject(e);
    }
  }

  /**
   * Starts the load generator and waits (at most `warmupTimeoutMs`) until every client has sent
   * its warm-up requests; `ours` gets its pid.
   */
  static async start(
    options: LoadOptions,
    ours: Set<number>,
    warmupTimeoutMs = 60_000,
  ): Promise<LoadRun> {
    const args = [
      ["port", options.port],
      ["stage", options.stage],
      ["clients", options.clients],
      ["warmup", options.warmup],
      ["requests", options.requests],
      ["mix", options.mix],
      ["timeout", options.timeoutMs ?? 5000],
    ].flatMap(([k, v]) => [`--${k}`, String(v)]);
    const child = roleCommand(LOAD_GEN, args, {
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }, [...ROLE_PERMISSIONS, "--allow-net"]).spawn();
    ours.add(child.pid);
    const run = new LoadRun(child);
    // Its end is awaited only by whoever asks for it: a failure meanwhile is no unhandled one.
    run.#done.promise.catch(() => {});
    try {
      const warm = await withTimeout(run.#warm.promise, warmupTimeoutMs);
      if (warm === null) {
        throw new LoadError(
          `the warm-up (${options.clients} clients × ${options.warmup} requests) did not end ` +
            `within ${warmupTimeoutMs / 1000} s`,
        );
      }
    } catch (e) {
      await run.close();
      throw e;
    }
    return run;
  }

  /** Starts the measured requests. */
  async go(): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode("go\n"));
  }

  /** Waits (at most `timeoutMs`) until the measured requests are done; null if they are not. */
  async finished(timeoutMs: number): Promise<LoadSummary | null> {
    return await withTimeout(this.#done.promise, timeoutMs);
  }

  /**
   * Stops a continuous load: each client ends after its request in flight (which waits at most
   * the request timeout); null if that did not happen within `timeoutMs`.
   */
  async stop(timeoutMs = 15_000): Promise<LoadSummary | null> {
    await this.#closeStdin();
    return await this.finished(timeoutMs);
  }

  /** Closes its stdin once (its end of the load), unless it has ended already, stdin with it. */
  async #closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    await this.#stdin.close().catch(ignoreGone);
  }

  /** Ends the load generator and reaps it. */
  async close(): Promise<void> {
    await this.#closeStdin();
    await reapChild(this.#child, { graceMs: 1000, termMs: 1000 });
  }
}

/** A measured load on one system. */
export interface LoadMeasure {
  /** Concurrent clients. */
  clients: number;
  /** The answers, taken together. */
  summary: LoadSummary;
  /** The first requests without their right answer. */
  bad: BadRequest[];
  /** Each 100 ms. */
  ticks: LoadTick[];
  /** Requests per second, over the measured requests. */
  throughput: number;
  /** CPU of the system's whole process tree per request, µs. */
  cpuUsPerRequest: number;
  /** The same, by pid. */
  cpuUsByPid: Record<number, number>;
  /** Whether a process of the tree ended or began meanwhile (its CPU may then be missing). */
  treeChanged: boolean;
}

/**
 * Drives `tree` (listening on `options.port`) with a warm-up, then the measured requests; its CPU
 * is sampled around them. Every step is bounded: `timeoutMs` for the measured requests.
 */
export async function measureLoad(
  tree: ProcessTree,
  options: LoadOptions,
  ours: Set<number>,
  timeoutMs = 120_000,
): Promise<LoadMeasure> {
  const run = await LoadRun.start(options, ours);
  try {
    const before = treeCpu(tree);
    await run.go();
    const summary = await run.finished(timeoutMs);
    const after = treeCpu(tree);
    if (summary === null) {
      throw new LoadError(
        `${options.clients} clients × ${options.requests} requests did not end within ${
          timeoutMs / 1000
        } s`,
      );
    }
    return loadMeasure(options.clients, summary, run, before, after);
  } finally {
    await run.close();
  }
}

/** The figures of one measured load, from its summary and the CPU samples around it. */
export function loadMeasure(
  clients: number,
  summary: LoadSummary,
  run: { bad: BadRequest[]; ticks: LoadTick[] },
  before: Map<number, number>,
  after: Map<number, number>,
): LoadMeasure {
  const perRequest = (ms: number) => (ms * 1000) / Math.max(1, summary.requests);
  const cpuUsByPid: Record<number, number> = {};
  let total = 0;
  for (const [pid, ms] of after) {
    const used = ms - (before.get(pid) ?? 0);
    cpuUsByPid[pid] = perRequest(used);
    total += used;
  }
  const changed = before.size !== after.size || [...before.keys()].some((pid) => !after.has(pid));
  return {
    clients,
    summary,
    bad: run.bad,
    ticks: run.ticks,
    throughput: summary.requests / Math.max(0.001, (summary.endedAt - summary.startedAt) / 1000),
    cpuUsPerRequest: perRequest(total),
    cpuUsByPid,
    treeChanged: changed,
  };
}
