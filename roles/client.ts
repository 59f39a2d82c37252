/**
 * The client: a module for users' scripts and the engine of `main.ts client`. One `OspsClient` is
 * one dispatcher connection carrying requests one after the other (seed step 6). It speaks every
 * stage: a plain `OK`/`ERR` reply (relay); `REDIRECT <host> <port>`, then the request again to
 * that worker (client-calls-worker); `WAIT <token>`, then the worker's `READY <token>` connection
 * on the port it announced with `LISTEN` (worker-calls-client). It announces LISTEN only in that
 * stage: told the stage, at once; otherwise when the dispatcher answers a request with
 * "send LISTEN <port> first". A lost dispatcher connection is reconnected with growing delays and
 * the request sent again (requests are idempotent).
 *
 * @example
 * ```ts
 * import { OspsClient } from "./client.ts";
 * await using client = await OspsClient.connect({ port: 2222 });
 * console.log(await client.request("requetetype2 100")); // { ok: true, result: "25", … }
 * ```
 *
 * @module
 */

export { answerLine, ClientError, type ClientOptions, type ClientResult } from "./client_result.ts";

import { CallListener } from "./client_calls.ts";
import { traceEvent } from "./logging.ts";
import {
  ClientError,
  type ClientOptions,
  type ClientResult,
  failure,
  resultOfReply,
} from "./client_result.ts";
import { decodeLine } from "./protocol.ts";
import { LISTEN_FIRST, parseHandoff, STAGES } from "./stages.ts";
import {
  closeGracefully,
  closeQuietly,
  isTransientConnectError,
  TcpLineReader,
  writeLine,
} from "./tcp.ts";
import { sleep } from "./timers.ts";
import { count } from "./words.ts";
import { TOO_MANY_CONNECTIONS } from "./tcp_serve.ts";

/** host:port of a connection's local end, as the server it talks to sees it. */
function addressOf(conn: Deno.Conn): string {
  const a = conn.localAddr as Deno.NetAddr;
  return `${a.hostname}:${a.port}`;
}

/** A connection, its line reader and the worker-calls-client listener if the stage has one. */
interface Session {
  conn: Deno.Conn;
  lines: TcpLineReader;
  /** Replies it brought so far: a connection that served one and then closes was ended on purpose. */
  replies: number;
}

/** A client of the system: one dispatcher connection, requests one at a time. */
export class OspsClient implements AsyncDisposable {
  readonly #options: Required<Omit<ClientOptions, "stage">>;
  /** Whether the stage wants a LISTEN port (null: not known yet). */
  #listens: boolean | null;
  #session: Session | null = null;
  #calls: CallListener | null = null;
  #closed = false;

  private constructor(options: ClientOptions) {
    this.#options = {
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 2222,
      retries: options.retries ?? 5,
      backoffMs: options.backoffMs ?? 50,
      timeoutMs: options.timeoutMs ?? 15_000,
      readyTimeoutMs: options.readyTimeoutMs ?? 15_000,
      name: options.name ?? "client",
    };
    this.#listens = options.stage === undefined ? null : STAGES[options.stage].clientListens;
  }

  /** The dispatcher's address, as messages name it. */
  get #address(): string {
    return `${this.#options.host}:${this.#options.port}`;
  }

  /** Connects to the dispatcher (with the same retries as requests). */
  static async connect(options: ClientOptions = {}): Promise<OspsClient> {
    const client = new OspsClient(options);
    await client.#ensureSession();
    return client;
  }

  async #open(): Promise<Session> {
    const conn = await Deno.connect({ hostname: this.#options.host, port: this.#options.port });
    const session = { conn, lines: new TcpLineReader(conn), replies: 0 };
    traceEvent({
      event: "connect",
      channel: "tcp",
      peer: "dispatcher",
      detail: `from ${addressOf(conn)}`,
      role: this.#options.name,
    });
    if (this.#listens) {
      try {
        await this.#listen(session);
      } catch (e) {
        conn.close();
        throw e;
      }
    }
    return session;
  }

  /** Announces the port workers call this client on (worker-calls-client). */
  async #listen(session: Session): Promise<void> {
    this.#calls ??= new CallListener(this.#options.name, this.#options.readyTimeoutMs);
    await this.#send(session, `LISTEN ${this.#calls.port}`);
    const reply = await this.#receive(session, this.#options.timeoutMs);
    if (reply === "OK") return;
    if (reply === TOO_MANY_CONNECTIONS) {
      // At its connection limit (a flood): the connection was refused; tried again, later.
      throw new Deno.errors.ConnectionRefused(`the dispatcher is busy: ${reply}`);
    }
    if (reply === null) {
      // Lost before it answered (a dispatcher that died with the connection in its backlog):
      // like any lost connection, tried again.
      throw new Deno.errors.ConnectionReset("the connection closed before LISTEN was answered");
    }
    throw new ClientError(
      `${this.#address} does not take LISTEN as an osps dispatcher in the worker-calls-client ` +
        `stage does: it answered ${JSON.stringify(reply.slice(0, 80))}`,
    );
  }

  async #ensureSession(): Promise<Session> {
    let delay = this.#options.backoffMs;
    for (let attempt = 0;; attempt++) {
      try {
        this.#session ??= await this.#open();
        return this.#session;
      } catch (e) {
        // Not allowed to connect at all: retrying cannot help.
        if (e instanceof Deno.errors.NotCapable) throw e;
        const retrying = attempt < this.#options.retries && isTransientConnectError(e);
        if (!retrying) {
          throw new ClientError(
            `cannot reach the dispatcher at ${this.#options.host}:${this.#options.port} ` +
              `after ${count(attempt + 1, "attempt")}: ${(e as Error).message}`,
            { cause: e },
          );
        }
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  async #send(session: Session, line: string): Promise<void> {
    traceEvent({
      event: "send",
      channel: "tcp",
      peer: "dispatcher",
      detail: line,
      role: this.#options.name,
    });
    if (!await writeLine(session.conn, line)) throw new Deno.errors.ConnectionReset("write failed");
  }

  async #receive(session: Session, timeoutMs: number): Promise<string | null> {
    const read = await session.lines.next(timeoutMs);
    if (read.kind === "timeout") throw new ClientError(`no reply within ${timeoutMs} ms`);
    if (read.kind !== "line") return null;
    return decodeLine(read.bytes) ?? "";
  }

  /**
   * Waits for the worker's READY call for `token` while watching the dispatcher connection: if the
   * dispatcher goes away first, no worker may ever have been told to call (it answers WAIT before
   * it orders the call), so the caller sends the request again: `gone` — unless the worker's call
   * came in that same instant: then it is taken (left open, its worker would wait for the request
   * for its whole claim timeout, and take no other work meanwhile).
   */
  async #readyOrGone(session: Session, token: string): Promise<Deno.Conn | null | "gone"> {
    const ready = this.#calls!.wait(token);
    while (true) {
      const first = await Promise.race([ready.conn, session.lines.watch()]);
      if (first === "eof" || first === "interrupted") return ready.cancel() ?? "gone";
      if (first !== "data") return first; // a quiet connection spoke: its line is kept; wait on
    }
  }

  /**
   * Worker-calls-client: takes the worker's READY call for `token`, sends the request, reads the
   * answer. There is one call per WAIT: the dispatcher tries another worker (with the same token)
   * only when the first died before it said it was calling. So a call that ends without an answer
   * (its worker died calling), or no call within the READY timeout (its worker died between
   * saying so and connecting), is `again`: the request is to be sent again, for a new token; and
   * `gone` if the dispatcher went away before any worker called.
   */
  async #answerCallback(
    session: Session,
    token: string,
    line: string,
  ): Promise<string | "again" | "gone"> {
    const conn = await this.#readyOrGone(session, token);
    if (conn === "gone") return "gone";
    if (conn === null) return "again";
    try {
      return await this.#exchangeOn(conn, line, `worker calling for ${token}`) ?? "again";
    } finally {
      await closeGracefully(conn, 100);
    }
  }

  /** Sends `line` on a fresh connection to a worker and reads its one reply. */
  async #askWorker(host: string, port: number, line: string): Promise<string | null> {
    const conn = await Deno.connect({ hostname: host, port });
    const peer = `worker ${host}:${port}`;
    try {
      traceEvent({
        event: "connect",
        channel: "tcp",
        peer,
        detail: `from ${addressOf(conn)}`,
        role: this.#options.name,
      });
      return await this.#exchangeOn(conn, line, peer);
    } finally {
      await closeGracefully(conn, 100);
    }
  }

  async #exchangeOn(conn: Deno.Conn, line: string, peer: string): Promise<string | null> {
    traceEvent({ event: "send", channel: "tcp", peer, detail: line, role: this.#options.name });
    if (!await writeLine(conn, line)) return null;
    const read = await new TcpLineReader(conn).next(this.#options.timeoutMs);
    const reply = read.kind === "line" ? decodeLine(read.bytes) ?? "" : null;
    if (reply !== null) {
      traceEvent({ event: "recv", channel: "tcp", peer, detail: reply, role: this.#options.name });
    }
    return reply;
  }

  /**
   * Sends one request line (`requetetype1 hello`, `requetetype2 1000`) and returns its answer,
   * following REDIRECT or WAIT. Throws {@link ClientError} only when no answer can be had.
   */
  async request(line: string): Promise<ClientResult> {
    if (this.#closed) throw new ClientError("the client is closed");
    if (line.includes("\n")) throw new TypeError("a request is one line");
    if (line === "QUIT") throw new TypeError("QUIT is no request: close() sends it");
    let refusals = 0;
    for (let retries = 0;; retries++) {
      const session = await this.#ensureSession();
      let reply: string | null;
      try {
        await this.#send(session, line);
        reply = await this.#receive(session, this.#options.timeoutMs);
      } catch (e) {
        // No reply in time (a ClientError), or a failure no retry mends: a late reply must not
        // be taken for the next request's.
        if (!isTransientConnectError(e)) {
          this.#drop(session);
          throw e;
        }
        reply = null;
      }
      if (reply === null) {
        // The dispatcher connection was lost before the answer: reconnect and send again. One
        // that had served before and closes between two requests was ended on purpose (a
        // dispatcher handing over to the next, in a reload): at once, the first time.
        this.#drop(session);
        if (retries >= this.#options.retries) {
          throw new ClientError(`connection lost ${count(retries + 1, "time")}`);
        }
        if (retries > 0 || session.replies === 0) {
          await sleep(this.#options.backoffMs * 2 ** retries);
        }
        continue;
      }
      session.replies++;
      traceEvent({
        event: "recv",
        channel: "tcp",
        peer: "dispatcher",
        detail: reply,
        role: this.#options.name,
      });
      if (reply === TOO_MANY_CONNECTIONS && refusals < this.#options.retries) {
        // The dispatcher holds all the connections it allows and refused this one (a flood):
        // connect again later. Not a retry: the request was not taken.
        this.#drop(session);
        await sleep(this.#options.backoffMs * 2 ** refusals++);
        retries--;
        continue;
      }
      if (reply === LISTEN_FIRST && this.#listens === null) {
        // The stage is worker-calls-client: the next connection announces a port first. Not a
        // retry: the request has not been taken yet.
        this.#listens = true;
        this.#drop(session);
        retries--;
        continue;
      }
      // The dispatcher answered, or handed the request on as its stage does (`stages.ts`).
      const handoff = parseHandoff(reply);
      if (handoff?.kind === "redirect") {
        const answer = await this.#askWorker(handoff.host, handoff.port, line).catch((e) => {
          // A worker that is gone or refuses is no answer: asked again below, or through the
          // dispatcher. Anything else is a fault, not a lost worker.
          if (!isTransientConnectError(e)) throw e;
          return null;
        });
        if (answer !== null && !answer.startsWith("ERR unavailable")) {
          return resultOfReply(answer, "redirect", retries);
        }
        // The worker died before answering, or holds no reservation for us: ask the dispatcher
        // again, it picks a worker that can take the request.
        if (retries >= this.#options.retries) {
          return failure("unavailable", "the worker did not answer", "redirect", retries);
        }
        continue;
      }
      if (handoff?.kind === "wait") {
        const answer = await this.#answerCallback(session, handoff.token, line);
        if (answer !== "again" && answer !== "gone") {
          return resultOfReply(answer, "callback", retries);
        }
        // The dispatcher went away before a worker called, or the worker that called died: send
        // the request again (on a new connection if the dispatcher's is gone).
        if (answer === "gone") this.#drop(session);
        if (retries >= this.#options.retries) {
          const why = answer === "gone" ? "the dispatcher went away" : "its worker died calling";
          return failure("unavailable", why, "callback", retries);
        }
        continue;
      }
      return resultOfReply(reply, "dispatcher", retries);
    }
  }

  /** Forgets a dispatcher connection that cannot be used any more, and closes it. */
  #drop(session: Session): void {
    if (this.#session === session) this.#session = null;
    closeQuietly(session.conn);
  }

  /** Sends QUIT and closes everything. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const session = this.#session;
    this.#session = null;
    if (session) {
      await writeLine(session.conn, "QUIT");
      await closeGracefully(session.conn, 100);
    }
    await this.#calls?.close();
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
