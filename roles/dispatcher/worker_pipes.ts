/**
 * The dispatcher's links to its workers: one per worker the registry shows, each with its answer
 * pipe (read from the start) and its order pipe (opened once the worker reads it), found at start
 * and at every beat (workers come and go with scaling), and reopened when the watchdog has made
 * a worker's pipes again; and the `drain` order that tells a draining worker no order follows.
 *
 * @module
 */

import {
  FifoReader,
  FifoWriter,
  NotAFifoError,
  ROLE_STATE,
  type SharedSegment,
  SysCallError,
  workerSlot,
} from "../../ipc/mod.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { drainLine } from "../stages.ts";
import { WorkerLink } from "./links.ts";

const log = roleLogger("dispatcher");

/** What the dispatcher does with its links: read a link's answers, and take work on. */
export interface PipesHost {
  /** Reads `link`'s answers until the stop (the loop ends on its closed reader). */
  answers(link: WorkerLink): Promise<void>;
  /** A worker's order pipe is open: it may take work. */
  pump(): void;
  /** Whether the dispatcher is stopping: no link is added or reopened then. */
  stopping(): boolean;
}

/** One link per worker the registry shows, in slot order, and their pipes. */
export class WorkerPipes {
  /** The links, in slot order. */
  readonly links: WorkerLink[] = [];
  readonly #runtimeDir: string;
  readonly #segment: SharedSegment;
  readonly #listens: boolean;
  readonly #host: PipesHost;
  #answerLoops: Promise<void>[] = [];
  #connecting: Promise<void>[] = [];
  /** The stop's signal, once the workers are being connected. */
  #signal: AbortSignal | null = null;

  /** The pipes in `runtimeDir` of the workers of `segment` (listening on a port if `listens`). */
  constructor(runtimeDir: string, segment: SharedSegment, listens: boolean, host: PipesHost) {
    this.#runtimeDir = runtimeDir;
    this.#segment = segment;
    this.#listens = listens;
    this.#host = host;
  }

  /**
   * Opens each order pipe as soon as its worker reads it, without waiting for all: a worker that
   * cannot start must not keep the dispatcher from serving with the others.
   */
  connect(signal: AbortSignal): void {
    this.#signal = signal;
    this.discover();
  }

  /**
   * Links the workers the registry shows and no link has yet (a slot not `empty`), and lets go of
   * those whose slot the watchdog emptied (scaled down) once they hold nothing: at start, and at
   * every beat (a worker added takes work at most one beat after it is ready).
   */
  discover(): void {
    if (this.#host.stopping() || this.#signal === null) return;
    for (let k = 1; k <= this.#segment.layout.workers; k++) {
      const slot = this.#segment.slot(workerSlot(k));
      const at = this.links.findIndex((l) => l.k >= k);
      const link = this.links[at]?.k === k ? this.links[at] : null;
      const empty = slot.get("state") === ROLE_STATE.empty;
      if (link === null && !empty) {
        const answers = this.#openAnswers(k);
        if (answers === null) continue;
        const added = new WorkerLink(k, answers, this.#segment.mailbox(k), slot, this.#listens);
        this.links.splice(at < 0 ? this.links.length : at, 0, added);
        this.#start(added, this.#signal);
      } else if (link !== null && empty && link.job === null) {
        this.links.splice(at, 1);
        link.removed = true;
        link.pings?.close();
        link.pongs.close();
        traceEvent({ event: "worker removed", channel: "fifo", peer: link.name });
      }
    }
  }

  /**
   * At every beat: a worker whose pipes the watchdog made again (removed or replaced by another
   * process) is reconnected on the new ones; the old ones are closed, which ends its answers'
   * wait as a lost worker's would.
   */
  checkPipes(): void {
    if (this.#host.stopping() || this.#signal === null) return;
    for (const link of this.links) {
      // A worker removed (scaled down) has its pipes removed: its link goes, it is not reopened.
      if (link.slot.get("state") === ROLE_STATE.empty || !link.pipesMoved) continue;
      traceEvent({ event: "pipes moved", channel: "fifo", peer: link.name, detail: "reopened" });
      const answers = this.#openAnswers(link.k);
      if (answers === null) continue;
      link.pings?.close();
      link.pings = null;
      const old = link.pongs;
      link.pongs = answers;
      old.close();
      this.#connect(link, this.#signal);
    }
  }

  /** Waits for the order pipes being opened, closes every pipe, waits for the answer loops. */
  async close(): Promise<void> {
    await Promise.all(this.#connecting);
    for (const link of this.links) {
      link.pings?.close();
      link.pongs.close();
    }
    // The loops end on the closed readers; none may touch the segment after this returns.
    await Promise.all(this.#answerLoops);
  }

  /**
   * Opens worker k's answer pipe, dropping what is left in it for a previous dispatcher; null if
   * the pipe is not there (yet: the watchdog makes a worker's pipes before it starts it), or is not
   * a pipe (another process put a file there: the watchdog makes the pipe again before the
   * worker's next start, and the next beat tries again).
   */
  #openAnswers(k: number): FifoReader | null {
    const path = `${this.#runtimeDir}/wdtube${k}`;
    let answers: FifoReader;
    try {
      answers = FifoReader.open(path);
    } catch (e) {
      if (e instanceof NotAFifoError) {
        log.warning("{path} is not a named pipe: worker {k} waits for it", { path, k });
        return null;
      }
      if (!(e instanceof SysCallError && e.code === "ENOENT")) throw e;
      return null;
    }
    const stale = answers.discardPending();
    if (stale > 0) {
      traceEvent({
        event: "stale answers",
        channel: "fifo",
        peer: `worker ${k}`,
        detail: `${stale} bytes dropped at start`,
      });
    }
    return answers;
  }

  /** Connects a new link's order pipe and reads its answers until the stop. */
  #start(link: WorkerLink, signal: AbortSignal): void {
    this.#connect(link, signal);
    this.#answerLoops.push(
      this.#host.answers(link).catch((e) =>
        log.error("answers of {worker}: {e}", { worker: link.name, e: String(e) })
      ),
    );
  }

  /** Opens the order pipe of `link` once its worker reads it; then the worker may take work. */
  #connect(link: WorkerLink, signal: AbortSignal): void {
    this.#connecting.push(
      FifoWriter.open(`${this.#runtimeDir}/dwtube${link.k}`, { signal }).then(
        (writer) => {
          link.pings = writer;
          this.#host.pump();
        },
        (e) => {
          // Aborted by the stop, or the pipe is not there (the watchdog makes it again).
          if (!signal.aborted) {
            log.warning("{worker}'s pipe: {e}", { worker: link.name, e: String(e) });
          }
        },
      ),
    );
  }

  /**
   * Tells every draining worker that holds nothing of its that no order follows (`drain`, after
   * its last order on the pipe): it leaves once it has answered them. At each beat, and each time
   * a worker's request is done.
   */
  tellDraining(): void {
    for (const link of this.links) this.tellDrainingOne(link);
  }

  /** Tells `link`'s worker that no order follows, if it is draining and holds nothing of its. */
  tellDrainingOne(link: WorkerLink): void {
    if (!link.owesDrain) return;
    const generation = link.slot.get("generation");
    const line = drainLine(generation);
    try {
      link.pings!.send(line);
    } catch (e) {
      // It is gone or frozen: the watchdog's bound on the drain deals with it.
      log.warning("{worker} cannot be told to drain: {error}", {
        worker: link.name,
        error: String(e),
      });
      return;
    }
    link.drainSaid = generation;
    traceEvent({ event: "order", channel: "fifo", peer: link.name, detail: line });
  }
}
