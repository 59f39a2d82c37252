/**
 * How a named pipe's reader waits for data, never blocking the event loop and never busy-polling.
 *
 * - `socket` (the default): the descriptor is handed to a `node:net` socket, which Deno watches
 *   with the event loop's own epoll: a message costs one wake-up of the main thread and no other
 *   thread.
 * - `poll` (`OSPS_FIFO_WAIT=poll`, or where a socket cannot take a pipe): the descriptor is read
 *   non-blocking and, when it would block, waited for in `poll(2)` on Deno's blocking thread pool:
 *   about twice the CPU per message (a pool thread's wake-up and its hand-back), but no
 *   Node-compat internals.
 *
 * Either way, a watch reads ahead as data comes and hands the bytes to its {@link FifoSink}; when
 * every writer has gone it reports an EOF and waits for the next writer.
 *
 * `node:net` is loaded by the first socket watch of a process, while it waits for a writer: its
 * evaluation (node:stream and the rest, ~11 ms of CPU) would otherwise delay the start of every
 * process that imports this toolkit, the watchdog and the CLI included, which never watch a pipe.
 * A process started ahead of need (the watchdog's standby) loads it beforehand with
 * {@link preloadSocketWatch}.
 *
 * @module
 */

import type net from "node:net";
import * as libc from "./libc.ts";
import { openFifo, openFifoWaiting } from "./fifo.ts";

let netModule: Promise<typeof net> | null = null;

/** `node:net`, loaded once per process on first use. */
function loadNet(): Promise<typeof net> {
  if (netModule === null) {
    netModule = import("node:net").then((m) => m.default);
    // A failure is seen by the watch that awaits it, not as an unhandled rejection meanwhile.
    netModule.catch(() => {});
  }
  return netModule;
}

/** Loads what a socket watch needs now, so that the process's first watch starts without it. */
export async function preloadSocketWatch(): Promise<void> {
  await loadNet();
}

/** Where a watch hands what it reads. */
export interface FifoSink {
  /** Bytes read from the pipe (valid during the call only). */
  bytes(bytes: Uint8Array): void;
  /** Every writer has gone; the watch now waits for the next one. */
  eof(): void;
  /** Reading failed; the watch has stopped. */
  error(error: Error): void;
}

/** A running watch: paused while its reader's queue is full, closed with the reader. */
export interface FifoWatch {
  /** Stops reading the pipe for now (it fills, and its writers see it full). */
  pause(): void;
  /** Reads again after {@link pause}. */
  resume(): void;
  /** Stops watching and releases the watch's descriptors. */
  close(): void;
}

/**
 * Watches `path` through a socket: waits, on the blocking pool, for a writer to open the FIFO (at
 * once if one is there), then reads through a socket on its own read end until every writer has
 * gone; then again. `unsupported` is called, instead of anything else, if this Deno cannot watch
 * a pipe's descriptor with a socket.
 */
export function socketWatch(path: string, sink: FifoSink, unsupported: () => void): FifoWatch {
  return new SocketWatch(path, sink, unsupported);
}

class SocketWatch implements FifoWatch {
  #socket: net.Socket | null = null;
  #opening = false;
  /** A write end opened by {@link close} to end a pending open, held until that open returns. */
  #release = -1;
  #paused = false;
  #closed = false;

  constructor(
    readonly path: string,
    readonly sink: FifoSink,
    readonly unsupported: () => void,
  ) {
    this.#attach();
  }

  async #attach(): Promise<void> {
    this.#opening = true;
    const loading = loadNet();
    let fd: number;
    try {
      fd = await openFifoWaiting(this.path, libc.O.RDONLY);
    } catch (e) {
      this.#opening = false;
      if (!this.#closed) this.sink.error(e as Error);
      return;
    } finally {
      if (this.#release >= 0) libc.close(this.#release, this.path);
      this.#release = -1;
    }
    this.#opening = false;
    let socket: net.Socket;
    try {
      const { Socket } = await loading;
      if (this.#closed) {
        libc.close(fd, this.path);
        return;
      }
      socket = new Socket({
        fd,
        readable: true,
        writable: false,
        onread: {
          buffer: new Uint8Array(65536),
          callback: (n: number, buf: Uint8Array) => {
            this.sink.bytes(buf.subarray(0, n));
            return true;
          },
        },
      } as net.SocketConstructorOpts);
    } catch (e) {
      // Said on stderr: the slower path serves from now on, and the reason must not be lost.
      console.error(
        `osps: ${this.path}: a socket cannot watch this pipe (${e}); poll(2) reads it instead`,
      );
      libc.close(fd, this.path);
      this.#closed = true;
      this.unsupported();
      return;
    }
    // Deno closes the socket's descriptor when the socket ends.
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#socket = null;
      this.#paused = false;
      socket.destroy();
      if (this.#closed) return;
      this.sink.eof();
      this.#attach();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
    this.#socket = socket;
  }

  pause(): void {
    if (this.#paused || this.#socket === null) return;
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket?.resume();
  }

  /** The caller must still hold a read end: the release below opens a writer (ENXIO without). */
  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#socket = null;
    // A pending open for a writer returns once a writer opens: open one, held until that open
    // has returned (it may not have reached the kernel yet).
    if (this.#opening && this.#release < 0) {
      this.#release = libc.open(this.path, libc.O.WRONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    }
  }
}

/** Watches `path` with non-blocking reads and `poll(2)` on the blocking pool (see the module). */
export function pollWatch(path: string, sink: FifoSink): FifoWatch {
  return new PollWatch(path, sink);
}

class PollWatch implements FifoWatch {
  #fd: number;
  #wake: number;
  #closed = false;
  #paused = false;
  #room: (() => void) | null = null;
  #loop: Promise<void>;

  constructor(readonly path: string, readonly sink: FifoSink) {
    this.#fd = openFifo(path, libc.O.RDONLY | libc.O.NONBLOCK);
    try {
      this.#wake = libc.eventfd();
    } catch (e) {
      libc.close(this.#fd, path);
      throw e;
    }
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const pollfds = new Uint8Array(16);
    const v = new DataView(pollfds.buffer);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, libc.POLL.IN, true);
    while (!this.#closed) {
      if (this.#paused) {
        await new Promise<void>((resolve) => this.#room = resolve);
        continue;
      }
      let n: number | null;
      try {
        n = libc.readNonBlocking(this.#fd, chunk, this.path);
      } catch (e) {
        this.sink.error(e as Error);
        return;
      }
      if (n !== null && n > 0) {
        this.sink.bytes(chunk.subarray(0, n));
        continue;
      }
      // n === null: writers are there, no data yet. n === 0: no writer now, either none came yet
      // (poll waits for one) or all left (poll reports POLLHUP at once).
      v.setInt32(0, this.#fd, true);
      v.setInt16(4, libc.POLL.IN, true);
      v.setInt16(6, 0, true);
      v.setInt16(14, 0, true);
      while (!await libc.pollWaiting(pollfds)) { /* interrupted: poll again */ }
      if (this.#closed) return;
      const revents = v.getInt16(6, true);
      if (n === 0 && (revents & libc.POLL.HUP) && !(revents & libc.POLL.IN)) {
        this.#reopen();
        this.sink.eof();
      }
    }
  }

  /**
   * Replaces the read end after EOF, so that poll waits for the next writer instead of repeating
   * POLLHUP. The new end is opened before the old one is closed: a FIFO left with no reader and no
   * writer drops its buffered data, and a new writer may already have written.
   */
  #reopen(): void {
    const fd = openFifo(this.path, libc.O.RDONLY | libc.O.NONBLOCK);
    libc.close(this.#fd, this.path);
    this.#fd = fd;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const room = this.#room;
    this.#room = null;
    room?.();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.resume();
    libc.write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), "reader wake-up");
    const release = () => {
      libc.close(this.#fd, this.path);
      libc.close(this.#wake, "reader wake-up");
    };
    this.#loop.then(release, release);
  }
}
