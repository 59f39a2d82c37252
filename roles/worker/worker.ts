/**
 * What a worker does with each order, by stage (`stages.ts`):
 *
 * - relay — `job <id>`: compute, write the reply line to the mailbox, answer `done <id>`.
 * - client-calls-worker — `claim <id>`: the request is reserved for a client that will connect to
 *   this worker's own TCP port; a connection sending exactly that line gets `OK <result>`, others
 *   `ERR unavailable`; then answer `free <id> served|timeout`.
 * - worker-calls-client — `call <id>`: connect to the client's address from the mailbox, send
 *   `READY <token>`, read the request line, answer, close, answer `free <id> <outcome>`.
 *
 * @module
 */

import {
  BrokenPipeError,
  type FifoWriter,
  type Mailbox,
  monotonicMs,
  PipeFullError,
  ROLE_STATE,
  type RoleSlot,
} from "../../ipc/mod.ts";
import { type Deadline, deadlineAfter } from "../deadline.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { compute, decodeLine, errLine, LINE_TOO_LONG, okLine, parseLine } from "../protocol.ts";
import type { RoleContext } from "../role_args.ts";
import {
  type AnswerKind,
  type OrderKind,
  parseCall,
  pipeAnswerLine,
  readyLine,
} from "../stages.ts";
import type { LineConn } from "../socket_conn.ts";
import { closeAfterReply, TcpLineReader, writeLine } from "../tcp.ts";
import { connectWithin } from "../tcp_serve.ts";

/** A worker's options: the common ones and its number. */
export interface WorkerOptions extends RoleContext {
  /** The worker's number, 1-based, as in `dwtube<k>`. */
  k: number;
  /** Its TCP port in client-calls-worker, when fixed (a restart reuses its predecessor's). */
  workerPort?: number;
}

/** The outcome of answering one request. */
type Outcome = "served" | "timeout" | "unreachable" | "mismatch";

const log = roleLogger("worker");

/** Answers one request line with `OK <result>` or the specified `ERR` line (workers re-validate). */
export function answer(line: string): string {
  const parsed = parseLine(line);
  if (parsed.kind === "request") return okLine(compute(parsed.request));
  if (parsed.kind === "error") return errLine(parsed.code, parsed.message);
  return errLine("unknown-request", "not a request");
}

/** Where a worker stands: serving, draining (no new orders; it leaves once idle), stopping. */
export type WorkerPhase = "serving" | "draining" | "stopping";

/** A worker: its mailbox, its slot, its answer pipe, and the request it holds. */
export class Worker {
  readonly name: string;
  #phase: WorkerPhase = "serving";
  /** Whether it holds a request (a claim, a call). */
  #busy = false;
  /** Whether the dispatcher said no order will follow (`drain`): it leaves once idle. */
  #lastOrderCame = false;
  readonly #drained = Promise.withResolvers<void>();
  #claim:
    | {
      id: number;
      line: string;
      done: (outcome: Outcome) => void;
      deadline: Deadline;
    }
    | null = null;
  /** The last reservation that expired: a client that comes for it late is told so. */
  #expired: { line: string; afterMs: number } | null = null;
  /** Handles the orders waiting in the pipe, if the orders are read when needed (see the module). */
  takeOrders: () => void = () => {};
  /** Connections being closed after their reply (the worker is already free for the next). */
  #closing = new Set<Promise<void>>();

  constructor(
    readonly options: WorkerOptions,
    readonly mailbox: Mailbox,
    readonly slot: RoleSlot,
    readonly pongs: FifoWriter,
  ) {
    this.name = `worker ${options.k}`;
  }

  /** The worker's state, as its slot shows it (written at once and at every beat). */
  get state(): number {
    if (this.#phase === "stopping") return ROLE_STATE.stopping;
    if (this.#phase === "draining") return ROLE_STATE.draining;
    return this.#busy ? ROLE_STATE.busy : ROLE_STATE.ready;
  }

  /** Its phase; the slot's state follows at once. */
  set phase(value: WorkerPhase) {
    this.#phase = value;
    this.slot.set("state", this.state);
  }

  #setBusy(busy: boolean): void {
    this.#busy = busy;
    this.slot.set("state", this.state);
    if (!busy && this.#lastOrderCame) this.#drained.resolve();
  }

  /**
   * The drain signal came (the watchdog retires this worker: recycling, a reload, scaling down):
   * its slot says `draining`, so that the dispatcher gives it no new request, and once the
   * dispatcher has said so (the `drain` order, after its last one) and the worker holds nothing,
   * {@link drained} resolves.
   */
  drain(): void {
    if (this.#phase !== "serving") return;
    this.phase = "draining";
    traceEvent({ event: "draining", channel: "process", detail: "no new requests" });
  }

  /** The dispatcher's `drain`: no order follows it; the worker leaves once it holds nothing. */
  lastOrder(): void {
    this.#lastOrderCame = true;
    if (!this.#busy) this.#drained.resolve();
  }

  /** Resolves once a drain is over: every request it held answered, no order to come. */
  get drained(): Promise<void> {
    return this.#drained.promise;
  }

  /** Answers request `id` on `wdtube<k>`; an answer no dispatcher can take is dropped. */
  answer(kind: AnswerKind, id: number, detail = ""): void {
    const text = pipeAnswerLine(kind, id, detail);
    traceEvent({ event: "answer", channel: "fifo", req: id, peer: "dispatcher", detail: text });
    try {
      this.pongs.send(text);
    } catch (e) {
      // No dispatcher right now (it died; the watchdog restarts it): the answer cannot be taken.
      if (!(e instanceof BrokenPipeError || e instanceof PipeFullError)) throw e;
      log.warning("answer {text} dropped: {error}", { text, error: e.message });
    }
  }

  /** The request `id` from the mailbox; an error if the mailbox holds another one. */
  readMailbox(id: number): { text: string; timestamp: number } {
    const { seq, text, timestamp } = this.mailbox.readText();
    traceEvent({ event: "read mailbox", channel: "shm", req: id, detail: text });
    if (seq !== id) {
      throw new Error(`mailbox ${this.options.k} holds request ${seq}, order was for ${id}`);
    }
    return { text, timestamp };
  }

  /**
   * Carries out order `kind` for request `id`; one that fails is answered `fail`, so that the
   * dispatcher can retry the request elsewhere rather than wait.
   */
  async carryOut(kind: OrderKind, id: number): Promise<void> {
    try {
      if (kind === "job") this.job(id);
      else if (kind === "claim") this.claim(id);
      else await this.call(id);
    } catch (e) {
      log.error("order {kind} {id} failed: {error}", { kind, id, error: String(e) });
      this.answer("fail", id, e instanceof Error ? e.name : "error");
    }
  }

  /** relay: compute and put the reply line in the mailbox. */
  job(id: number): void {
    const reply = answer(this.readMailbox(id).text);
    this.mailbox.write(reply, { seq: id });
    traceEvent({ event: "write mailbox", channel: "shm", req: id, detail: reply });
    this.#served();
    this.answer("done", id);
  }

  #served(): void {
    this.slot.set("served", this.slot.get("served") + 1);
  }

  /** client-calls-worker: reserve this worker for the request until served or timed out. */
  claim(id: number): void {
    const { text: line, timestamp } = this.readMailbox(id);
    this.#setBusy(true);
    // The reservation lasts the claim timeout from when the dispatcher made it.
    const age = monotonicMs() - timestamp;
    const left = Math.max(
      0,
      Math.min(this.options.claimTimeoutMs, this.options.claimTimeoutMs - age),
    );
    const deadline = deadlineAfter(left, () => {
      this.#expired = { line, afterMs: this.options.claimTimeoutMs };
      finish("timeout");
    });
    const finish = (outcome: Outcome) => {
      if (this.#claim?.id !== id) return;
      deadline.cancel();
      this.#claim = null;
      // Free in its slot before the dispatcher hears it: the dispatcher's next pick reads the slot.
      this.#setBusy(false);
      this.answer("free", id, outcome);
    };
    this.#claim = { id, line, done: finish, deadline };
  }

  /**
   * At stop: drops a pending reservation (no deadline may fire once the segment is unmapped) and
   * waits for the connections still closing.
   */
  async finish(): Promise<void> {
    this.#claim?.deadline.cancel();
    this.#claim = null;
    await Promise.all(this.#closing);
  }

  /** Closes a connection after its last reply, without holding the worker meanwhile. */
  #closeLater(conn: LineConn, lines: TcpLineReader): void {
    const p = closeAfterReply(conn, lines, 200);
    this.#closing.add(p);
    p.finally(() => this.#closing.delete(p));
  }

  /** A client connection on this worker's port (client-calls-worker). */
  async serveClient(conn: LineConn): Promise<void> {
    const peer = `${(conn.remoteAddr as Deno.NetAddr).hostname}:${
      (conn.remoteAddr as Deno.NetAddr).port
    }`;
    const lines = new TcpLineReader(conn);
    try {
      const read = await lines.next(this.options.claimTimeoutMs);
      if (read.kind !== "line") {
        if (read.kind === "too-long") {
          await writeLine(conn, LINE_TOO_LONG);
        }
        return;
      }
      const line = decodeLine(read.bytes) ?? "";
      // The order for this client's request was written before its REDIRECT: it is in the pipe.
      this.takeOrders();
      const claim = this.#claim;
      traceEvent({
        event: "recv",
        channel: "tcp",
        req: claim?.id,
        peer: `client ${peer}`,
        detail: line,
      });
      if (claim === null || claim.line !== line) {
        const late = this.#expired?.line === line ? this.#expired : null;
        await writeLine(
          conn,
          errLine(
            "unavailable",
            late
              ? `the reservation for this request expired after ${late.afterMs} ms ` +
                `(--claim-timeout sets it); ask the dispatcher again`
              : "this worker holds no such reservation",
          ),
        );
        return;
      }
      const reply = answer(line);
      traceEvent({
        event: "reply",
        channel: "tcp",
        req: claim.id,
        peer: `client ${peer}`,
        detail: reply,
      });
      await writeLine(conn, reply);
      this.#served();
      claim.done("served");
    } finally {
      await closeAfterReply(conn, lines, 200);
    }
  }

  /** worker-calls-client: connect to the client, announce the token, answer its request. */
  async call(id: number): Promise<void> {
    const { text } = this.readMailbox(id);
    const call = parseCall(text);
    if (call === null) {
      throw new Error(`mailbox ${this.options.k} holds a malformed call: ${JSON.stringify(text)}`);
    }
    this.#setBusy(true);
    // Said before the connection: if this worker dies from now on, the dispatcher does not give
    // the request to another one (the client may have had it answered already).
    this.answer("calling", id);
    const outcome = await this.#callClient(id, call.token, call.host, call.port, call.request);
    this.#setBusy(false);
    this.answer("free", id, outcome);
  }

  async #callClient(
    id: number,
    token: string,
    host: string,
    port: number,
    expected: string,
  ): Promise<Outcome> {
    let conn: Deno.Conn;
    try {
      conn = await connectWithin(host, port, this.options.claimTimeoutMs);
    } catch (e) {
      log.info("cannot reach client {host}:{port}: {error}", { host, port, error: String(e) });
      traceEvent({
        event: "connect failed",
        channel: "tcp",
        req: id,
        peer: `client ${host}:${port}`,
      });
      return "unreachable";
    }
    const peer = `client ${host}:${port}`;
    const lines = new TcpLineReader(conn);
    try {
      traceEvent({ event: "connect", channel: "tcp", req: id, peer });
      const ready = readyLine(token);
      traceEvent({ event: "send", channel: "tcp", req: id, peer, detail: ready });
      if (!await writeLine(conn, ready)) return "unreachable";
      const read = await lines.next(this.options.claimTimeoutMs);
      if (read.kind === "timeout" || read.kind === "eof") return "timeout";
      if (read.kind === "too-long") {
        await writeLine(conn, LINE_TOO_LONG);
        return "mismatch";
      }
      const line = decodeLine(read.bytes) ?? "";
      traceEvent({ event: "recv", channel: "tcp", req: id, peer, detail: line });
      if (line !== expected) {
        await writeLine(conn, errLine("unavailable", "not the request this worker was called for"));
        return "mismatch";
      }
      const reply = answer(line);
      traceEvent({ event: "reply", channel: "tcp", req: id, peer, detail: reply });
      await writeLine(conn, reply);
      this.#served();
      return "served";
    } finally {
      this.#closeLater(conn, lines);
    }
  }
}
