/**
 * Named pipes (FIFOs) carrying framed messages.
 *
 * A frame is a 4-byte header (`O` `P`, then the payload length as u16 little-endian) and at most
 * {@link MAX_FRAME_PAYLOAD} payload bytes, so a whole frame is at most PIPE_BUF (4096) bytes and is
 * written by one `write(2)`: the kernel never interleaves it with another writer's frame.
 *
 * Receiving is asynchronous without blocking the event loop and without busy-polling: the reader's
 * descriptor is non-blocking; when it would block, `poll(2)` waits on Deno's blocking thread pool
 * for data, for the writers to go (EOF), or for the reader's own eventfd (close).
 *
 * @module
 */

import * as libc from "./libc.ts";

/** PIPE_BUF on Linux: writes up to this size are atomic. */
export const PIPE_BUF = 4096;
/** Size of a frame header. */
export const FRAME_HEADER = 4;
/** Largest payload a frame carries. */
export const MAX_FRAME_PAYLOAD = PIPE_BUF - FRAME_HEADER;
const MAGIC0 = 0x4f; // "O"
const MAGIC1 = 0x50; // "P"

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
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  if (data.length > MAX_FRAME_PAYLOAD) throw new FrameTooLargeError(path, data.length);
  const frame = new Uint8Array(FRAME_HEADER + data.length);
  frame[0] = MAGIC0;
  frame[1] = MAGIC1;
  frame[2] = data.length & 0xff;
  frame[3] = data.length >> 8;
  frame.set(data, FRAME_HEADER);
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
 * The reading end of a named pipe. {@link receive} resolves with the next frame's payload, or
 * `null` at EOF (every writer gone) or after {@link close}. After an EOF, the next `receive` waits
 * for a new writer, and nothing a new writer sent in between is lost: a FIFO outlives the
 * processes that write to it.
 */
export class FifoReader implements Disposable, AsyncIterable<Uint8Array> {
  /** The FIFO's path. */
  readonly path: string;
  #fd: number;
  #wake: number;
  #pollfds = new Uint8Array(16);
  #chunk = new Uint8Array(65536);
  #pending: Uint8Array = new Uint8Array(0);
  #receiving = false;
  #closed = false;

  private constructor(path: string) {
    this.path = path;
    this.#fd = libc.open(path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    try {
      this.#wake = libc.eventfd();
    } catch (e) {
      libc.close(this.#fd, path);
      throw e;
    }
    const v = new DataView(this.#pollfds.buffer);
    v.setInt32(8, this.#wake, true);
    v.setInt16(12, libc.POLL.IN, true);
    this.#setPollFd();
  }

  /** Opens the FIFO for reading; returns at once, whether or not a writer is there yet. */
  static open(path: string): FifoReader {
    checkFifo(path);
    return new FifoReader(path);
  }

  #setPollFd(): void {
    const v = new DataView(this.#pollfds.buffer);
    v.setInt32(0, this.#fd, true);
    v.setInt16(4, libc.POLL.IN, true);
  }

  /** Waits in poll(2) off the event loop; returns the FIFO's revents (0 if woken by close). */
  async #wait(): Promise<number> {
    const v = new DataView(this.#pollfds.buffer);
    v.setInt16(6, 0, true);
    v.setInt16(14, 0, true);
    while (!await libc.pollWaiting(this.#pollfds)) { /* interrupted: poll again */ }
    return v.getInt16(6, true);
  }

  /** Takes the next whole frame out of the pending bytes, if there is one. */
  #takeFrame(): Uint8Array | null {
    const p = this.#pending;
    if (p.length < FRAME_HEADER) {
      if (p.length >= 1 && p[0] !== MAGIC0) this.#dropPending("bad magic");
      return null;
    }
    if (p[0] !== MAGIC0 || p[1] !== MAGIC1) this.#dropPending("bad magic");
    const length = p[2] | (p[3] << 8);
    if (length > MAX_FRAME_PAYLOAD) this.#dropPending(`length ${length} over the frame limit`);
    if (p.length < FRAME_HEADER + length) return null;
    const payload = p.slice(FRAME_HEADER, FRAME_HEADER + length);
    this.#pending = p.subarray(FRAME_HEADER + length);
    return payload;
  }

  /**
   * Drops the unreadable bytes up to the next frame marker (`O` `P`) after the first byte, so that
   * a valid frame that came after garbage in the same read is not lost; then reports them.
   */
  #dropPending(detail: string): never {
    const p = this.#pending;
    let next = 1;
    while (
      next < p.length && !(p[next] === MAGIC0 && (next + 1 === p.length || p[next + 1] === MAGIC1))
    ) next++;
    this.#pending = p.subarray(next);
    throw new FrameError(this.path, `${detail} (${next} bytes dropped)`);
  }

  #append(n: number): void {
    const merged = new Uint8Array(this.#pending.length + n);
    merged.set(this.#pending);
    merged.set(this.#chunk.subarray(0, n), this.#pending.length);
    this.#pending = merged;
  }

  /**
   * The next frame's payload, or `null` at EOF or once closed. Throws {@link FrameError} (and
   * drops the unreadable bytes) if the pipe carries something that is not a frame.
   */
  async receive(): Promise<Uint8Array | null> {
    if (this.#receiving) {
      throw new FifoError(this.path, `a receive on ${this.path} is already pending`);
    }
    this.#receiving = true;
    try {
      return await this.#receive();
    } finally {
      this.#receiving = false;
      if (this.#closed) this.#release();
    }
  }

  async #receive(): Promise<Uint8Array | null> {
    while (true) {
      const frame = this.#takeFrame();
      if (frame !== null) return frame;
      if (this.#closed) return null;
      const n = libc.readNonBlocking(this.#fd, this.#chunk, this.path);
      if (n !== null && n > 0) {
        this.#append(n);
        continue;
      }
      // n === null: writers are there, no data yet. n === 0: no writer now, either none came yet
      // (poll waits for one) or all left (poll reports POLLHUP at once).
      const revents = await this.#wait();
      if (this.#closed) return null;
      if (n === 0 && (revents & libc.POLL.HUP) && !(revents & libc.POLL.IN)) {
        this.#reopen();
        if (this.#pending.length > 0) this.#dropPending("truncated frame at EOF");
        return null;
      }
    }
  }

  /**
   * Replaces the read end after EOF, so that poll waits for the next writer instead of repeating
   * POLLHUP. The new end is opened before the old one is closed: a FIFO left with no reader and no
   * writer drops its buffered data, and a new writer may already have written.
   */
  #reopen(): void {
    const fd = libc.open(this.path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    libc.close(this.#fd, this.path);
    this.#fd = fd;
    this.#setPollFd();
  }

  /**
   * Drops whatever the pipe holds right now, without waiting: a restarted reader's way to ignore
   * messages meant for the process it replaces. Returns the number of bytes dropped.
   */
  discardPending(): number {
    let dropped = this.#pending.length;
    this.#pending = new Uint8Array(0);
    for (
      let n = libc.readNonBlocking(this.#fd, this.#chunk, this.path);
      n;
      n = libc.readNonBlocking(this.#fd, this.#chunk, this.path)
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
    if (this.#receiving) {
      libc.write(this.#wake, new Uint8Array(new BigUint64Array([1n]).buffer), "reader wake-up");
    } else {
      this.#release();
    }
  }

  #release(): void {
    if (this.#fd < 0) return;
    libc.close(this.#fd, this.path);
    libc.close(this.#wake, "reader wake-up");
    this.#fd = -1;
    this.#wake = -1;
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
