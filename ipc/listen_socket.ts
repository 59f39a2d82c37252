/**
 * A listening TCP socket that outlives the process that accepts on it: the watchdog makes it and
 * keeps it, the dispatcher inherits it (nginx's master and PostgreSQL's postmaster hold theirs the
 * same way). While the dispatcher restarts, connections wait in the socket's backlog, and the next
 * dispatcher accepts them: none is refused.
 *
 * The descriptor is close-on-exec but for the spawns that must inherit it ({@link inheritedBy}):
 * Deno spawns from the calling thread, so the window in which another spawn could take it does
 * not exist.
 *
 * The process that accepts on an inherited socket does it with {@link Acceptor}: `accept4(2)`
 * until none waits, then `poll(2)` on Deno's blocking pool until one does (an eventfd ends the
 * wait at close). Out of descriptors (EMFILE, ENFILE), it pauses and tries again: the server of
 * `node:net` would stop accepting for good (Deno 2.9), and Deno's own listeners take no
 * descriptor.
 *
 * @module
 */

import * as libc from "./libc.ts";

/** How many connections may wait to be accepted. */
export const LISTEN_BACKLOG = 1024;

/** A listening socket of this process, to be inherited by the processes that accept on it. */
export class ListenSocket implements Disposable {
  #closed = false;

  private constructor(
    /** Its descriptor, in this process and in those that inherit it. */
    readonly fd: number,
    /** The address it listens on. */
    readonly host: string,
    /** The port it got (the one asked for, or a free one for 0). */
    readonly port: number,
  ) {}

  /**
   * Listens on `host`:`port` (an IPv4 or IPv6 address; 0: any free port). A {@link SysCallError}
   * names the address: EADDRINUSE, EACCES (a port below 1024), EADDRNOTAVAIL.
   */
  static open(host: string, port: number): ListenSocket {
    const { fd, port: got } = libc.listenTcp(host, port, LISTEN_BACKLOG);
    return new ListenSocket(fd, host, got);
  }

  /** Runs `spawn` (which starts a process) with the socket inherited; returns what it returns. */
  inheritedBy<T>(spawn: () => T): T {
    if (this.#closed) return spawn();
    libc.setCloseOnExec(this.fd, false, `the listening socket ${this.host}:${this.port}`);
    try {
      return spawn();
    } finally {
      libc.setCloseOnExec(this.fd, true, `the listening socket ${this.host}:${this.port}`);
    }
  }

  /**
   * Closes a listening socket this process inherited and does not accept on (a standby that
   * becomes a worker): it must not keep the port open after the instance is gone.
   */
  static closeInherited(fd: number): void {
    libc.close(fd, `the inherited listening socket (fd ${fd})`);
  }

  /** Stops listening (in this process; those that inherited it hold their own). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc.close(this.fd, `the listening socket ${this.host}:${this.port}`);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Connections accepted between two turns of the event loop. */
const ACCEPT_BATCH = 32;

/** One turn of the event loop: timers and I/O run meanwhile. */
function turn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** How long accepting pauses when the process is out of descriptors, ms. */
export const ACCEPT_PAUSE_MS = 100;

/** Where an {@link Acceptor} hands what it accepts. */
export interface AcceptSink {
  /** A new connection's descriptor (non-blocking, close-on-exec), now the sink's. */
  connection(fd: number): void;
  /** Out of descriptors: accepting pauses for {@link ACCEPT_PAUSE_MS}; `message` says so. */
  pause(message: string): void;
}

/** Accepts on a listening socket this process holds (inherited), until closed. */
export class Acceptor {
  #closed = false;
  readonly #wake: number;
  /** Resolves once closed; rejects if accepting failed for another reason than a lack of descriptors. */
  readonly done: Promise<void>;

  /** Accepts on `fd` (the socket's descriptor), handing every connection to `sink`. */
  constructor(readonly fd: number, readonly sink: AcceptSink) {
    // Taking a connection never waits: the wait is poll's, on the pool.
    libc.setNonBlocking(fd, `the listening socket (fd ${fd})`);
    this.#wake = libc.eventfd();
    this.done = this.#run().finally(() => libc.close(this.#wake, "accept wake-up"));
  }

  /** The port the socket listens on. */
  get port(): number {
    return libc.socketPort(this.fd, `the listening socket (fd ${this.fd})`);
  }

  async #run(): Promise<void> {
    const what = `the listening socket (fd ${this.fd})`;
    const pollfds = new Uint8Array(16);
    const v = new DataView(pollfds.buffer);
    v.setInt32(0, this.fd, true);
    v.setInt16(4, libc.POLL.IN, true);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, libc.POLL.IN, true);
    // Not in the constructor's turn: the caller is set up (and says it is ready) first.
    await turn();
    while (!this.#closed) {
      try {
        // A batch at a time, the loop turned between two: a flood of connections must not stall
        // the process's timers (its heartbeat) nor its connections' I/O.
        let taken = 0;
        for (let conn = libc.acceptNow(this.fd, what); conn !== null;) {
          this.sink.connection(conn);
          if (this.#closed) return;
          if (++taken % ACCEPT_BATCH === 0) await turn();
          conn = libc.acceptNow(this.fd, what);
        }
      } catch (e) {
        const code = (e as libc.SysCallError).code;
        if (code !== "EMFILE" && code !== "ENFILE") throw e;
        this.sink.pause(
          `out of file descriptors (${code}): accepting again in ${ACCEPT_PAUSE_MS} ms`,
        );
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_PAUSE_MS));
        continue;
      }
      v.setInt16(6, 0, true);
      v.setInt16(14, 0, true);
      while (!await libc.pollWaiting(pollfds)) { /* interrupted: poll again */ }
    }
  }

  /** Stops accepting; resolves once the wait on the pool has ended. The socket stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    libc.write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), "accept wake-up");
    await this.done;
  }
}
