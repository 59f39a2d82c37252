/**
 * Lines over TCP: a bounded line reader, writes that report a gone peer instead of throwing,
 * graceful closes, and which errors mean the connection is gone. Accepting, listening and
 * connecting are in `tcp_serve.ts`.
 *
 * @module
 */

import { type Deadline, deadlineAfter } from "./deadline.ts";
import { MAX_LINE } from "./protocol.ts";
import type { LineConn } from "./socket_conn.ts";

/** What {@link TcpLineReader.next} returns. */
export type LineResult =
  | { kind: "line"; bytes: Uint8Array }
  | { kind: "too-long" }
  | { kind: "eof" }
  | { kind: "timeout" };

/**
 * Read buffers, kept for the next read: a reader holds one only while its read is pending (a
 * 4 KiB buffer per connection would be allocated and collected for every connection).
 */
const chunks: Uint8Array<ArrayBuffer>[] = [];

function takeChunk(): Uint8Array<ArrayBuffer> {
  return chunks.pop() ?? new Uint8Array(MAX_LINE);
}

/** What one read brought: bytes, the peer's EOF, or an interruption (timeout). */
export type Fill = "data" | "eof" | "interrupted";

/**
 * Reads LF-terminated lines (CR before LF dropped) from a TCP connection, at most
 * {@link MAX_LINE} bytes with the terminator. Lines that arrive early wait in the buffer, in order.
 * Timeouts use the process's one coarse clock (`deadline.ts`), not a timer per line; once a
 * timeout has fired (or {@link interrupt} was called), the reader only answers `timeout`: the
 * connection is to be closed.
 */
export class TcpLineReader {
  #conn: LineConn;
  #pending = new Uint8Array(0);
  #filling: Promise<Fill> | null = null;
  #wake: ((fill: Fill) => void) | null = null;
  #eof = false;
  #interrupted = false;

  /** Wraps a connection. */
  constructor(conn: LineConn) {
    this.#conn = conn;
  }

  #takeLine(): LineResult | null {
    const p = this.#pending;
    const lf = p.indexOf(0x0a);
    if (lf < 0) return p.length >= MAX_LINE ? { kind: "too-long" } : null;
    if (lf + 1 > MAX_LINE) return { kind: "too-long" };
    const end = lf > 0 && p[lf - 1] === 0x0d ? lf - 1 : lf;
    // The pending array is never written again (each read makes a new one): no copy needed.
    const bytes = p.subarray(0, end);
    this.#pending = p.subarray(lf + 1);
    return { kind: "line", bytes };
  }

  /** What is left when the peer has closed: its unterminated last line, once, then `eof`. */
  #lastLine(): LineResult {
    const p = this.#pending;
    if (p.length === 0) return { kind: "eof" };
    this.#pending = new Uint8Array(0);
    return { kind: "line", bytes: p.at(-1) === 0x0d ? p.subarray(0, -1) : p };
  }

  /** One read into the pending bytes; shared by every waiter, so no byte is read twice or lost. */
  #fill(): Promise<Fill> {
    if (this.#eof) return Promise.resolve("eof");
    if (this.#interrupted) return Promise.resolve("interrupted");
    this.#filling ??= new Promise<Fill>((resolve) => {
      this.#wake = resolve;
      const chunk = takeChunk();
      this.#conn.read(chunk).then((n) => this.#read(chunk, n), () => this.#read(chunk, null));
    });
    return this.#filling;
  }

  #read(chunk: Uint8Array<ArrayBuffer>, n: number | null): void {
    this.#filling = null;
    const wake = this.#wake;
    this.#wake = null;
    if (n === null) {
      // EOF, or reset by the peer: the same.
      chunks.push(chunk);
      this.#eof = true;
      wake?.("eof");
      return;
    }
    const p = this.#pending;
    const merged = new Uint8Array(p.length + n);
    merged.set(p);
    merged.set(chunk.subarray(0, n), p.length);
    chunks.push(chunk);
    this.#pending = merged;
    wake?.("data");
  }

  /**
   * The next line; `too-long` once a line passes the limit; `eof` when the peer closed; a last line
   * without its LF, ended by the peer's close (or half-close: `printf 'x' | nc -N`), is a line;
   * `timeout` if no whole line came within `timeoutMs` (none: no limit of its own) or the reader
   * was interrupted.
   */
  async next(timeoutMs?: number): Promise<LineResult> {
    let deadline: Deadline | undefined;
    try {
      while (true) {
        const line = this.#takeLine();
        if (line !== null) return line;
        if (this.#eof) return this.#lastLine();
        if (this.#interrupted) return { kind: "timeout" };
        if (timeoutMs !== undefined) deadline ??= deadlineAfter(timeoutMs, () => this.interrupt());
        if (await this.#fill() === "interrupted") return { kind: "timeout" };
      }
    } finally {
      deadline?.cancel();
    }
  }

  /** Bytes received after the lines taken so far. */
  get buffered(): number {
    return this.#pending.length;
  }

  /** Ends a pending {@link next} (and every later one) with `timeout`: the connection is done. */
  interrupt(): void {
    this.#interrupted = true;
    const wake = this.#wake;
    this.#wake = null;
    wake?.("interrupted");
  }

  /**
   * Resolves `eof` when the peer closes, or `data` when bytes arrive (kept for {@link next}):
   * for watching a connection that should stay quiet, without taking its lines.
   */
  watch(): Promise<Fill> {
    return this.#fill();
  }
}

const encoder = new TextEncoder();

/**
 * Whether `e` is what a connection throws when its peer or itself is gone (closed, reset, broken
 * pipe): the end of that connection, not a fault of the caller's.
 */
export function isConnectionGone(e: unknown): boolean {
  return e instanceof Deno.errors.BadResource || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.ConnectionAborted ||
    e instanceof Deno.errors.NotConnected || e instanceof Deno.errors.Interrupted;
}

/**
 * Whether `e` is what connecting, or a connection, throws for a reason that may pass: refused,
 * timed out, out of local ports, or {@link isConnectionGone}. Worth another try; nothing else is.
 */
export function isTransientConnectError(e: unknown): boolean {
  return isConnectionGone(e) || e instanceof Deno.errors.ConnectionRefused ||
    e instanceof Deno.errors.TimedOut || e instanceof Deno.errors.AddrNotAvailable;
}

/** Rethrows `e` unless the connection it came from is gone ({@link isConnectionGone}). */
export function ignoreGone(e: unknown): void {
  if (!isConnectionGone(e)) throw e;
}

/** Writes one line (LF added); false if the peer is gone. */
export async function writeLine(conn: LineConn, line: string): Promise<boolean> {
  const bytes = encoder.encode(`${line}\n`);
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    return true;
  } catch (e) {
    ignoreGone(e);
    return false;
  }
}

/** Where drained bytes go: they are dropped, so every drain may share it. */
const DISCARD = new Uint8Array(MAX_LINE);

/**
 * Closes after a last reply without a reset: shut down the write side (FIN after the reply), read
 * and drop what the peer still sends until it closes, for up to `drainMs`, then close. Closing
 * with unread input would send a RST, which can destroy the reply before the peer reads it.
 */
export async function closeGracefully(conn: LineConn, drainMs = 1000): Promise<void> {
  // Closing the connection ends the pending read: the drain's time limit.
  const deadline = deadlineAfter(drainMs, () => closeQuietly(conn));
  try {
    await conn.closeWrite();
    while (await conn.read(DISCARD) !== null) { /* dropped */ }
  } catch (e) {
    // The peer is gone already, or the drain timed out (the deadline closed the connection).
    ignoreGone(e);
  } finally {
    deadline.cancel();
  }
  closeQuietly(conn);
}

/**
 * Closes a connection whose peer was to send one line and has had its reply: at once if nothing
 * came after that line (the reply then ends with a FIN, and there is no unread input to turn the
 * close into a reset), else gracefully ({@link closeGracefully}).
 */
export async function closeAfterReply(
  conn: LineConn,
  lines: TcpLineReader,
  drainMs: number,
): Promise<void> {
  if (lines.buffered === 0) closeQuietly(conn);
  else await closeGracefully(conn, drainMs);
}

/** Closes a connection that may already be closed. */
export function closeQuietly(conn: LineConn): void {
  try {
    conn.close();
  } catch (e) {
    // Already closed.
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}
