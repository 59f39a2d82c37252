/**
 * The reading end of a named pipe: frames out of the bytes a watch (`fifo_watch.ts`) reads, handed
 * out one at a time; or, for a reader nobody watches (`wait: "none"`), read when its owner asks.
 *
 * @module
 */

import * as libc from "./libc.ts";
import { FifoError, FrameError, openFifo } from "./fifo.ts";
import { type FifoSink, type FifoWatch, pollWatch, socketWatch } from "./fifo_watch.ts";
import { FrameDecoder } from "./frame.ts";
import { AsyncQueue } from "./async_queue.ts";

const decoder = new TextDecoder();

/**
 * How a {@link FifoReader} waits for data: `socket` and `poll` (see `fifo_watch.ts`), or `none`:
 * nothing watches the pipe, and its owner takes what is there with {@link FifoReader.receiveNow}
 * when it needs it.
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
  } catch (e) {
    // No --allow-env: the default.
    if (!(e instanceof Deno.errors.NotCapable)) throw e;
  }
  return chosen === "poll" ? "poll" : "socket";
}

/** The end of what the writers sent (every writer gone): `null` for the reader's caller. */
const EOF = Symbol("EOF");

/** One thing a reader hands out: a frame's payload, an error to throw, or an EOF. */
type Item = Uint8Array | Error | typeof EOF;

/** What a receive of `item` gives: its payload, a rejection with its error, or null for the EOF. */
function settled(item: Item): Promise<Uint8Array | null> {
  if (item instanceof Error) return Promise.reject(item);
  return Promise.resolve(item === EOF ? null : item);
}

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
  /** A read end held for the reader's life: writers can always open, and no data is lost while a
   * watch replaces its own end. With wait `none`, the end that is read. */
  #fd: number;
  #watch: FifoWatch | null = null;
  #decoder = new FrameDecoder();
  #items = new AsyncQueue<Item>();
  #sink: FifoSink = {
    bytes: (bytes) => this.#bytes(bytes),
    eof: () => this.#eof(),
    error: (error) => this.#put(error),
  };

  private constructor(path: string, wait: FifoWait) {
    this.path = path;
    this.#wait = wait;
    this.#fd = openFifo(path, libc.O.RDONLY | libc.O.NONBLOCK);
    try {
      if (wait === "poll") this.#watch = pollWatch(path, this.#sink);
      // This Deno cannot watch a pipe descriptor with a socket: wait with poll(2) instead.
      if (wait === "socket") this.#watch = socketWatch(path, this.#sink, () => this.#usePoll());
    } catch (e) {
      libc.close(this.#fd, path);
      throw e;
    }
  }

  /** Opens the FIFO for reading; returns at once, whether or not a writer is there yet. */
  static open(path: string, options: FifoReaderOptions = {}): FifoReader {
    return new FifoReader(path, options.wait ?? defaultWait());
  }

  /** How this reader waits for data. */
  get wait(): FifoWait {
    return this.#wait;
  }

  /** Frames (and errors, and an EOF) read ahead from the pipe and not yet received. */
  get queued(): number {
    return this.#items.length;
  }

  #usePoll(): void {
    this.#wait = "poll";
    this.#watch = pollWatch(this.path, this.#sink);
  }

  /** Queues what was read: whole frames, and a {@link FrameError} for bytes that were not one. */
  #bytes(bytes: Uint8Array): void {
    this.#decoder.push(bytes);
    for (let taken = this.#decoder.take(); taken !== null; taken = this.#decoder.take()) {
      this.#put("frame" in taken ? taken.frame : new FrameError(this.path, taken.garbage.detail));
    }
  }

  /** Every writer has gone: a partial frame is reported, then the EOF. */
  #eof(): void {
    const partial = this.#decoder.end();
    if (partial) this.#put(new FrameError(this.path, partial.detail));
    this.#put(EOF);
  }

  #put(item: Item): void {
    this.#items.push(item);
    if (this.#items.length >= MAX_QUEUED) this.#watch?.pause();
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
    if (this.#items.waiting > 0) {
      return Promise.reject(
        new FifoError(this.path, `a receive on ${this.path} is already pending`),
      );
    }
    const queued = this.#items.takeNow();
    if (this.#items.length < MAX_QUEUED / 2) this.#watch?.resume();
    if (queued !== undefined) return settled(queued);
    return this.#items.next().then((item) => item === null ? null : settled(item));
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
    if (this.#items.length === 0 && !this.#items.closed) {
      for (let n = this.#readNow(); n; n = this.#readNow()) this.#bytes(SYNC_CHUNK.subarray(0, n));
    }
    const item = this.#items.takeNow();
    if (item instanceof Error) throw item;
    return item === EOF ? null : item ?? null;
  }

  /** One non-blocking read into {@link SYNC_CHUNK}: bytes read, 0 with no writer, null if empty. */
  #readNow(): number | null {
    return libc.readNonBlocking(this.#fd, SYNC_CHUNK, this.path);
  }

  /**
   * Drops whatever the pipe holds right now, without waiting: a restarted reader's way to ignore
   * messages meant for the process it replaces. Frames already read ahead are dropped too (an EOF
   * seen meanwhile is kept). Returns the number of payload and garbage bytes dropped.
   */
  discardPending(): number {
    let dropped = this.#decoder.clear();
    this.#items.retain((item) => {
      if (item instanceof Uint8Array) dropped += item.length;
      return item === EOF;
    });
    for (let n = this.#readNow(); n; n = this.#readNow()) dropped += n;
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

  /** Whether the path still names the pipe this reader has open (it may be replaced or gone). */
  stillAtPath(): boolean {
    return !this.#items.closed && libc.isOpenAt(this.#fd, this.path);
  }

  /** Closes the reader; a pending {@link receive} resolves with `null`. */
  close(): void {
    if (this.#items.closed) return;
    this.#items.retain(() => false);
    this.#items.close();
    this.#watch?.close();
    libc.close(this.#fd, this.path);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
