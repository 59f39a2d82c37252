/**
 * The writing end of a named pipe: one non-blocking `write(2)` per frame, so a frame is never torn
 * and a writer never blocks on a reader that stopped reading (it gets {@link PipeFullError}).
 *
 * @module
 */

import * as libc from "./libc.ts";
import {
  BrokenPipeError,
  encodeFrame,
  FifoError,
  NoReaderError,
  openFifo,
  openFifoWaiting,
  PipeFullError,
} from "./fifo.ts";

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
    const { signal } = options;
    signal?.throwIfAborted();
    // An abort opens a read end and holds it until the waiting open(2) has returned: that open
    // may not have reached the kernel yet, and one that starts after a read end came and went
    // would wait for the next reader.
    let held = -1;
    const release = () => {
      held = libc.open(path, libc.O.RDONLY | libc.O.NONBLOCK | libc.O.CLOEXEC);
    };
    signal?.addEventListener("abort", release, { once: true });
    let fd: number;
    try {
      fd = await openFifoWaiting(path, libc.O.WRONLY);
    } finally {
      signal?.removeEventListener("abort", release);
      if (held >= 0) libc.close(held, path);
    }
    if (signal?.aborted) {
      libc.close(fd, path);
      throw signal.reason;
    }
    libc.setNonBlocking(fd, path);
    return new FifoWriter(path, fd);
  }

  /** Whether the path still names the pipe this writer has open (it may be replaced or gone). */
  stillAtPath(): boolean {
    return this.#fd >= 0 && libc.isOpenAt(this.#fd, this.path);
  }

  /** Opens the FIFO for writing if a reader has it open, else throws {@link NoReaderError}. */
  static openNow(path: string): FifoWriter {
    try {
      return new FifoWriter(path, openFifo(path, libc.O.WRONLY | libc.O.NONBLOCK));
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
