/**
 * Serving over TCP: an accept loop that survives floods and descriptor exhaustion, a cap on open
 * connections, and listening or connecting with the errors a person can act on.
 *
 * @module
 */

import { SysCallError } from "../ipc/mod.ts";
import { deadlineAfter } from "./deadline.ts";
import { errLine } from "./protocol.ts";
import type { LineConn } from "./socket_conn.ts";
import { closeGracefully, closeQuietly, writeLine } from "./tcp.ts";
import { sleep } from "./timers.ts";
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
