/**
 * A worker (secondary server) k. It reads orders from the dispatcher on its named pipe `dwtube<k>`,
 * finds the request in its mailbox of the shared segment, and answers on `wdtube<k>`:
 *
 * - relay — `job <id>`: compute, write the reply line to the mailbox, pong `done <id>`.
 * - client-calls-worker — `claim <id>`: the request is reserved for a client that will connect to
 *   this worker's own TCP port; a connection sending exactly that line gets `OK <result>`, others
 *   `ERR unavailable`; then pong `free <id> served|timeout`. Nothing is to be done for a claim
 *   before its client comes, so the worker does not wake for its orders: it reads its pipe when a
 *   client's line arrives (the dispatcher writes the order before it answers REDIRECT, so the
 *   order is there) and at each heartbeat (for a client that never comes: the claim timeout runs
 *   from the order's time in the mailbox).
 * - worker-calls-client — `call <id>`: connect to the client's address from the mailbox, send
 *   `READY <token>`, read the request line, answer, close, pong `free <id> <outcome>`.
 *
 * Run by the harness: `worker.ts --worker K --stage S --segment /osps-… --runtime-dir DIR …`.
 *
 * @module
 */

import {
  BrokenPipeError,
  FifoReader,
  FifoWriter,
  FrameError,
  type Mailbox,
  monotonicMs,
  ParentGoneError,
  PipeFullError,
  raiseOpenFileLimit,
  ROLE_STATE,
  type RoleSlot,
  setParentDeathSignal,
  SharedSegment,
  SignalQueue,
  workerSlot,
} from "../ipc/mod.ts";
import {
  EXIT_PARENT_GONE,
  honourInjectedCrash,
  leaveOrphaned,
  parentAlive,
  startHeartbeat,
} from "./lifecycle.ts";
import { type Deadline, deadlineAfter } from "./deadline.ts";
import { roleLogger, setupLogging, traceEvent } from "./logging.ts";
import {
  acceptConnections,
  closeAfterReply,
  compute,
  connectionCap,
  connectWithin,
  decodeLine,
  errLine,
  listenRetrying,
  okLine,
  parseLine,
  TcpLineReader,
  writeLine,
} from "./protocol.ts";
import { parseRoleArgs, RoleArgsError, type RoleContext, roleTraceTarget } from "./role_args.ts";

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
const decoder = new TextDecoder();

/** Answers one request line with `OK <result>` or the specified `ERR` line (workers re-validate). */
export function answer(line: string): string {
  const parsed = parseLine(line);
  if (parsed.kind === "request") return okLine(compute(parsed.request));
  if (parsed.kind === "error") return errLine(parsed.code, parsed.message);
  return errLine("unknown-request", "not a request");
}

class Worker {
  readonly name: string;
  #state: number = ROLE_STATE.ready;
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
    return this.#state;
  }

  set state(value: number) {
    this.#state = value;
    this.slot.set("state", value);
  }

  pong(text: string, id: number): void {
    traceEvent({ event: "pong", channel: "fifo", req: id, peer: "dispatcher", detail: text });
    try {
      this.pongs.send(text);
    } catch (e) {
      // No dispatcher right now (it died; the watchdog restarts it): the answer cannot be taken.
      if (!(e instanceof BrokenPipeError || e instanceof PipeFullError)) throw e;
      log.warning("pong {text} dropped: {error}", { text, error: e.message });
    }
  }

  readMailbox(id: number): { text: string; timestamp: number } {
    const { seq, text, timestamp } = this.mailbox.readText();
    traceEvent({ event: "read mailbox", channel: "shm", req: id, detail: text });
    if (seq !== id) {
      throw new Error(`mailbox ${this.options.k} holds request ${seq}, order was for ${id}`);
    }
    return { text, timestamp };
  }

  /** relay: compute and put the reply line in the mailbox. */
  job(id: number): void {
    const reply = answer(this.readMailbox(id).text);
    this.mailbox.write(reply, { seq: id });
    traceEvent({ event: "write mailbox", channel: "shm", req: id, detail: reply });
    this.#served();
    this.pong(`done ${id}`, id);
  }

  #served(): void {
    this.slot.set("served", this.slot.get("served") + 1);
  }

  /** client-calls-worker: reserve this worker for the request until served or timed out. */
  claim(id: number): void {
    const { text: line, timestamp } = this.readMailbox(id);
    this.state = ROLE_STATE.busy;
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
      this.state = ROLE_STATE.ready;
      this.pong(`free ${id} ${outcome}`, id);
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
  #closeLater(conn: Deno.Conn, lines: TcpLineReader): void {
    const p = closeAfterReply(conn, lines, 200);
    this.#closing.add(p);
    p.finally(() => this.#closing.delete(p));
  }

  /** A client connection on this worker's port (client-calls-worker). */
  async serveClient(conn: Deno.Conn): Promise<void> {
    const peer = `${(conn.remoteAddr as Deno.NetAddr).hostname}:${
      (conn.remoteAddr as Deno.NetAddr).port
    }`;
    const lines = new TcpLineReader(conn);
    try {
      const read = await lines.next(this.options.claimTimeoutMs);
      if (read.kind !== "line") {
        if (read.kind === "too-long") {
          await writeLine(conn, errLine("line-too-long", "over 4096 bytes"));
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
    const m = /^([A-Za-z0-9]{1,32}) (\S+) (\d+) (.*)$/s.exec(text);
    if (m === null) {
      throw new Error(`mailbox ${this.options.k} holds a malformed call: ${JSON.stringify(text)}`);
    }
    const [, token, host, port, expected] = m;
    this.state = ROLE_STATE.busy;
    const outcome = await this.#callClient(id, token, host, Number(port), expected);
    this.state = ROLE_STATE.ready;
    this.pong(`free ${id} ${outcome}`, id);
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
      traceEvent({ event: "send", channel: "tcp", req: id, peer, detail: `READY ${token}` });
      if (!await writeLine(conn, `READY ${token}`)) return "unreachable";
      const read = await lines.next(this.options.claimTimeoutMs);
      if (read.kind === "timeout" || read.kind === "eof") return "timeout";
      if (read.kind === "too-long") {
        await writeLine(conn, errLine("line-too-long", "over 4096 bytes"));
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

/** Runs worker k until SIGTERM or until the dispatcher closes its pipe; `ready` is called once up. */
export async function runWorker(
  options: WorkerOptions,
  ready: (port: number) => void = () => {},
): Promise<void> {
  setParentDeathSignal("SIGTERM", options.parentPid);
  honourInjectedCrash(options.runtimeDir, `worker-${options.k}`);
  const fileLimit = raiseOpenFileLimit();
  using signals = new SignalQueue(["SIGTERM", "SIGINT"]);
  using segment = SharedSegment.open(options.segment);
  const slot = segment.slot(workerSlot(options.k));
  slot.set("pid", Deno.pid);
  let worker: Worker | null = null;
  let ownPort = 0;
  using _heartbeat = startHeartbeat(slot, options.parentPid, () => {
    slot.set("pid", Deno.pid);
    if (ownPort) {
      slot.set("port", ownPort);
      slot.setHost(options.host);
    }
    if (worker) {
      slot.set("state", worker.state);
      worker.takeOrders();
    }
  });
  let listener: Deno.TcpListener | null = null;
  if (options.stage === "client-calls-worker") {
    // A restarted worker takes the port of the one it replaces.
    const port = options.workerPort ?? (options.port === 0 ? 0 : options.port + options.k);
    listener = await listenRetrying(`worker ${options.k}`, options.host, port);
    slot.setHost(options.host);
    slot.set("port", listener.addr.port);
    ownPort = listener.addr.port;
  }
  // client-calls-worker reads its orders when it needs them (see the module documentation).
  const lazy = options.stage === "client-calls-worker";
  using pings = FifoReader.open(`${options.runtimeDir}/dwtube${options.k}`, {
    wait: lazy ? "none" : undefined,
  });
  using pongs = await FifoWriter.open(`${options.runtimeDir}/wdtube${options.k}`);
  // Orders left in the pipe were meant for the worker this one replaces.
  const stale = pings.discardPending();
  if (stale > 0) {
    log.info("dropped {stale} bytes of orders meant for the previous worker", { stale });
  }
  worker = new Worker(options, segment.mailbox(options.k), slot, pongs);
  worker.state = ROLE_STATE.ready;
  traceEvent({
    event: "ready",
    channel: "process",
    detail: listener ? `port ${listener.addr.port}` : "",
  });
  ready(listener?.addr.port ?? 0);

  const serving = new Set<Promise<void>>();
  const accepting = listener === null ? Promise.resolve() : acceptConnections(listener, {
    maxConnections: connectionCap(fileLimit, 64),
    serve: (conn) =>
      worker!.serveClient(conn).catch((e) =>
        log.warning("client connection: {e}", { e: String(e) })
      ),
    open: serving,
    warn: (message) => log.warning("{message}", { message }),
  });
  // The role stops on SIGTERM (SIGINT from a terminal is left to the parent, which orchestrates);
  // a SIGTERM that comes because the parent died (parent-death signal) means leave now.
  let stopping = false;
  const stopped = (async () => {
    for await (const s of signals) {
      if (s !== "SIGTERM") continue;
      if (!parentAlive(options.parentPid)) leaveOrphaned();
      traceEvent({ event: "stop", channel: "signal", detail: s });
      worker!.state = ROLE_STATE.stopping;
      stopping = true;
      pings.close();
      return;
    }
  })();

  /** Carries out one order from the pipe; an order that fails is answered `fail`. */
  const order = async (frame: Uint8Array): Promise<void> => {
    const text = decoder.decode(frame);
    const m = /^(job|claim|call) (\d+)$/.exec(text);
    const req = m ? Number(m[2]) : undefined;
    traceEvent({ event: "ping", channel: "fifo", req, peer: "dispatcher", detail: text });
    if (m === null) {
      log.warning("ignoring unknown order {text}", { text });
      return;
    }
    const id = Number(m[2]);
    try {
      if (m[1] === "job") worker.job(id);
      else if (m[1] === "claim") worker.claim(id);
      else await worker.call(id);
    } catch (e) {
      // Say so, rather than leave the dispatcher waiting: the request can be retried elsewhere.
      log.error("order {text} failed: {error}", { text, error: String(e) });
      worker.pong(`fail ${id} ${e instanceof Error ? e.name : "error"}`, id);
    }
  };

  if (lazy) {
    // Claims are carried out synchronously: they are all handled before this returns.
    worker.takeOrders = () => {
      while (!stopping) {
        let frame: Uint8Array | null;
        try {
          frame = pings.receiveNow();
        } catch (e) {
          if (!(e instanceof FrameError)) throw e;
          log.warning("{error}", { error: e.message });
          continue;
        }
        if (frame === null) return;
        void order(frame);
      }
    };
    await stopped;
  }
  // EOF on dwtube<k> means the dispatcher went away: keep waiting for the next one.
  while (!stopping) {
    let frame: Uint8Array | null;
    try {
      frame = await pings.receive();
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      log.warning("{error}", { error: e.message });
      continue;
    }
    if (frame !== null) await order(frame);
  }
  listener?.close();
  await accepting.catch(() => {});
  await Promise.all(serving);
  await worker.finish();
}

if (import.meta.main) {
  try {
    const { context, extra } = parseRoleArgs(Deno.args, ["worker", "worker-port"]);
    setupLogging(context.logLevel, roleTraceTarget(context, `worker ${extra.worker}`));
    const k = Number(extra.worker);
    if (!Number.isInteger(k) || k < 1) {
      throw new RoleArgsError("--worker must be a worker number from 1");
    }
    const workerPort = extra["worker-port"] === undefined
      ? undefined
      : Number(extra["worker-port"]);
    if (
      workerPort !== undefined &&
      !(Number.isInteger(workerPort) && workerPort >= 0 && workerPort <= 65535)
    ) {
      throw new RoleArgsError("--worker-port must be a TCP port");
    }
    await runWorker({ ...context, k, workerPort }, (port) => console.log(`ready ${port}`));
  } catch (e) {
    console.error(`worker: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof RoleArgsError ? 2 : e instanceof ParentGoneError ? EXIT_PARENT_GONE : 1);
  }
}
