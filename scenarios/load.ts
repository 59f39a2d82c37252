/**
 * Load and watch for long runs: clients that keep sending requests until stopped, a prober of
 * refused connections, and a sampler of zombie processes.
 *
 * @module
 */

import { zombieChildrenOf } from "../ipc/mod.ts";
import { OspsClient } from "../roles/mod.ts";
import { answerLine } from "../roles/client.ts";
import { sleep } from "../roles/timers.ts";
import type { RequestRecord } from "./clients.ts";
import { expectedAnswer } from "./stages.ts";

export { seeded } from "../ipc/seeded.ts";

/** The request line number `i` of client `c`: echoes and prime counts, each one unique. */
export function mixedRequest(c: number, i: number): string {
  return i % 2 ? `requetetype2 ${1000 + c * 10 + i % 7}` : `requetetype1 client ${c} request ${i}`;
}

/** Clients sending requests one after the other until stopped; every answer is recorded. */
export class LoadGenerator {
  /** Every request so far, with its answer. */
  readonly records: RequestRecord[] = [];
  #running = true;
  #done: Promise<void>;

  /** Starts `clients` clients against the dispatcher on `port`. */
  constructor(
    port: number,
    clients: number,
    request: (c: number, i: number) => string = mixedRequest,
  ) {
    this.#done = Promise.all(
      Array.from({ length: clients }, (_, i) => this.#client(port, i + 1, request)),
    )
      .then(() => {});
  }

  async #client(port: number, c: number, request: (c: number, i: number) => string): Promise<void> {
    let client: OspsClient | null = null;
    for (let i = 0; this.#running; i++) {
      const line = request(c, i);
      const t = performance.now();
      try {
        client ??= await OspsClient.connect({
          port,
          name: `client ${c}`,
          retries: 8,
          backoffMs: 25,
        });
        const result = await client.request(line);
        this.records.push({
          client: c,
          line,
          got: answerLine(result),
          sentAt: t,
          latencyMs: performance.now() - t,
          retries: result.retries,
        });
      } catch (e) {
        this.records.push({
          client: c,
          line,
          got: null,
          failure: String(e),
          sentAt: t,
          latencyMs: performance.now() - t,
        });
        await client?.close();
        client = null;
      }
    }
    await client?.close();
  }

  /** Stops sending and waits for the requests in flight; returns every record. */
  async stop(): Promise<RequestRecord[]> {
    this.#running = false;
    await this.#done;
    return this.records;
  }
}

/** A spell with no right answer: from when (performance.now() ms), for how long. */
export interface QuietSpell {
  /** When the last right answer before it came, ms on performance.now()'s clock. */
  from: number;
  /** How long it lasted, ms. */
  ms: number;
}

/**
 * The spells of over `minMs` in which no request got its right answer, between `from` and `to`
 * (performance.now() ms, the load's stop), longest first. An answer completed after `to` ends
 * none: once the load is stopping, only the requests still in flight finish (a straggler waiting
 * out a timeout), and the silence of the others is no outage.
 */
export function quietSpells(
  records: RequestRecord[],
  from: number,
  to: number,
  minMs: number,
): QuietSpell[] {
  const done = records
    .filter((r) => r.sentAt !== undefined && r.got === expectedAnswer(r.line))
    .map((r) => r.sentAt! + r.latencyMs)
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  const spells: QuietSpell[] = [];
  let last = from;
  for (const t of [...done, to]) {
    if (t - last > minMs) spells.push({ from: last, ms: t - last });
    last = t;
  }
  return spells.sort((a, b) => b.ms - a.ms);
}

/** Opens a connection to the dispatcher's port every 10 ms and counts those refused. */
export class ConnectProbe {
  /** Connections accepted (by the kernel, into the listening socket's backlog). */
  accepted = 0;
  /** Connections refused (ECONNREFUSED: nothing listened). */
  refused = 0;
  #running = true;
  readonly #done: Promise<void>;

  /** Starts probing 127.0.0.1:`port`. */
  constructor(port: number) {
    this.#done = (async () => {
      while (this.#running) {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          this.accepted++;
        } catch (e) {
          if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
          this.refused++;
        }
        await sleep(10);
      }
    })();
  }

  /** Stops probing. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

/**
 * Samples, every 100 ms, the zombie children of the given processes. A child is a zombie for the
 * moment between its exit and its parent's reap, so a sample can catch one that is reaped an
 * instant later: `momentary` counts every sighting; `lasting` holds those seen in two samples in
 * a row (100 ms apart): a reap that did not happen.
 */
export class ZombieWatch {
  #previous = new Set<number>();
  /** Zombie sightings, momentary ones included. */
  momentary = 0;
  /** Pids seen as zombies in two consecutive samples. */
  readonly lasting = new Set<number>();
  #timer: ReturnType<typeof setInterval>;

  /** Starts sampling the children of `parents()`. */
  constructor(parents: () => number[]) {
    this.#timer = setInterval(() => {
      const now = new Set(parents().flatMap((p) => zombieChildrenOf(p).map((z) => z.pid)));
      this.momentary += now.size;
      for (const pid of now) if (this.#previous.has(pid)) this.lasting.add(pid);
      this.#previous = now;
    }, 100);
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
