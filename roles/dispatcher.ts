/**
 * The dispatcher (main server). It accepts clients on TCP, validates each request line, queues it
 * (bounded) until a worker is free, and hands it over through the worker's mailbox in the shared
 * segment and an order on `dwtube<k>`; answers come back on `wdtube<k>`. Per stage the client gets:
 * relay `OK <result>` (the worker's reply from the mailbox), client-calls-worker
 * `REDIRECT <host> <port>`, worker-calls-client `WAIT <token>` (after `LISTEN <port>`).
 *
 * It knows its workers through the registry in the segment: a worker takes work only when its slot
 * says `ready` and its heartbeat is fresh; a worker that dies under a request (its pipe closes)
 * is skipped until the watchdog has started its next generation, and the request is retried once
 * on another worker (relay, worker-calls-client). A restarted dispatcher rebuilds this view from
 * the segment alone; the workers keep running.
 *
 * Run by the watchdog: `dispatcher.ts --workers N --stage S --segment /osps-… --runtime-dir DIR …`.
 *
 * @module
 */

import {
  DISPATCHER_SLOT,
  FifoReader,
  FifoWriter,
  FrameError,
  type Mailbox,
  MailboxCorruptError,
  monotonicMs,
  ParentGoneError,
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
import { freshBeat } from "./liveness.ts";
import { roleLogger, setupLogging, traceEvent } from "./logging.ts";
import {
  acceptConnections,
  closeGracefully,
  connectionCap,
  decodeLine,
  errLine,
  listenRetrying,
  parseLine,
  type Request,
  TcpLineReader,
  writeLine,
} from "./protocol.ts";
import {
  parseRoleArgs,
  RoleArgsError,
  type RoleContext,
  roleInt,
  roleTraceTarget,
} from "./role_args.ts";

/** The dispatcher's options. */
export interface DispatcherOptions extends RoleContext {
  /** Number of workers. */
  workers: number;
  /** Requests waiting for a worker, at most (default 64); past it: `ERR busy`. */
  queueLimit: number;
  /** Client connections open at once, at most (0: derived from the open-file limit). */
  maxConnections: number;
  /** The host a REDIRECT names ("": the address each client reached the dispatcher on). */
  advertise: string;
  /** A request not served within this many ms gets `ERR timeout` (default 10000). */
  requestTimeoutMs: number;
  /** A connection that sends no whole line for this many ms is closed (default 60000). */
  idleTimeoutMs: number;
  /** On SIGTERM, in-flight requests get this many ms to finish (default 5000). */
  graceMs: number;
}

/** Attempts per request: the first, and one retry on another worker if the first one dies. */
const MAX_ATTEMPTS = 2;

const log = roleLogger("dispatcher");

/** A client connection. */
interface Client {
  conn: Deno.Conn;
  name: string;
  /** The client's address, as this connection comes from. */
  host: string;
  /** This machine's address the client reached the dispatcher on. */
  reachedOn: string;
  listenPort: number | null;
}

/** One accepted request, from the queue to its one reply line. */
class Job {
  readonly id: number;
  readonly request: Request;
  readonly client: Client;
  /** Workers it was handed to so far. */
  attempts = 0;
  #replied = false;
  #done!: () => void;
  /** Resolves once the reply line is written (or the client is gone). */
  readonly done: Promise<void>;
  /** Its request timeout, once queued. */
  deadline: Deadline | undefined;

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

/**
 * The first request id of dispatcher generation `generation` (1, 2, … as the watchdog counts its
 * starts; 0 outside a watchdog): the generation in the high bits of a number below 2^53, so the
 * first dispatcher's ids are 1, 2, 3…
 */
export function requestIdBase(generation: number): number {
  return Math.max(0, generation - 1) * 2 ** 32;
}

/** The dispatcher's view of worker k. */
class WorkerLink {
  readonly k: number;
  readonly name: string;
  pings: FifoWriter | null = null;
  job: Job | null = null;
  /** The generation of the worker process last seen alive in this slot. */
  generation = -1;
  /** A generation known dead: the slot is skipped until its generation changes. */
  deadGeneration: number | null = null;

  constructor(
    k: number,
    readonly pongs: FifoReader,
    readonly mailbox: Mailbox,
    readonly slot: RoleSlot,
  ) {
    this.k = k;
    this.name = `worker ${k}`;
  }

  /** Free for a new request: connected, idle, and its slot says a live, ready worker. */
  get available(): boolean {
    if (this.pings === null || this.job !== null) return false;
    const generation = this.slot.get("generation");
    if (generation === this.deadGeneration) return false;
    if (this.slot.get("state") !== ROLE_STATE.ready) return false;
    if (!freshBeat(this.slot.get("heartbeat"), monotonicMs())) return false;
    this.deadGeneration = null;
    this.generation = generation;
    return true;
  }
}

/** The dispatcher: connections, queue, workers. */
class Dispatcher {
  readonly options: DispatcherOptions;
  readonly segment: SharedSegment;
  readonly links: WorkerLink[];
  #queue: Job[] = [];
  #nextId: number;
  #stopping = false;
  #clients = new Set<Client>();
  #connections = new Set<Promise<void>>();
  #pongLoops: Promise<void>[] = [];
  #connecting: Promise<void>[] = [];

  constructor(options: DispatcherOptions, segment: SharedSegment) {
    this.options = options;
    this.segment = segment;
    // Request ids are unique across dispatcher generations: a pong or a mailbox left by the
    // dispatcher this one replaces can never be taken for one of this one's requests.
    const generation = segment.slot(DISPATCHER_SLOT).get("generation");
    this.#nextId = requestIdBase(generation) + 1;
    this.links = Array.from({ length: options.workers }, (_, i) => {
      const k = i + 1;
      const pongs = FifoReader.open(`${options.runtimeDir}/wdtube${k}`);
      // Answers left in the pipe were meant for the dispatcher this one replaces.
      const stale = pongs.discardPending();
      if (stale > 0) {
        traceEvent({
          event: "stale answers",
          channel: "fifo",
          peer: `worker ${k}`,
          detail: `${stale} bytes dropped at start`,
        });
      }
      return new WorkerLink(k, pongs, segment.mailbox(k), segment.slot(workerSlot(k)));
    });
  }

  /**
   * Opens each ping pipe as soon as its worker reads it, without waiting for all: a worker that
   * cannot start must not keep the dispatcher from serving with the others.
   */
  connectWorkers(signal: AbortSignal): void {
    for (const link of this.links) {
      this.#connecting.push(
        FifoWriter.open(`${this.options.runtimeDir}/dwtube${link.k}`, { signal }).then(
          (writer) => {
            link.pings = writer;
            this.#pongLoops.push(
              this.#pongLoop(link).catch((e) =>
                log.error("pong loop of {worker}: {e}", { worker: link.name, e: String(e) })
              ),
            );
            this.pump();
          },
          () => {/* aborted by the stop */},
        ),
      );
    }
  }

  /** The worker of `link` is gone (its pipe closed or refused an order): retry or answer. */
  async #lose(link: WorkerLink, why: string): Promise<void> {
    link.deadGeneration = link.generation;
    const job = link.job;
    link.job = null;
    traceEvent({
      event: "worker lost",
      channel: "fifo",
      req: job?.id,
      peer: link.name,
      detail: why,
    });
    if (job !== null) await this.#retryOrFail(job, link, `${link.name} went away (${why})`);
  }

  /**
   * A request whose attempt failed: once more on another worker, else `ERR unavailable`. In
   * client-calls-worker, once the REDIRECT is sent it is the reply: the client retries through the
   * dispatcher; before it (the order could not be written), the request is retried here.
   */
  async #retryOrFail(job: Job, link: WorkerLink, why: string): Promise<void> {
    if (this.options.stage === "client-calls-worker" && job.replied) return;
    if (this.#stopping) {
      await job.reply(errLine("shutting-down", `the dispatcher is stopping (${why})`));
    } else if (job.attempts < MAX_ATTEMPTS) {
      log.info("request {id} failed with {worker}; retrying on another worker", {
        id: job.id,
        worker: link.name,
      });
      this.#queue.unshift(job);
      this.pump();
    } else {
      await job.reply(errLine("unavailable", why));
    }
  }

  async #pongLoop(link: WorkerLink): Promise<void> {
    while (true) {
      let text: string | null;
      try {
        text = await link.pongs.receiveText();
      } catch (e) {
        if (!(e instanceof FrameError)) throw e;
        log.warning("{error}", { error: e.message });
        continue;
      }
      if (text === null) {
        if (this.#stopping) return;
        // Every writer of wdtube<k> closed: the worker process is gone.
        await this.#lose(link, "its pipe closed");
        continue;
      }
      traceEvent({ event: "pong", channel: "fifo", peer: link.name, detail: text });
      const m = /^(done|free|fail) (\d+)/.exec(text);
      const job = link.job;
      if (m === null || job === null || job.id !== Number(m[2])) {
        // Not the answer to the request in flight (a late one, a predecessor's, a forged one).
        log.info("stale or unknown answer {text} from {worker}", { text, worker: link.name });
        traceEvent({ event: "stale answer", channel: "fifo", peer: link.name, detail: text });
        continue;
      }
      link.job = null;
      if (m[1] === "fail") {
        // The worker could not use its mailbox (corrupt, overwritten): the worker is fine.
        await this.#retryOrFail(job, link, `${link.name} could not read the request (${text})`);
      } else if (m[1] === "done") {
        let read;
        try {
          read = link.mailbox.readText();
        } catch (e) {
          if (!(e instanceof MailboxCorruptError)) throw e;
          log.warning("{error}", { error: e.message });
          await this.#retryOrFail(job, link, `the reply in ${link.name}'s mailbox is corrupt`);
          this.pump();
          continue;
        }
        const { seq, text: reply } = read;
        traceEvent({
          event: "read mailbox",
          channel: "shm",
          req: job.id,
          peer: link.name,
          detail: reply,
        });
        if (seq === job.id && /^(OK|ERR )/.test(reply)) {
          await job.reply(reply);
        } else {
          // Not the reply to this request (overwritten, or a forged "done"): never pass it on.
          await this.#retryOrFail(
            job,
            link,
            `${link.name}'s mailbox does not hold a reply to request ${job.id}`,
          );
        }
      }
      this.pump();
    }
  }

  /** Gives queued jobs to available workers, oldest first; also publishes the queue length. */
  pump(): void {
    while (this.#queue.length > 0) {
      const link = this.links.find((l) => l.available);
      if (link === undefined) break;
      const job = this.#queue.shift()!;
      this.#assign(job, link).catch((e) =>
        log.error("assigning {id}: {e}", { id: job.id, e: String(e) })
      );
    }
    this.segment.slot(DISPATCHER_SLOT).set("queue", this.#queue.length);
  }

  async #assign(job: Job, link: WorkerLink): Promise<void> {
    link.job = job;
    job.attempts++;
    const stage = this.options.stage;
    let content = job.request.line;
    if (stage === "worker-calls-client") {
      // Unique across dispatcher restarts: a worker may still call for a previous dispatcher's token.
      const token = `p${Deno.pid}r${job.id}`;
      content = `${token} ${job.client.host} ${job.client.listenPort} ${job.request.line}`;
      // The client learns its token before the worker is told to call it (once: a retry reuses it).
      await job.reply(`WAIT ${token}`);
    }
    const order = `${
      stage === "relay" ? "job" : stage === "client-calls-worker" ? "claim" : "call"
    } ${job.id}`;
    link.mailbox.write(content, { seq: job.id });
    traceEvent({
      event: "write mailbox",
      channel: "shm",
      req: job.id,
      peer: link.name,
      detail: content,
    });
    try {
      link.pings!.send(order);
    } catch (e) {
      // No reader (the worker died: EPIPE) or a full pipe (it is frozen): not this request's fault.
      log.warning("{worker} cannot take orders: {error}", { worker: link.name, error: String(e) });
      await this.#lose(link, "it does not read its pipe");
      return;
    }
    traceEvent({ event: "ping", channel: "fifo", req: job.id, peer: link.name, detail: order });
    if (stage === "client-calls-worker") {
      // The worker listens on the dispatcher's host: the address the client reached the
      // dispatcher on reaches the worker too (the bound address may be 0.0.0.0, which no client
      // can connect to), unless an address to advertise was given (NAT, containers).
      const host = this.options.advertise || job.client.reachedOn;
      await job.reply(`REDIRECT ${host} ${link.slot.get("port")}`);
    }
  }

  /** Accepts a request: queue it, or answer `ERR busy`; it gets `ERR timeout` if not served in time. */
  #submit(request: Request, client: Client): Job {
    const job = new Job(this.#nextId++, request, client);
    traceEvent({
      event: "recv",
      channel: "tcp",
      req: job.id,
      peer: client.name,
      detail: request.line,
    });
    if (this.#stopping) {
      job.reply(errLine("shutting-down", "the dispatcher is stopping"));
    } else if (
      this.#queue.length >= this.options.queueLimit && !this.links.some((l) => l.available)
    ) {
      job.reply(
        errLine(
          "busy",
          `all ${this.links.length} workers busy and ${this.#queue.length} requests queued`,
        ),
      );
    } else {
      job.deadline = deadlineAfter(this.options.requestTimeoutMs, () => {
        this.#queue = this.#queue.filter((j) => j !== job);
        job.reply(errLine("timeout", `not served within ${this.options.requestTimeoutMs} ms`));
      });
      this.#queue.push(job);
      this.pump();
    }
    return job;
  }

  /** Serves one client connection until QUIT, EOF, idle timeout or a too-long line. */
  async serve(conn: Deno.Conn): Promise<void> {
    const addr = conn.remoteAddr as Deno.NetAddr;
    const client: Client = {
      conn,
      name: `client ${addr.hostname}:${addr.port}`,
      host: addr.hostname,
      reachedOn: (conn.localAddr as Deno.NetAddr).hostname,
      listenPort: null,
    };
    this.#clients.add(client);
    traceEvent({ event: "accept", channel: "tcp", peer: client.name });
    const lines = new TcpLineReader(conn);
    // The idle timeout runs while the connection owes a line: from each reply to the next line.
    const idle = deadlineAfter(this.options.idleTimeoutMs, () => lines.interrupt());
    try {
      while (true) {
        idle.restart(this.options.idleTimeoutMs);
        const read = await lines.next();
        idle.cancel();
        if (read.kind === "eof") return;
        if (read.kind === "timeout") {
          await writeLine(
            conn,
            errLine("timeout", `no request for ${this.options.idleTimeoutMs} ms, closing`),
          );
          return;
        }
        if (read.kind === "too-long") {
          await writeLine(
            conn,
            errLine("line-too-long", "a line is at most 4096 bytes with its terminator"),
          );
          return;
        }
        const line = decodeLine(read.bytes);
        if (line === null) {
          await writeLine(conn, errLine("bad-argument", "the line is not valid UTF-8"));
          continue;
        }
        const parsed = parseLine(line);
        if (parsed.kind === "quit") return;
        if (parsed.kind === "error") {
          await writeLine(conn, errLine(parsed.code, parsed.message));
        } else if (parsed.kind === "listen") {
          if (this.options.stage === "worker-calls-client") {
            client.listenPort = parsed.port;
            await writeLine(conn, "OK");
          } else {
            await writeLine(
              conn,
              errLine("unknown-request", `LISTEN is for the worker-calls-client stage only`),
            );
          }
        } else if (this.options.stage === "worker-calls-client" && client.listenPort === null) {
          await writeLine(conn, errLine("bad-argument", "send LISTEN <port> first"));
        } else {
          await this.#submit(parsed.request, client).done;
        }
      }
    } finally {
      idle.cancel();
      this.#clients.delete(client);
      await closeGracefully(conn, 200);
    }
  }

  /** Accepts connections until the listener closes. */
  /** Accepts connections until the listener closes (see `acceptConnections`). */
  acceptLoop(listener: Deno.TcpListener): Promise<void> {
    return acceptConnections(listener, {
      maxConnections: this.options.maxConnections,
      serve: (conn) =>
        this.serve(conn).catch((e) => log.error("connection: {e}", { e: String(e) })),
      open: this.#connections,
      warn: (message) => log.warning("{message}", { message }),
    });
  }

  /** Graceful stop: no new requests; queued ones get `ERR shutting-down`; in-flight ones finish. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const job of this.#queue.splice(0)) {
      await job.reply(errLine("shutting-down", "the dispatcher is stopping"));
    }
    const inFlight = this.links.flatMap((l) => (l.job ? [l.job] : []));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(inFlight.map((j) => j.done)),
      new Promise((r) => timer = setTimeout(r, this.options.graceMs)),
    ]);
    clearTimeout(timer);
    // The grace is over: what is still in flight (its worker frozen or slow) gets its one reply.
    for (const job of inFlight) {
      await job.reply(
        errLine(
          "shutting-down",
          `the dispatcher is stopping; not served within its ${this.options.graceMs} ms grace`,
        ),
      );
    }
    for (const client of this.#clients) {
      try {
        client.conn.close();
      } catch {
        // Closed meanwhile.
      }
    }
    await Promise.all(this.#connections);
    await Promise.all(this.#connecting);
    for (const link of this.links) {
      link.pings?.close();
      link.pongs.close();
    }
    // The loops end on the closed readers; none may touch the segment after this returns.
    await Promise.all(this.#pongLoops);
  }
}

/** Runs the dispatcher until SIGTERM; `ready` gets the port it listens on. */
export async function runDispatcher(
  options: DispatcherOptions,
  ready: (port: number) => void = () => {},
): Promise<void> {
  setParentDeathSignal("SIGTERM", options.parentPid);
  honourInjectedCrash(options.runtimeDir, "dispatcher");
  // A descriptor per client connection: all the process may have, but what its pipes, segment and
  // runtime need.
  const fileLimit = raiseOpenFileLimit();
  if (options.maxConnections === 0) {
    options = { ...options, maxConnections: connectionCap(fileLimit, 64 + 4 * options.workers) };
  }
  using signals = new SignalQueue(["SIGTERM", "SIGINT"]);
  using segment = SharedSegment.open(options.segment, { workers: options.workers });
  const slot = segment.slot(DISPATCHER_SLOT);
  slot.set("pid", Deno.pid);
  let own: { port: number; state: number } | null = null;
  const dispatcher = new Dispatcher(options, segment);
  using _heartbeat = startHeartbeat(slot, options.parentPid, () => {
    slot.set("pid", Deno.pid);
    if (own) {
      slot.set("port", own.port);
      slot.setHost(options.host);
      slot.set("state", own.state);
    }
    // Workers becoming ready (or fresh again) are noticed at each beat as well as on events.
    dispatcher.pump();
  });
  const stopped = new AbortController();
  const stopRequested = (async () => {
    for await (const s of signals) {
      if (s !== "SIGTERM") continue;
      // A SIGTERM that comes because the parent died (parent-death signal) means leave now.
      if (!parentAlive(options.parentPid)) leaveOrphaned();
      traceEvent({ event: "stop", channel: "signal", detail: s });
      stopped.abort(new Error("stopped by SIGTERM"));
      return;
    }
  })();
  dispatcher.connectWorkers(stopped.signal);
  const listener = await listenRetrying("the dispatcher", options.host, options.port);
  slot.setHost(options.host);
  slot.set("port", listener.addr.port);
  slot.set("state", ROLE_STATE.ready);
  own = { port: listener.addr.port, state: ROLE_STATE.ready };
  traceEvent({
    event: "ready",
    channel: "process",
    detail: `listening on ${options.host}:${listener.addr.port}`,
  });
  ready(listener.addr.port);
  const accepting = dispatcher.acceptLoop(listener);
  await stopRequested;
  slot.set("state", ROLE_STATE.stopping);
  own.state = ROLE_STATE.stopping;
  listener.close();
  await accepting.catch(() => {});
  await dispatcher.stop();
}

if (import.meta.main) {
  try {
    const { context, extra } = parseRoleArgs(Deno.args, [
      "workers",
      "queue-limit",
      "request-timeout",
      "idle-timeout",
      "grace",
      "max-connections",
      "advertise",
    ]);
    setupLogging(context.logLevel, roleTraceTarget(context, "dispatcher"));
    const big = Number.MAX_SAFE_INTEGER;
    await runDispatcher({
      ...context,
      workers: roleInt("workers", extra.workers, 1, big),
      queueLimit: roleInt("queue-limit", extra["queue-limit"], 0, big, 64),
      maxConnections: roleInt("max-connections", extra["max-connections"], 0, big, 0),
      advertise: extra.advertise ?? "",
      requestTimeoutMs: roleInt("request-timeout", extra["request-timeout"], 1, big, 10_000),
      idleTimeoutMs: roleInt("idle-timeout", extra["idle-timeout"], 1, big, 60_000),
      graceMs: roleInt("grace", extra.grace, 0, big, 5000),
    }, (port) => console.log(`ready ${port}`));
  } catch (e) {
    console.error(`dispatcher: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof RoleArgsError ? 2 : e instanceof ParentGoneError ? EXIT_PARENT_GONE : 1);
  }
}
