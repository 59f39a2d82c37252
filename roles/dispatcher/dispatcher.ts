/**
 * The dispatcher's core: the bounded queue of accepted requests, handing each to a free worker
 * (its mailbox, then an order on its pipe, as the stage's flow says), the workers' answers, the
 * one retry on another worker, and the graceful stop.
 *
 * @module
 */

import {
  DISPATCHER_SLOT,
  FrameError,
  MailboxCorruptError,
  NotAFifoError,
  type SharedSegment,
  WATCHDOG_SLOT,
} from "../../ipc/mod.ts";
import { deadlineAfter } from "../deadline.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { errLine, type Request } from "../protocol.ts";
import {
  callLine,
  orderLine,
  parseAnswer,
  redirectLine,
  type StageFlow,
  STAGES,
  waitLine,
} from "../stages.ts";
import { ConnectionGate } from "../tcp_serve.ts";
import { withTimeout } from "../timers.ts";
import { type Client, Job, requestIdBase } from "./jobs.ts";
import type { WorkerLink } from "./links.ts";
import { WorkerPipes } from "./worker_pipes.ts";
import { serveClient, type SessionHost } from "./sessions.ts";
import type { DispatcherOptions } from "./options.ts";
import { afterFailure, meaningOf } from "./decide.ts";

const log = roleLogger("dispatcher");

/** The dispatcher: connections, queue, workers. */
export class Dispatcher implements SessionHost {
  /** Its options. */
  readonly options: DispatcherOptions;
  /** The stage's flow. */
  readonly flow: StageFlow;
  /** The shared segment. */
  readonly segment: SharedSegment;
  readonly #pipes: WorkerPipes;
  /** The open client connections. */
  readonly clients = new Set<Client>();
  #queue: Job[] = [];
  #nextId: number;
  #stopping = false;
  #draining = false;
  /** The watchdog's count of workers when the registry was last read for new ones. */
  #workersSeen = -1;
  #connections = new Set<Promise<void>>();

  /** A dispatcher with `options` on `segment`. */
  constructor(options: DispatcherOptions, segment: SharedSegment) {
    this.options = options;
    this.flow = STAGES[options.stage];
    this.segment = segment;
    // Request ids are unique across dispatcher generations: an answer or a mailbox left by the
    // dispatcher this one replaces can never be taken for one of this one's requests.
    const generation = segment.slot(DISPATCHER_SLOT).get("generation");
    this.#nextId = requestIdBase(generation) + 1;
    this.#pipes = new WorkerPipes(options.runtimeDir, segment, this.flow.workerListens, {
      answers: (link) => this.#answers(link),
      pump: () => this.pump(),
      stopping: () => this.#stopping,
    });
  }

  /** One link per worker the registry shows, in slot order (workers come and go with scaling). */
  get links(): readonly WorkerLink[] {
    return this.#pipes.links;
  }

  /** Links the workers the registry shows, and lets go of removed ones (see {@link WorkerPipes}). */
  discoverWorkers(): void {
    this.#pipes.discover();
  }

  /** Opens each worker's order pipe as soon as it reads it (see {@link WorkerPipes.connect}). */
  connectWorkers(signal: AbortSignal): void {
    this.#pipes.connect(signal);
  }

  /** Reconnects workers whose pipes the watchdog made again (see {@link WorkerPipes.checkPipes}). */
  checkPipes(): void {
    this.#pipes.checkPipes();
  }

  /** Tells every draining worker that no order follows (see {@link WorkerPipes.tellDraining}). */
  tellDraining(): void {
    this.#pipes.tellDraining();
  }

  /** The worker of `link` is gone (its pipe closed or refused an order): retry or answer. */
  async #lose(link: WorkerLink, why: string): Promise<void> {
    const drained = link.drainSaid === link.generation && link.job === null;
    const job = link.lost();
    traceEvent({
      event: drained ? "worker left" : "worker lost",
      channel: "fifo",
      req: job?.id,
      peer: link.name,
      detail: drained ? "drained" : why,
    });
    if (job !== null) await this.#retryOrFail(job, link, `${link.name} went away (${why})`);
  }

  /**
   * A request whose attempt failed: once more on another worker, else `ERR unavailable`. Once a
   * REDIRECT is sent it is the reply: the client retries through the dispatcher; before it (the
   * order could not be written), the request is retried here.
   */
  async #retryOrFail(job: Job, link: WorkerLink, why: string): Promise<void> {
    const next = afterFailure(job, this.flow, this.#stopping);
    if (next === "not retried") {
      // Its worker may have answered the client before it died: the client asks again if not.
      traceEvent({
        event: "not retried",
        channel: "fifo",
        req: job.id,
        peer: link.name,
        detail: `${why}, after it said it was calling the client`,
      });
    } else if (next === "shutting down") {
      await job.reply(errLine("shutting-down", `the dispatcher is stopping (${why})`));
    } else if (next === "retry") {
      log.info("request {id} failed with {worker}; retrying on another worker", {
        id: job.id,
        worker: link.name,
      });
      this.#queue.unshift(job);
      this.pump();
    } else if (next === "unavailable") {
      await job.reply(errLine("unavailable", why));
    }
  }

  /** Reads worker `link`'s answers on `wdtube<k>` until the stop. */
  async #answers(link: WorkerLink): Promise<void> {
    while (true) {
      let text: string | null;
      try {
        text = await link.pongs.receiveText();
      } catch (e) {
        if (e instanceof NotAFifoError) {
          // The path was made another file since: the worker is cut off until the watchdog makes
          // the pipe again (this reader ends when the beat's check replaces it).
          log.warning("{error}", { error: e.message });
          await this.#lose(link, "its pipe is no longer a pipe");
          continue;
        }
        if (!(e instanceof FrameError)) throw e;
        log.warning("{error}", { error: e.message });
        continue;
      }
      if (text === null) {
        if (this.#stopping || link.removed) return;
        // Every writer of wdtube<k> closed: the worker process is gone.
        await this.#lose(link, "its pipe closed");
        continue;
      }
      traceEvent({ event: "answer", channel: "fifo", peer: link.name, detail: text });
      const job = link.job;
      const meaning = meaningOf(parseAnswer(text), job);
      if (job === null || meaning === "stale") {
        // Not the answer to the request in flight (a late one, a predecessor's, a forged one).
        log.info("stale or unknown answer {text} from {worker}", { text, worker: link.name });
        traceEvent({ event: "stale answer", channel: "fifo", peer: link.name, detail: text });
        continue;
      }
      if (meaning === "calling") {
        job.calling = true;
        continue;
      }
      link.job = null;
      this.#pipes.tellDrainingOne(link);
      if (meaning === "fail") {
        // The worker could not use its mailbox (corrupt, overwritten): the worker is fine.
        await this.#retryOrFail(job, link, `${link.name} could not read the request (${text})`);
      } else if (meaning === "done") {
        await this.#replyFromMailbox(job, link);
      }
      this.pump();
    }
  }

  /** `done <id>`: the reply is in the worker's mailbox, if it is the reply to this very job. */
  async #replyFromMailbox(job: Job, link: WorkerLink): Promise<void> {
    let read;
    try {
      read = link.mailbox.readText();
    } catch (e) {
      if (!(e instanceof MailboxCorruptError)) throw e;
      log.warning("{error}", { error: e.message });
      await this.#retryOrFail(job, link, `the reply in ${link.name}'s mailbox is corrupt`);
      return;
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

  /**
   * Gives queued jobs to available workers, oldest first; also publishes the queue length. A
   * change in the number of workers the watchdog runs (scaling) has the registry read again at
   * once: a worker added is linked while it starts, and takes work as soon as it is ready.
   */
  pump(): void {
    const workers = this.segment.slot(WATCHDOG_SLOT).get("workers");
    if (workers !== this.#workersSeen) {
      this.#workersSeen = workers;
      this.discoverWorkers();
    }
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

  /** Hands `job` to the worker of `link`, as the stage's flow says. */
  async #assign(job: Job, link: WorkerLink): Promise<void> {
    link.job = job;
    job.attempts++;
    let content = job.request.line;
    if (this.flow.waitBefore) {
      // Unique across dispatcher restarts: a worker may still call for a previous dispatcher's token.
      const token = `p${Deno.pid}r${job.id}`;
      content = callLine(token, job.client.host, job.client.listenPort ?? 0, job.request.line);
      // The client learns its token before the worker is told to call it (once: a retry reuses it).
      await job.reply(waitLine(token));
    }
    const order = orderLine(this.flow.order, job.id);
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
    traceEvent({ event: "order", channel: "fifo", req: job.id, peer: link.name, detail: order });
    if (this.flow.redirectAfter) {
      // The worker listens on the dispatcher's host: the address the client reached the
      // dispatcher on reaches the worker too (the bound address may be 0.0.0.0, which no client
      // can connect to), unless an address to advertise was given (NAT, containers).
      const host = this.options.advertise || job.client.reachedOn;
      await job.reply(redirectLine(host, link.port!));
    }
  }

  /** Accepts a request: queue it, or answer `ERR busy`; it gets `ERR timeout` if not served in time. */
  submit(request: Request, client: Client): Job {
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

  /** The idle timeout of client connections, ms. */
  get idleTimeoutMs(): number {
    return this.options.idleTimeoutMs;
  }

  /** Whether the dispatcher is stopping. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Whether the dispatcher is draining: a reload replaces it (see {@link drain}). */
  get draining(): boolean {
    return this.#draining;
  }

  /** Serves the connections of the server it accepts on (see `ConnectionGate`). */
  gate(): ConnectionGate {
    return new ConnectionGate({
      maxConnections: this.options.maxConnections,
      serve: (conn) =>
        serveClient(conn, this).catch((e) => log.error("connection: {e}", { e: String(e) })),
      open: this.#connections,
      warn: (message) => log.warning("{message}", { message }),
    });
  }

  /**
   * Drains (a reload replaces this dispatcher; it no longer accepts): every connection ends after
   * the reply to its request in flight, or at once between two (its client connects again, and
   * the next dispatcher accepts it from the listening socket's backlog), within the grace; then
   * the worker pipes are let go, as at a stop.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    for (const client of this.clients) client.drain();
    const left = await withTimeout(Promise.all(this.#connections), this.options.graceMs);
    if (left === null) {
      log.warning("connections still open after the grace of the drain: ended");
      for (const client of this.clients) client.end();
    }
    await this.stop();
  }

  /**
   * Graceful stop: no new requests; queued ones get `ERR shutting-down`; in-flight ones finish
   * within the grace. Every connection goes on being answered (`ERR shutting-down` to each line)
   * until its client closes or it has been quiet for a moment ({@link QUIET_AT_STOP_MS}), and ends
   * with a half-close and a drain: a line the client sent before the stop always gets its reply.
   * When the grace is over, what is left ends anyway.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    const end = performance.now() + this.options.graceMs;
    for (const job of this.#queue.splice(0)) {
      await job.reply(errLine("shutting-down", "the dispatcher is stopping"));
    }
    for (const client of this.clients) client.stopping();
    const inFlight = this.links.flatMap((l) => (l.job ? [l.job] : []));
    await withTimeout(Promise.all(inFlight.map((j) => j.done)), this.options.graceMs);
    // The grace is over: what is still in flight (its worker frozen or slow) gets its one reply.
    for (const job of inFlight) {
      await job.reply(
        errLine(
          "shutting-down",
          `the dispatcher is stopping; not served within its ${this.options.graceMs} ms grace`,
        ),
      );
    }
    await withTimeout(Promise.all(this.#connections), Math.max(0, end - performance.now()));
    for (const client of this.clients) client.end();
    await Promise.all(this.#connections);
    await this.#pipes.close();
  }
}
