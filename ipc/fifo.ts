/**
 * Named pipes (FIFOs) carrying framed messages (`frame.ts`): one frame per `write(2)`, never torn.
 *
 * Sending is one non-blocking `write(2)`. Receiving never blocks the event loop and never
 * busy-polls. By default the reader's descriptor is handed to a `node:net` socket, which Deno
 * watches with the event loop's own epoll: a message costs one wake-up of the main thread and no
 * other thread. The fallback (`wait: "poll"`, or `OSPS_FIFO_WAIT=poll`) reads the descriptor
 * non-blocking and, when it would block, waits in `poll(2)` on Deno's blocking thread pool: about
 * twice the CPU per message (a pool thread's wake-up and its hand-back), but no Node-compat
 * internals.
 *
 * @module
 */

import net from "node:net";
import { Buffer } from "node:buffer";
import * as libc from "./libc.ts";
import { encodeFramePayload, FrameDecoder, type Garbage, MAX_FRAME_PAYLOAD } from "./frame.ts";

export { FRAME_HEADER, MAX_FRAME_PAYLOAD, PIPE_BUF } from "./frame.ts";

/** Base class of the errors about one named pipe; `path` names it. */
export class FifoError extends Error {
  /** The FIFO's path. */
  readonly path: string;
  /** Builds the error for the FIFO at `path`. */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FifoError";
    this.path = path;
  }
}

/** A payload too large for one frame; nothing was written. */
export class FrameTooLargeError extends FifoError {
  /** Builds the error. */
  constructor(path: string, length: number) {
    super(
      path,
      `message of ${length} bytes exceeds the ${MAX_FRAME_PAYLOAD}-byte frame limit of ${path}; ` +
        `nothing was written`,
    );
    this.name = "FrameTooLargeError";
  }
}

/** Bytes on the pipe that are not a valid frame (foreign writer or garbage); they were dropped up to the next frame. */
export class FrameError extends FifoError {
  /** Builds the error. */
  constructor(path: string, detail: string) {
    super(path, `bad frame on ${path}: ${detail}; the unreadable bytes were dropped`);
    this.name = "FrameError";
  }
}

/** Writing to a FIFO whose readers are all gone (EPIPE). */
export class BrokenPipeError extends FifoError {
  /** Builds the error. */
  constructor(path: string, cause: unknown) {
    super(path, `no reader on ${path} any more (EPIPE): the other end has gone`, { cause });
    this.name = "BrokenPipeError";
  }
}

/** Opening a FIFO for writing without waiting, while no reader has it open (ENXIO). */
export class NoReaderError extends FifoError {
  /** Builds the error. */
  constructor(path: string, cause: unknown) {
    super(path, `no reader has ${path} open yet (ENXIO)`, { cause });
    this.name = "NoReaderError";
  }
}

/** The pipe is full (the reader is slow or frozen): the frame was not written (EAGAIN). */
export class PipeFullError extends FifoError {
  /** Builds the error. */
  constructor(path: string, cause: unknown) {
    super(
      path,
      `${path} is full: its reader is not reading (EAGAIN); the message was not written`,
      {
        cause,
      },
    );
    this.name = "PipeFullError";
  }
}

/** The path exists but is not a named pipe. */
export class NotAFifoError extends FifoError {
  /** Builds the error. */
  constructor(path: string) {
    super(path, `${path} is not a named pipe`);
    this.name = "NotAFifoError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Creates a named pipe with mode 0600 (mkfifo). Fails with EEXIST if the path exists. */
export function makeFifo(path: string): void {
  libc.mkfifo(path, 0o600);
  Deno.chmodSync(path, 0o600);
}

function checkFifo(path: string): void {
  if (!Deno.lstatSync(path).isFifo) throw new NotAFifoError(path);
}

/** Encodes one frame; throws {@link FrameTooLargeError} for an oversized payload. */
export function encodeFrame(path: string, payload: Uint8Array | string): Uint8Array<ArrayBuffer> {
  const frame = encodeFramePayload(payload);
  if (frame === null) {
    const length = typeof payload === "string" ? encoder.encode(payload).length : payload.length;
    throw new FrameTooLargeError(path, length);
  }
  return frame;
}

/** The writing end of a named pipe: one frame per `send`, never torn. */
export class FifoWriter implements Disposable {
  /** The FIFO's path. */
  readonly path: string;
  #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens the FIFO for writing, waiting (off the event loop) until a reader has it open. An abort
   * of `signal` ends the wait and rejects with the signal's reason. Sends never block: see
   * {@link send}.
   */
  static async open(path: string, options: { signal?: AbortSignal } = {}): Promise<FifoWriter> {
    checkFifo(path);
    const { signal } = options;
    signal?.throwIfAborted();
    // An abort opens and closes a read end: the kernel then lets the waiting open(2) return.
    const release = () =>
      libc.close(libc.open(path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC));
    signal?.addEventListener("abort", release, { once: true });
    let fd: number;
    try {
      fd = await libc.openWaiting(path, libc.O.WRONLY | libc.O.CLOEXEC);
    } finally {
      signal?.removeEventListener("abort", release);
    }
    if (signal?.aborted) {
      libc.close(fd, path);
      throw signal.reason;
    }
    libc.setNonBlocking(fd, path);
    return new FifoWriter(path, fd);
  }

  /** Opens the FIFO for writing if a reader has it open, else throws {@link NoReaderError}. */
  static openNow(path: string): FifoWriter {
    checkFifo(path);
    try {
      return new FifoWriter(
        path,
        libc.open(path, libc.O.WRONLY | libc.O.NONBLOCK | libc.O.CLOEXEC),
      );
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENXIO) {
        throw new NoReaderError(path, e);
      }
      throw e;
    }
  }

  /**
   * Writes one frame atomically. Throws {@link FrameTooLargeError} before writing anything if the
   * payload is over the limit, {@link BrokenPipeError} if the reader is gone, {@link PipeFullError}
   * if the reader has stopped reading and the pipe is full.
   */
  send(payload: Uint8Array | string): void {
    const frame = encodeFrame(this.path, payload);
    if (this.#fd < 0) throw new FifoError(this.path, `writer of ${this.path} is closed`);
    try {
      libc.write(this.#fd, frame, this.path);
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.EPIPE) {
        throw new BrokenPipeError(this.path, e);
      }
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.EAGAIN) {
        throw new PipeFullError(this.path, e);
      }
      throw e;
    }
  }

  /**
   * Like {@link send}, but while the pipe is full it waits, off the event loop, for the reader to
   * make room (poll for POLLOUT, rechecking `signal` every 100 ms). For bulk senders.
   */
  async sendWaiting(
    payload: Uint8Array | string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const pollfd = new Uint8Array(8);
    while (true) {
      options.signal?.throwIfAborted();
      try {
        return this.send(payload);
      } catch (e) {
        if (!(e instanceof PipeFullError)) throw e;
      }
      const v = new DataView(pollfd.buffer);
      v.setInt32(0, this.#fd, true);
      v.setInt16(4, libc.POLL.OUT, true);
      await libc.pollWaiting(pollfd, 100);
    }
  }

  /** Closes the writing end; when every writer has closed, the reader sees EOF. */
  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    libc.close(fd, this.path);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * How a {@link FifoReader} waits for data: `socket` and `poll` (see the module documentation), or
 * `none`: nothing watches the pipe, and its owner takes what is there with
 * {@link FifoReader.receiveNow} when it needs it.
 */
export type FifoWait = "socket" | "poll" | "none";

/** Options of {@link FifoReader.open}. */
export interface FifoReaderOptions {
  /** How to wait for data: `socket` (default; `OSPS_FIFO_WAIT=poll` makes it `poll`), `poll`, `none`. */
  wait?: FifoWait;
}

/** The default wait: `OSPS_FIFO_WAIT` if it says `poll` or `socket`, else `socket`. */
function defaultWait(): FifoWait {
  let chosen: string | undefined;
  try {
    chosen = Deno.env.get("OSPS_FIFO_WAIT");
  } catch {
    // No --allow-env: the default.
  }
  return chosen === "poll" ? "poll" : "socket";
}

/** One thing a reader hands out: a frame's payload, an error to throw, or an EOF (`null`). */
type Item = Uint8Array | Error | null;

/** The buffer of synchronous reads (they never overlap). */
const SYNC_CHUNK = new Uint8Array(65536);

/** Frames read ahead and not yet received, past which the reader stops reading the pipe. */
const MAX_QUEUED = 1024;

/**
 * The reading end of a named pipe. {@link receive} resolves with the next frame's payload, or
 * `null` at EOF (every writer gone) or after {@link close}. After an EOF, the next `receive` waits
 * for a new writer, and nothing a new writer sent in between is lost: a FIFO outlives the
 * processes that write to it.
 *
 * The reader reads ahead as data comes, so frames that arrive while the consumer is busy are taken
 * in one wake-up; once 1024 frames wait unreceived it stops reading, and the pipe fills for the
 * writers to see (PipeFullError). An open reader keeps the process alive: close it.
 */
export class FifoReader implements Disposable, AsyncIterable<Uint8Array> {
  /** The FIFO's path. */
  readonly path: string;
  #wait: FifoWait;
  /** socket: a read end held for the reader's life (writers can always open; no data is lost
   * while the socket's own end is replaced). poll: the end that is read. */
  #fd: number;
  #decoder = new FrameDecoder();
  #items: Item[] = [];
  #waiter: ((item: Item) => void) | null = null;
  #closed = false;
  // socket wait
  #socket: net.Socket | null = null;
  #opening = false;
  #paused = false;
  // poll wait
  #wake = -1;
  #polling: Promise<void> | null = null;
  #room: (() => void) | null = null;

  private constructor(path: string, wait: FifoWait) {
    this.path = path;
    this.#wait = wait;
    this.#fd = libc.open(path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    if (wait === "poll") {
      try {
        this.#wake = libc.eventfd();
      } catch (e) {
        libc.close(this.#fd, path);
        throw e;
      }
      this.#polling = this.#pollLoop();
    } else if (wait === "socket") {
      this.#attach();
    }
  }

  /** Opens the FIFO for reading; returns at once, whether or not a writer is there yet. */
  static open(path: string, options: FifoReaderOptions = {}): FifoReader {
    checkFifo(path);
    return new FifoReader(path, options.wait ?? defaultWait());
  }

  /** How this reader waits for data. */
  get wait(): FifoWait {
    return this.#wait;
  }

  /** Queues what was read: whole frames, and a {@link FrameError} for bytes that were not one. */
  #bytes(bytes: Uint8Array): void {
    this.#decoder.push(bytes);
    for (let taken = this.#decoder.take(); taken !== null; taken = this.#decoder.take()) {
      this.#put("frame" in taken ? taken.frame : this.#garbage(taken.garbage));
    }
  }

  #garbage(g: Garbage): FrameError {
    return new FrameError(this.path, g.detail);
  }

  /** Every writer has gone: a partial frame is reported, then the EOF. */
  #eof(): void {
    const partial = this.#decoder.end();
    if (partial) this.#put(this.#garbage(partial));
    this.#put(null);
  }

  #put(item: Item): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter(item);
      return;
    }
    this.#items.push(item);
    if (this.#items.length >= MAX_QUEUED && this.#socket !== null && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /**
   * socket wait: waits, on the blocking pool, for a writer to open the FIFO (at once if one is
   * there), then reads through a socket on its own read end until every writer has gone; then
   * again. Deno closes that end when the socket ends.
   */
  async #attach(): Promise<void> {
    this.#opening = true;
    let fd: number;
    try {
      fd = await libc.openWaiting(this.path, libc.O.RDONLY | libc.O.CLOEXEC);
    } catch (e) {
      this.#opening = false;
      if (!this.#closed) this.#put(e as Error);
      return;
    }
    this.#opening = false;
    if (this.#closed) {
      libc.close(fd, this.path);
      return;
    }
    let socket: net.Socket;
    try {
      socket = new net.Socket({
        fd,
        readable: true,
        writable: false,
        onread: {
          buffer: Buffer.alloc(65536),
          callback: (n: number, buf: Uint8Array) => {
            this.#bytes(buf.subarray(0, n));
            return true;
          },
        },
      } as net.SocketConstructorOpts);
    } catch {
      // This Deno cannot watch a pipe descriptor with a socket: wait with poll(2) instead.
      libc.close(fd, this.path);
      this.#switchToPoll();
      return;
    }
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#socket = null;
      this.#paused = false;
      socket.destroy();
      if (this.#closed) return;
      this.#eof();
      this.#attach();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
    this.#socket = socket;
  }

  #switchToPoll(): void {
    this.#wait = "poll";
    this.#wake = libc.eventfd();
    this.#polling = this.#pollLoop();
  }

  /** poll wait: reads ahead; when the pipe is empty, waits in poll(2) off the event loop. */
  async #pollLoop(): Promise<void> {
    const chunk = new Uint8Array(65536);
    const pollfds = new Uint8Array(16);
    const v = new DataView(pollfds.buffer);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, libc.POLL.IN, true);
    while (!this.#closed) {
      if (this.#items.length >= MAX_QUEUED) {
        await new Promise<void>((resolve) => this.#room = resolve);
        continue;
      }
      let n: number | null;
      try {
        n = libc.readNonBlocking(this.#fd, chunk, this.path);
      } catch (e) {
        this.#put(e as Error);
        return;
      }
      if (n !== null && n > 0) {
        this.#bytes(chunk.subarray(0, n));
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
        this.#eof();
      }
    }
  }

  /**
   * poll wait: replaces the read end after EOF, so that poll waits for the next writer instead of
   * repeating POLLHUP. The new end is opened before the old one is closed: a FIFO left with no
   * reader and no writer drops its buffered data, and a new writer may already have written.
   */
  #reopen(): void {
    const fd = libc.open(this.path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    libc.close(this.#fd, this.path);
    this.#fd = fd;
  }

  /**
   * The next frame's payload, or `null` at EOF or once closed. Throws {@link FrameError} (the
   * unreadable bytes were dropped) if the pipe carried something that is not a frame; the frames
   * after it still come.
   */
  receive(): Promise<Uint8Array | null> {
    if (this.#wait === "none") {
      return Promise.reject(
        new FifoError(this.path, `${this.path} is not watched (wait "none"): use receiveNow`),
      );
    }
    if (this.#waiter !== null) {
      return Promise.reject(
        new FifoError(this.path, `a receive on ${this.path} is already pending`),
      );
    }
    if (this.#items.length > 0) return this.#hand(this.#items.shift()!);
    if (this.#closed) return Promise.resolve(null);
    return new Promise<Item>((resolve) => this.#waiter = resolve).then((item) =>
      this.#unwrap(item)
    );
  }

  #hand(item: Item): Promise<Uint8Array | null> {
    if (this.#items.length < MAX_QUEUED / 2) {
      if (this.#paused) {
        this.#paused = false;
        this.#socket?.resume();
      }
      const room = this.#room;
      this.#room = null;
      room?.();
    }
    try {
      return Promise.resolve(this.#unwrap(item));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #unwrap(item: Item): Uint8Array | null {
    if (item instanceof Error) throw item;
    return item;
  }

  /**
   * For a reader opened with wait `none`: the next frame in the pipe, read now, or null if there
   * is none (no EOF is reported: nothing tells "no writer" from "no message"). Throws
   * {@link FrameError} for bytes that are not a frame; the frames after them still come.
   */
  receiveNow(): Uint8Array | null {
    if (this.#wait !== "none") {
      throw new FifoError(this.path, `receiveNow is for a reader opened with wait "none"`);
    }
    if (this.#items.length === 0 && !this.#closed) {
      for (
        let n = libc.readNonBlocking(this.#fd, SYNC_CHUNK, this.path);
        n;
        n = libc.readNonBlocking(this.#fd, SYNC_CHUNK, this.path)
      ) {
        this.#bytes(SYNC_CHUNK.subarray(0, n));
      }
    }
    const item = this.#items.shift();
    if (item instanceof Error) throw item;
    return item ?? null;
  }

  /**
   * Drops whatever the pipe holds right now, without waiting: a restarted reader's way to ignore
   * messages meant for the process it replaces. Frames already read ahead are dropped too (an EOF
   * seen meanwhile is kept). Returns the number of payload and garbage bytes dropped.
   */
  discardPending(): number {
    let dropped = this.#decoder.clear();
    this.#items = this.#items.filter((item) => {
      if (item instanceof Uint8Array) dropped += item.length;
      return item === null;
    });
    for (
      let n = libc.readNonBlocking(this.#fd, SYNC_CHUNK, this.path);
      n;
      n = libc.readNonBlocking(this.#fd, SYNC_CHUNK, this.path)
    ) {
      dropped += n;
    }
    return dropped;
  }

  /** The next frame decoded as UTF-8, or `null` at EOF or once closed. */
  async receiveText(): Promise<string | null> {
    const payload = await this.receive();
    return payload === null ? null : decoder.decode(payload);
  }

  /** Iterates over frames until EOF or close. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    while (true) {
      const payload = await this.receive();
      if (payload === null) return;
      yield payload;
    }
  }

  /** Closes the reader; a pending {@link receive} resolves with `null`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#items = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(null);
    if (this.#wait === "none") {
      libc.close(this.#fd, this.path);
    } else if (this.#wait === "socket") {
      this.#socket?.destroy();
      this.#socket = null;
      // A pending open for a writer returns once a writer opens: open one and let it go.
      if (this.#opening) {
        libc.close(libc.open(this.path, libc.O.WRONLY | libc.O.NONBLOCK | libc.O.CLOEXEC));
      }
      libc.close(this.#fd, this.path);
    } else {
      this.#room?.();
      libc.write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), "reader wake-up");
      const release = () => {
        libc.close(this.#fd, this.path);
        libc.close(this.#wake, "reader wake-up");
      };
      this.#polling?.then(release, release);
    }
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
