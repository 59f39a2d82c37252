/**
 * The observer's load control: starts and stops the built-in load (`load_child.ts`, a process of
 * its own) and hands on what it reports every second.
 *
 * @module
 */

import {
  ignoreGone,
  LineReader,
  reapChild,
  roleCommand,
  SYSTEM_ROLE_PERMISSIONS,
} from "../roles/mod.ts";

/** The request mixes of the built-in load. */
export const LOAD_MIXES = ["mixed", "echo", "primes"] as const;

/** A request mix: half echoes and half prime counts, echoes only, or prime counts only. */
export type LoadMix = (typeof LOAD_MIXES)[number];

/** The request line `i` of load client `c` for a mix. */
export function loadRequest(mix: LoadMix, c: number, i: number): string {
  const primes = mix === "primes" || (mix === "mixed" && i % 2 === 1);
  return primes ? "requetetype2 20000" : `requetetype1 load ${c} request ${i}`;
}

/** What the load did in one second. */
export interface LoadSecond {
  /** Requests answered with their right answer. */
  answered: number;
  /** Requests answered with anything else (an ERR line). */
  wrong: number;
  /** Requests that got no answer (the client gave up on them). */
  failed: number;
  /** Median latency of the right answers, ms. */
  p50Ms: number;
  /** 99th percentile latency of the right answers, ms. */
  p99Ms: number;
}

/** What the load is doing. */
export interface LoadState {
  /** Clients running (0: no load). */
  clients: number;
  /** Their mix. */
  mix: LoadMix;
}

const CHILD = new URL("./load_child.ts", import.meta.url);

/** Starts and stops the built-in load against one dispatcher. */
export class LoadControl {
  readonly #dispatcher: () => { host: string; port: number };
  readonly #onSecond: (second: LoadSecond) => void;
  readonly #trace: string[];
  #child: Deno.ChildProcess | null = null;
  #state: LoadState = { clients: 0, mix: "mixed" };
  #busy: Promise<void> = Promise.resolve();

  /**
   * A control for the dispatcher `dispatcher()` says; `onSecond` gets each second's report. With
   * the run's `trace` ("" for none), the load's clients trace into it like every role, so that
   * the diagrams name them.
   */
  constructor(
    dispatcher: () => { host: string; port: number },
    onSecond: (second: LoadSecond) => void,
    trace: { path: string; maxBytes: number } | null = null,
  ) {
    this.#trace = trace === null
      ? []
      : ["--trace", trace.path, "--trace-max-bytes", String(trace.maxBytes)];
    this.#dispatcher = dispatcher;
    this.#onSecond = onSecond;
  }

  /** What the load is doing now. */
  get state(): LoadState {
    return { ...this.#state };
  }

  /** Runs `clients` clients with `mix` (0 clients: no load), replacing the load that ran. */
  set(clients: number, mix: LoadMix): Promise<LoadState> {
    this.#busy = this.#busy.then(async () => {
      await this.#stop();
      if (clients > 0) this.#start(clients, mix);
    });
    return this.#busy.then(() => this.state);
  }

  #start(clients: number, mix: LoadMix): void {
    const { host, port } = this.#dispatcher();
    const child = roleCommand(
      CHILD,
      [
        "--host",
        host,
        "--port",
        String(port),
        "--clients",
        String(clients),
        "--mix",
        mix,
        ...this.#trace,
      ],
      { stdin: "piped", stdout: "piped", stderr: "inherit" },
      SYSTEM_ROLE_PERMISSIONS,
    ).spawn();
    this.#child = child;
    this.#state = { clients, mix };
    (async () => {
      const lines = new LineReader(child.stdout);
      for (let line = await lines.next(); line !== null; line = await lines.next()) {
        try {
          this.#onSecond(JSON.parse(line));
        } catch (e) {
          if (!(e instanceof SyntaxError)) throw e;
          console.error(`osps observe: the load said something that is not a report: ${line}`);
        }
      }
    })();
  }

  async #stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#child = null;
    this.#state = { clients: 0, mix: this.#state.mix };
    // It may have exited already (its stdin's reader gone): then it is only reaped.
    await child.stdin.close().catch(ignoreGone);
    await reapChild(child, { graceMs: 0, termMs: 3000 });
  }

  /** Stops the load, if any. */
  close(): Promise<void> {
    return this.set(0, this.#state.mix).then(() => {});
  }
}
