/**
 * The dispatcher's records: a client connection, and a job — one accepted request from the queue
 * to its one reply line. Request ids are unique across dispatcher generations.
 *
 * @module
 */

import type { Deadline } from "../deadline.ts";
import { traceEvent } from "../logging.ts";
import type { Request } from "../protocol.ts";
import type { LineConn } from "../socket_conn.ts";
import { writeLine } from "../tcp.ts";

/** A client connection. */
export interface Client {
  /** The connection. */
  conn: LineConn;
  /** How traces name it: `client <host>:<port>`. */
  name: string;
  /** The client's address, as this connection comes from. */
  host: string;
  /** This machine's address the client reached the dispatcher on. */
  reachedOn: string;
  /** The port it announced with LISTEN (worker-calls-client), once it did. */
  listenPort: number | null;
  /**
   * The dispatcher is stopping: from now on the connection ends once it has been quiet for a
   * moment, every line it still brings answered first.
   */
  stopping: () => void;
  /**
   * The dispatcher is draining (a reload replaces it): the connection ends after the reply to the
   * request it has in flight, or at once if it has none; the client connects again, to the next
   * dispatcher.
   */
  drain: () => void;
  /** Ends the connection now (the stop's grace is over), after the reply it may be writing. */
  end: () => void;
}

/**
 * The first request id of dispatcher generation `generation` (1, 2, … as the watchdog counts its
 * starts; 0 outside a watchdog): the generation in the high bits of a number below 2^53, so the
 * first dispatcher's ids are 1, 2, 3…
 */
export function requestIdBase(generation: number): number {
  return Math.max(0, generation - 1) * 2 ** 32;
}

/**
 * How a request id reads: `n` for the first dispatcher's n-th request, `g·n` for the n-th of its
 * g-th generation (`4294978059` is `2·10763`, the second dispatcher's 10763rd).
 */
export function requestLabel(id: number): string {
  const generation = Math.floor(id / 2 ** 32) + 1;
  const n = id % 2 ** 32;
  return generation === 1 ? String(n) : `${generation}·${n}`;
}

/** Order and answer lines (`claim 4294978059`) with their request ids as {@link requestLabel}s. */
export function labelRequestIds(text: string): string {
  return text.replace(
    /\b(job|claim|call|done|free|fail) (\d{10,16})\b/g,
    (_, kind, id) => `${kind} ${requestLabel(Number(id))}`,
  );
}

/** One accepted request, from the queue to its one reply line. */
export class Job {
  /** Its request id. */
  readonly id: number;
  /** The request. */
  readonly request: Request;
  /** Whose request it is. */
  readonly client: Client;
  /** Workers it was handed to so far. */
  attempts = 0;
  /**
   * Whether its worker said it is calling the client (worker-calls-client): from then on the
   * request may have been answered, and is never given to another worker.
   */
  calling = false;
  #replied = false;
  #done!: () => void;
  /** Resolves once the reply line is written (or the client is gone). */
  readonly done: Promise<void>;
  /** Its request timeout, once queued. */
  deadline: Deadline | undefined;

  /** Request `id`, `request`, from `client`. */
  constructor(id: number, request: Request, client: Client) {
    this.id = id;
    this.request = request;
    this.client = client;
    this.done = new Promise((resolve) => this.#done = resolve);
  }

  /** Whether its one reply line was written. */
  get replied(): boolean {
    return this.#replied;
  }

  /** Writes the one reply line of this request; later calls do nothing. */
  async reply(line: string): Promise<void> {
    if (this.#replied) return;
    this.#replied = true;
    this.deadline?.cancel();
    traceEvent({
      event: "reply",
      channel: "tcp",
      req: this.id,
      peer: this.client.name,
      detail: line,
    });
    await writeLine(this.client.conn, line);
    this.#done();
  }
}
