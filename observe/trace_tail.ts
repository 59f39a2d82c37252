/**
 * Follows a run's trace file as the processes of the run append to it: each `poll` returns the
 * whole events written since the last one. A rotation (the file renamed `FILE.1`, a new `FILE`
 * begun) is followed: the rest of the old file is read from `FILE.1`, then the new one from its
 * start. A reader that falls far behind skips ahead rather than read megabytes at once, and says
 * how many bytes it skipped. A poll may parse only some of the lines it reads (a sample, evenly
 * spread, plus those a predicate must see): a run traces far more than a page can draw, and
 * parsing every line cost the watchdog a fifth of a core under load.
 *
 * @module
 */

import { parseTraceLine, type TracedEvent } from "../roles/mod.ts";

/** Past this many unread bytes, the tail skips to the last {@link KEEP_BYTES}. */
const MAX_LAG_BYTES = 4 << 20;
const KEEP_BYTES = 256 << 10;

/** What one poll brought. */
export interface TailRead {
  /** The events written since the last poll, in file order. */
  events: TracedEvent[];
  /** Bytes skipped because the tail was too far behind. */
  skippedBytes: number;
  /** Whole lines read but not parsed (left out of the sample). */
  unparsed: number;
}

/** What a poll parses: at most `limit` lines, evenly spread, and every line `keep` accepts. */
export interface TailSample {
  /** Lines to parse at most, besides those `keep` accepts. */
  limit: number;
  /** Lines that are parsed whatever the limit. */
  keep?: (line: string) => boolean;
}

/** A trace file followed from its current end. */
export class TraceTail {
  readonly #path: string;
  #inode: number | null = null;
  #offset = 0;
  #partial = "";
  readonly #decoder = new TextDecoder();

  /** Follows `path` from its end now (what was written before is not read). */
  constructor(path: string) {
    this.#path = path;
    const info = statOrNull(path);
    if (info !== null) {
      this.#inode = info.ino;
      this.#offset = info.size;
    }
  }

  /**
   * The events appended since the last poll (whole lines only; a torn line waits for its end):
   * every one, or, with `sample`, the lines it selects.
   */
  poll(sample?: TailSample): TailRead {
    const read: TailRead = { events: [], skippedBytes: 0, unparsed: 0 };
    const lines: string[] = [];
    this.#poll(lines, read);
    const limit = sample?.limit ?? Infinity;
    if (lines.length <= limit) {
      for (const line of lines) pushEvent(line, read.events);
      return read;
    }
    const stride = lines.length / limit;
    let next = 0;
    for (let i = 0; i < lines.length; i++) {
      if (next < limit && i === Math.floor(next * stride)) {
        next++;
        pushEvent(lines[i], read.events);
      } else if (sample?.keep?.(lines[i])) {
        pushEvent(lines[i], read.events);
      } else {
        read.unparsed++;
      }
    }
    return read;
  }

  #poll(lines: string[], read: TailRead): void {
    const info = statOrNull(this.#path);
    if (info === null) return;
    if (this.#inode !== null && info.ino !== this.#inode) {
      // Rotated: the old file is FILE.1 now; read its rest, then start the new one.
      const old = statOrNull(`${this.#path}.1`);
      if (old !== null && old.ino === this.#inode) {
        this.#read(`${this.#path}.1`, old.size, lines, read);
      }
      this.#offset = 0;
      this.#partial = "";
    }
    this.#inode = info.ino;
    if (info.size < this.#offset) {
      // Emptied (a fresh trace at the same path): start again from its beginning.
      this.#offset = 0;
      this.#partial = "";
    }
    this.#read(this.#path, info.size, lines, read);
  }

  /** Reads `path` from the offset to `size`: its whole lines into `lines`. */
  #read(path: string, size: number, lines: string[], into: TailRead): void {
    if (size - this.#offset > MAX_LAG_BYTES) {
      into.skippedBytes += size - KEEP_BYTES - this.#offset;
      this.#offset = size - KEEP_BYTES;
      this.#partial = "";
      // The first line after the jump is torn: dropped below, as no event parses from it.
    }
    if (size <= this.#offset) return;
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true });
    } catch (e) {
      // Rotated away between the stat and the open: the next tick finds the new file.
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    try {
      const bytes = new Uint8Array(size - this.#offset);
      file.seekSync(this.#offset, Deno.SeekMode.Start);
      let n = 0;
      while (n < bytes.length) {
        const got = file.readSync(bytes.subarray(n));
        if (got === null) break;
        n += got;
      }
      this.#offset += n;
      const text = this.#partial + this.#decoder.decode(bytes.subarray(0, n));
      const end = text.lastIndexOf("\n");
      this.#partial = text.slice(end + 1);
      if (end >= 0) { for (const line of text.slice(0, end).split("\n")) lines.push(line); }
    } finally {
      file.close();
    }
  }
}

function statOrNull(path: string): { ino: number; size: number } | null {
  try {
    const info = Deno.statSync(path);
    return { ino: info.ino ?? 0, size: info.size };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** A trace line's event onto `events`; nothing for a torn or foreign line (`parseTraceLine`). */
function pushEvent(line: string, events: TracedEvent[]): void {
  const event = parseTraceLine(line);
  if (event !== null) events.push(event);
}
