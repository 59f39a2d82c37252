/**
 * The workers' calls to a client (worker-calls-client): the port the client announces with
 * `LISTEN <port>`, and each connection that comes to it, matched by its `READY <token>` line to
 * the request waiting for that token (or kept until that request waits for it).
 *
 * @module
 */

import { traceEvent } from "./logging.ts";
import { decodeLine } from "./protocol.ts";
import { parseReady } from "./stages.ts";
import { TcpLineReader } from "./tcp.ts";

/**
 * How long a call that came before its request waits for it is kept, ms. The client reads its
 * WAIT within milliseconds of the worker's call; a call nobody claims for this long is for a WAIT
 * that never reached the client (its dispatcher died and reset the connection): closed, its worker
 * is free at once instead of waiting for a line for its whole claim timeout.
 */
const UNCLAIMED_CALL_MS = 1000;

/** A client's listening port for its workers' calls. */
export class CallListener {
  readonly #listener: Deno.TcpListener;
  readonly #accepting: Promise<void>;
  readonly #readyTimeoutMs: number;
  readonly #name: string;
  #readyWaiters = new Map<string, (conn: Deno.Conn) => void>();
  #readyArrived = new Map<string, Deno.Conn>();
  /** Tokens whose request was given up on (sent again, for a new token): their calls are refused. */
  #abandoned = new Set<string>();

  /**
   * Listens on a free port of 127.0.0.1 for client `name`; a call whose READY line does not come
   * within `readyTimeoutMs` is dropped, and so is a wait for a call.
   */
  constructor(name: string, readyTimeoutMs: number) {
    this.#name = name;
    this.#readyTimeoutMs = readyTimeoutMs;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#acceptReady(this.#listener);
  }

  /** Calls that came before their request waited for them, not yet claimed. */
  get unclaimed(): number {
    return this.#readyArrived.size;
  }

  /** The port to announce with LISTEN. */
  get port(): number {
    return this.#listener.addr.port;
  }

  async #acceptReady(listener: Deno.TcpListener): Promise<void> {
    try {
      for await (const conn of listener) this.#matchReady(conn);
    } catch (e) {
      // The listener closed.
      if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)) throw e;
    }
  }

  /** Reads a worker's `READY <token>` and hands the connection to the request waiting for it. */
  async #matchReady(conn: Deno.Conn): Promise<void> {
    const read = await new TcpLineReader(conn).next(this.#readyTimeoutMs);
    const line = read.kind === "line" ? decodeLine(read.bytes) ?? "" : "";
    const token = parseReady(line);
    if (token === null) {
      conn.close();
      return;
    }
    traceEvent({
      event: "accept",
      channel: "tcp",
      peer: "worker",
      detail: line,
      role: this.#name,
    });
    if (this.#abandoned.has(token)) {
      // Its request was sent again: closed at once, the worker is free at once (it would wait
      // for the line as long as its claim timeout).
      this.#abandoned.delete(token);
      conn.close();
      return;
    }
    const waiter = this.#readyWaiters.get(token);
    if (waiter) {
      waiter(conn);
      return;
    }
    this.#readyArrived.set(token, conn);
    const timer = setTimeout(() => {
      if (this.#readyArrived.get(token) !== conn) return;
      this.#readyArrived.delete(token);
      conn.close();
    }, UNCLAIMED_CALL_MS);
    Deno.unrefTimer(timer);
  }

  /**
   * The worker's READY connection for `token`, or null after the READY timeout. `cancel` gives
   * the token up — a call for it that comes later is closed at once — and returns the call that
   * had come already, if one had: a caller that stopped waiting for it in the same instant would
   * otherwise leave it open, and its worker waiting for a line for its whole claim timeout.
   */
  wait(token: string): { conn: Promise<Deno.Conn | null>; cancel: () => Deno.Conn | null } {
    const early = this.#readyArrived.get(token);
    if (early) {
      this.#readyArrived.delete(token);
      return { conn: Promise.resolve(early), cancel: () => early };
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delivered: Deno.Conn | null = null;
    const giveUp = () => {
      clearTimeout(timer);
      this.#readyWaiters.delete(token);
      if (delivered === null) this.#abandoned.add(token);
      return delivered;
    };
    const conn = new Promise<Deno.Conn | null>((resolve) => {
      timer = setTimeout(() => {
        giveUp();
        resolve(null);
      }, this.#readyTimeoutMs);
      this.#readyWaiters.set(token, (c) => {
        clearTimeout(timer);
        this.#readyWaiters.delete(token);
        delivered = c;
        resolve(c);
      });
    });
    return { conn, cancel: giveUp };
  }

  /** Stops listening; calls that came for no request are closed. */
  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#readyArrived.values()) conn.close();
    this.#readyArrived.clear();
  }
}
