/**
 * Lines over TCP: a bounded line reader, writes that report a gone peer instead of throwing,
 * graceful closes, an accept loop that survives floods and descriptor exhaustion, and listening
 * or connecting with the errors a person can act on.
 *
 * @module
 */

import { type Deadline, deadlineAfter } from "./deadline.ts";
import { SysCallError } from "../ipc/mod.ts";
import { errLine, MAX_LINE } from "./protocol.ts";
import type { LineConn } from "./socket_conn.ts";
import { sleep } from "./timers.ts";

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

/** How {@link acceptConnections} takes a listener's connections. */
export interface AcceptOptions {
  /** Open connections allowed at once; one more gets `ERR busy too many connections`. */
  maxConnections: number;
  /** Serves one accepted connection (its errors are logged by the caller's `serve`). */
  serve: (conn: LineConn) => Promise<void>;
  /** Every connection in progress, refused ones included, for the caller to wait on at stop. */
  open: Set<Promise<void>>;
  /** Told when accepting pauses (out of descriptors) or refuses a connection. */
  warn: (message: string) => void;
}

/** How long accepting pauses when the process is out of descriptors, ms. */
const ACCEPT_PAUSE_MS = 100;

/**
 * Accepts connections until the listener closes. Past `maxConnections` open at once, a connection
 * gets `ERR busy too many connections` and is closed. Out of descriptors (EMFILE, ENFILE), accepting
 * pauses for 100 ms and resumes; the connections waiting are taken then: a flood never crashes the
 * role, and once it passes, the next connection is served at once.
 */
export async function acceptConnections(
  listener: Deno.Listener,
  options: AcceptOptions,
): Promise<void> {
  const gate = new ConnectionGate(options);
  while (true) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EMFILE" || code === "ENFILE") {
        options.warn(
          `out of file descriptors (${code}) with ${gate.served} connections open: ` +
            `accepting again in ${ACCEPT_PAUSE_MS} ms`,
        );
        await sleep(ACCEPT_PAUSE_MS);
        continue;
      }
      // The listener was closed: the role is stopping.
      if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
      throw e;
    }
    gate.admit(conn);
  }
}

/**
 * The connections of one server, counted: each admitted one is served, or, past the most
 * allowed, answered `ERR busy too many connections` and closed; every one is tracked in
 * `options.open` until it is done.
 */
export class ConnectionGate {
  /** Connections being served now. */
  served = 0;
  #refused = 0;

  /** A gate with `options`' cap, server and record of open connections. */
  constructor(readonly options: AcceptOptions) {}

  /** Serves `conn`, or refuses it if as many as allowed are open. */
  admit(conn: LineConn): void {
    const { options } = this;
    if (this.served >= options.maxConnections) {
      if (this.#refused++ % 100 === 0) {
        options.warn(
          `${this.served} connections open, the most allowed: refusing more (${this.#refused})`,
        );
      }
      this.#track(refuseConnection(conn));
      return;
    }
    this.served++;
    this.#track(options.serve(conn).finally(() => this.served--));
  }

  #track(p: Promise<void>): void {
    this.options.open.add(p);
    p.finally(() => this.options.open.delete(p));
  }
}

/**
 * The first and only line of a connection a server refuses, holding as many as it allows: a
 * client reads it instead of the reply to its first request, and connects again later.
 */
export const TOO_MANY_CONNECTIONS: string = errLine("busy", "too many connections");

/** Answers {@link TOO_MANY_CONNECTIONS} and closes. */
async function refuseConnection(conn: LineConn): Promise<void> {
  await writeLine(conn, TOO_MANY_CONNECTIONS);
  await closeGracefully(conn, 100);
}

/**
 * The connections a role allows at once, from its open-file limit: all of them but `reserve`
 * (its pipes, its segment, the runtime's own descriptors, the connections it opens itself).
 */
export function connectionCap(openFileLimit: number, reserve: number): number {
  return Math.max(1, openFileLimit - reserve);
}

/** Fewer client connections than this, from the open-file limit, is worth a warning. */
export const FEW_CONNECTIONS = 64;

/**
 * What to say of a role's connection cap derived from its open-file limit: null when it is
 * enough; a warning when it is small; an error (the role cannot serve) when the limit does not
 * even cover the descriptors kept for the rest (`reserve`).
 */
export function connectionCapProblem(
  who: string,
  openFileLimit: number,
  reserve: number,
): { fatal: boolean; message: string } | null {
  const cap = openFileLimit - reserve;
  if (cap >= FEW_CONNECTIONS) return null;
  const why = `the open-file limit is ${openFileLimit}, and ${reserve} descriptors are kept ` +
    `for its pipes, its segment and the runtime`;
  return cap < 1
    ? {
      fatal: true,
      message: `${who} cannot hold a client connection: ${why}; raise it (ulimit -n)`,
    }
    : {
      fatal: false,
      message: `${who} holds at most ${cap} client connections: ${why} (ulimit -n raises it)`,
    };
}

/**
 * Deno.connect that gives up after `ms` (a late connection is closed when it comes): a deadline on
 * the process's coarse clock, with no abort signal to wire into the operation.
 */
export function connectWithin(hostname: string, port: number, ms: number): Promise<Deno.Conn> {
  const connecting = Deno.connect({ hostname, port });
  return new Promise((resolve, reject) => {
    const deadline = deadlineAfter(ms, () => {
      reject(new Deno.errors.TimedOut(`connecting to ${hostname}:${port} took over ${ms} ms`));
      connecting.then(closeQuietly, () => {});
    });
    connecting.then(
      (conn) => deadline.fired ? undefined : (deadline.cancel(), resolve(conn)),
      (e) => (deadline.cancel(), reject(e)),
    );
  });
}

/**
 * A role cannot listen on its address: it is taken (by another program, or another instance), it
 * is a privileged port, or it is no address of this machine.
 */
export class ListenError extends Error {
  /** Who could not listen (`worker 2`). */
  readonly who: string;
  /** `who` could not listen on `hostname`:`port`: `why`, then what to do; `cause` is the error. */
  constructor(who: string, hostname: string, port: number, why: string, cause: unknown) {
    super(`cannot listen on ${hostname}:${port}: ${why}`, { cause });
    this.name = "ListenError";
    this.who = who;
  }
}

/** The lowest port an unprivileged process may listen on (Linux's default). */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** What keeps an address from being listened on, as {@link listenRetrying} tells them apart. */
type ListenRefusal = "privileged" | "no-address" | "in-use";

const REFUSALS: Record<ListenRefusal, string> = {
  privileged: `permission denied: ports below ${FIRST_UNPRIVILEGED_PORT} need privileges (root, ` +
    `or CAP_NET_BIND_SERVICE); choose --port ${FIRST_UNPRIVILEGED_PORT} or above`,
  "no-address": "no such address on this machine (--host)",
  "in-use": "address in use (another program holds it; choose another --port)",
};

/** Which refusal `e` is, from Deno's errors or a libc call's (null: another error). */
function refusal(e: unknown, port: number): ListenRefusal | null {
  const code = e instanceof SysCallError ? e.code : null;
  const denied = e instanceof Deno.errors.PermissionDenied || code === "EACCES";
  if (denied && port < FIRST_UNPRIVILEGED_PORT) return "privileged";
  if (e instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") return "no-address";
  if (e instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") return "in-use";
  return null;
}

/**
 * `listen()` (which throws what Deno or libc throws), retried while the address is in use (a
 * restarted role rebinding the port of the process it replaces) for up to `timeoutMs`, unless
 * `signal` aborts first (it rejects then with its reason); then a {@link ListenError} naming
 * `who` (`worker 2`) and the address.
 */
export async function listenRetrying<L>(
  who: string,
  hostname: string,
  port: number,
  listen: (hostname: string, port: number) => L,
  signal?: AbortSignal,
  timeoutMs = 3000,
): Promise<L> {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    try {
      return listen(hostname, port);
    } catch (e) {
      const why = refusal(e, port);
      if (why === null) throw e;
      if (why !== "in-use" || performance.now() > deadline) {
        throw new ListenError(who, hostname, port, REFUSALS[why], e);
      }
      await sleep(25, signal);
    }
  }
}

/** `Deno.listen` on `hostname`:`port`, for {@link listenRetrying}. */
export function denoListen(hostname: string, port: number): Deno.TcpListener {
  return Deno.listen({ hostname, port });
}
