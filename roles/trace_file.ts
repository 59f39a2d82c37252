/**
 * A run's trace file: every process of the run appends its events to it, in batches, and the file
 * is bounded. When an append would take it past its bound, the file is renamed `FILE.1` (the one
 * older file kept, replacing the previous one) and a new `FILE` is started: a long run keeps about
 * twice the bound on disk, never more. Readers take `FILE.1` then `FILE` ({@link traceFiles}).
 *
 * Several processes share one file, so no process can count its size alone: each checks the file's
 * real size before a batch and rotates it under an exclusive lock on its directory, and each
 * follows a rotation made by another (its descriptor then names `FILE.1`: it opens `FILE` again).
 * A batch is one `write(2)` on an O_APPEND descriptor: batches of several processes never
 * interleave. (LogTape's own file sinks fsync every flush and count the size of their own writes
 * only, so with several writers each would rotate on its own: hence this one.)
 *
 * An event that comes after a quiet spell (nothing written for 100 ms) is written at once; the
 * events that follow it within 100 ms are buffered and written together, when 64 KiB are buffered,
 * every 100 ms, and when the process exits. So a rare event reaches the file at once, a stream of
 * them costs one write per batch, and a process killed by SIGKILL loses at most its last 100 ms of
 * events. Writing a trace never fails a process: a batch that cannot be written (the folder was
 * removed, the disk is full) is dropped, counted and reported once on stderr.
 *
 * @module
 */

/** Default bound of a trace file, bytes. */
export const DEFAULT_TRACE_MAX_BYTES = 64 * 1024 * 1024;

/** Smallest bound accepted, bytes. */
export const MIN_TRACE_MAX_BYTES = 4096;

/** How a trace file is written. */
export interface TraceFileOptions {
  /** Past this many bytes the file is rotated (default {@link DEFAULT_TRACE_MAX_BYTES}). */
  maxBytes?: number;
  /** A batch is written once this many bytes are buffered (default 64 KiB). */
  batchBytes?: number;
  /** Buffered events are written at least this often, ms (default 100). */
  flushIntervalMs?: number;
}

const encoder = new TextEncoder();

/**
 * The file beside a trace that keeps its lifecycle events (`path.lifecycle`): every process's
 * start and end, the watchdog's every step, the faults injected, and the events that name the
 * peers (a client's dispatcher connection, its LISTEN port). They are written there as well as
 * into the trace, so that a bounded trace, rotated many times over a long run, still shows its
 * start, its faults and who its clients were. It is bounded and rotated like the trace, and
 * being a few lines per process, in practice never is.
 */
export function lifecycleFile(path: string): string {
  return `${path}.lifecycle`;
}

/**
 * The files holding a trace, oldest first, those that exist: its lifecycle file (and that file's
 * own rotated `.1`), the trace's rotated `path.1`, and `path`.
 */
export function traceFiles(path: string): string[] {
  const life = lifecycleFile(path);
  return [`${life}.1`, life, `${path}.1`, path].filter((p) => fileAt(p)?.isFile === true);
}

/**
 * Makes `path` an empty trace file (mode 0600), creating its folder and removing what an earlier
 * run left beside it (its rotated file, its lifecycle file): one trace per run. Returns `path`.
 */
export function freshTraceFile(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash > 0) Deno.mkdirSync(path.slice(0, slash), { recursive: true });
  for (const old of traceFiles(path)) {
    if (old !== path) Deno.removeSync(old);
  }
  Deno.writeTextFileSync(path, "", { mode: 0o600 });
  return path;
}

/** What is at `path` now, or null if nothing is. */
function fileAt(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** One process's appender to a shared, bounded trace file. */
export class TraceFile implements Disposable {
  /** The trace file's path. */
  readonly path: string;
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #batchBytes: number;
  readonly #intervalMs: number;
  #lastWrite = -Infinity;
  #dropped = 0;
  #file: Deno.FsFile | null = null;
  #ino: number | null = null;
  #buffer = "";
  #timer: ReturnType<typeof setInterval>;
  #flushOnExit = () => this.flush();
  #closed = false;

  /** Opens (creating it 0600 if needed) the trace file at `path` for appending. */
  constructor(path: string, options: TraceFileOptions = {}) {
    const maxBytes = options.maxBytes ?? DEFAULT_TRACE_MAX_BYTES;
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_TRACE_MAX_BYTES) {
      throw new RangeError(
        `a trace bound is at least ${MIN_TRACE_MAX_BYTES} bytes, not ${maxBytes}`,
      );
    }
    this.path = path;
    const slash = path.lastIndexOf("/");
    this.#dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
    this.#maxBytes = maxBytes;
    this.#batchBytes = Math.min(options.batchBytes ?? 64 * 1024, maxBytes);
    this.#intervalMs = options.flushIntervalMs ?? 100;
    this.#open();
    this.#timer = setInterval(() => this.flush(), this.#intervalMs);
    Deno.unrefTimer(this.#timer);
    globalThis.addEventListener("unload", this.#flushOnExit);
  }

  /** Opens the path for appending (created 0600 if missing); returns the file's size. */
  #open(): number {
    this.#file = Deno.openSync(this.path, { append: true, create: true, mode: 0o600 });
    const info = this.#file.statSync();
    this.#ino = info.ino;
    return info.size;
  }

  /**
   * Closes the current descriptor and opens the path again (it stays closed if that fails);
   * returns the new file's size.
   */
  #reopen(): number {
    this.#file?.close();
    this.#file = null;
    return this.#open();
  }

  /** Bytes dropped because they could not be written. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Buffers one line (its terminator included). It is written at once after a quiet spell, else
   * with its batch.
   */
  append(line: string): void {
    if (this.#closed) return;
    const quiet = this.#buffer === "" && performance.now() - this.#lastWrite >= this.#intervalMs;
    this.#buffer += line;
    if (quiet || this.#buffer.length >= this.#batchBytes) this.flush();
  }

  /** Writes what is buffered, as one append, rotating the file first if it would pass its bound. */
  flush(): void {
    if (this.#buffer === "" || this.#closed) return;
    const bytes = encoder.encode(this.#buffer);
    this.#buffer = "";
    this.#lastWrite = performance.now();
    try {
      if (this.#follow() + bytes.length > this.#maxBytes) this.#rotate(bytes.length);
      for (let at = 0; at < bytes.length;) at += this.#file!.writeSync(bytes.subarray(at));
    } catch (e) {
      if (this.#dropped === 0) {
        console.error(
          `osps: trace events dropped, ${this.path} cannot be written: ${(e as Error).message}`,
        );
      }
      this.#dropped += bytes.length;
    }
  }

  /**
   * Opens the path again if it no longer names this descriptor's file (rotated or removed);
   * returns the size of the file the descriptor now writes to.
   */
  #follow(): number {
    const info = fileAt(this.path);
    return info !== null && info.ino !== null && info.ino === this.#ino
      ? info.size
      : this.#reopen();
  }

  /**
   * Renames the full file to `path.1` and starts a new one, under an exclusive lock on the
   * directory; a process that finds the rotation already done (the path names a new, small file)
   * only follows it.
   */
  #rotate(incoming: number): void {
    using dir = Deno.openSync(this.#dir, { read: true });
    dir.lockSync(true);
    try {
      const current = fileAt(this.path);
      if (current?.ino === this.#ino && current.size + incoming > this.#maxBytes) {
        Deno.renameSync(this.path, `${this.path}.1`);
      }
      this.#reopen();
    } finally {
      dir.unlockSync();
    }
  }

  /** Writes what is left and closes the file. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearInterval(this.#timer);
    globalThis.removeEventListener("unload", this.#flushOnExit);
    this.#file?.close();
    this.#file = null;
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
