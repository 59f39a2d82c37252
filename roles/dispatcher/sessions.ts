/**
 * One client connection to the dispatcher, from accept to close: lines read (bounded, with an idle
 * timeout), checked, answered with the specified `ERR` line when bad, LISTEN taken where the stage
 * wants it, requests submitted one at a time in order.
 *
 * @module
 */

import { deadlineAfter } from "../deadline.ts";
import { traceEvent } from "../logging.ts";
import {
  decodeLine,
  errLine,
  LINE_TOO_LONG,
  okLine,
  parseLine,
  type Request,
} from "../protocol.ts";
import { LISTEN_FIRST, type StageFlow } from "../stages.ts";
import type { LineConn } from "../socket_conn.ts";
import { closeGracefully, TcpLineReader, writeLine } from "../tcp.ts";
import type { Client, Job } from "./jobs.ts";

/**
 * How long a connection may stay quiet once the dispatcher is stopping, ms: every line that comes
 * until then is answered (`ERR shutting-down`), then the dispatcher half-closes, drains and closes.
 */
export const QUIET_AT_STOP_MS = 100;

/** What a connection needs of the dispatcher. */
export interface SessionHost {
  /** The stage's flow. */
  readonly flow: StageFlow;
  /** A connection that sends no whole line for this many ms is closed. */
  readonly idleTimeoutMs: number;
  /** The open connections. */
  readonly clients: Set<Client>;
  /** Accepts a request (queued, or answered at once). */
  submit(request: Request, client: Client): Job;
  /** Whether the dispatcher is stopping. */
  readonly stopping: boolean;
  /** Whether the dispatcher is draining: each connection ends after its request in flight. */
  readonly draining: boolean;
}

/** Serves one client connection until QUIT, EOF, idle timeout or a too-long line. */
export async function serveClient(conn: LineConn, host: SessionHost): Promise<void> {
  const addr = conn.remoteAddr as Deno.NetAddr;
  const lines = new TcpLineReader(conn);
  // The idle timeout runs while the connection owes a line: from each reply to the next line;
  // once the dispatcher stops, it is the short quiet spell after which the connection ends.
  const idle = deadlineAfter(host.idleTimeoutMs, () => lines.interrupt());
  const quietMs = () => host.stopping ? QUIET_AT_STOP_MS : host.idleTimeoutMs;
  let waiting = false;
  const client: Client = {
    conn,
    name: `client ${addr.hostname}:${addr.port}`,
    host: addr.hostname,
    reachedOn: (conn.localAddr as Deno.NetAddr).hostname,
    listenPort: null,
    stopping: () => {
      if (waiting) idle.restart(QUIET_AT_STOP_MS);
    },
    drain: () => {
      if (waiting) lines.interrupt();
    },
    end: () => lines.interrupt(),
  };
  host.clients.add(client);
  traceEvent({ event: "accept", channel: "tcp", peer: client.name });
  try {
    while (!host.draining) {
      idle.restart(quietMs());
      waiting = true;
      const read = await lines.next();
      waiting = false;
      idle.cancel();
      if (read.kind === "eof") return;
      if (read.kind === "timeout") {
        // Stopping: quiet for a moment, every line answered; the connection ends, no more said.
        // Draining: between two requests; the client connects again, to the next dispatcher.
        if (host.stopping || host.draining) return;
        await writeLine(
          conn,
          errLine("timeout", `no request for ${host.idleTimeoutMs} ms, closing`),
        );
        return;
      }
      if (read.kind === "too-long") {
        await writeLine(conn, LINE_TOO_LONG);
        return;
      }
      const line = decodeLine(read.bytes);
      if (line === null) {
        await writeLine(conn, errLine("bad-argument", "the line is not valid UTF-8"));
        continue;
      }
      const parsed = parseLine(line);
      if (parsed.kind === "quit") return;
      if (parsed.kind === "error") {
        await writeLine(conn, errLine(parsed.code, parsed.message));
      } else if (parsed.kind === "listen") {
        if (host.flow.clientListens) {
          client.listenPort = parsed.port;
          await writeLine(conn, okLine(""));
        } else {
          await writeLine(
            conn,
            errLine("unknown-request", `LISTEN is for the worker-calls-client stage only`),
          );
        }
      } else if (host.flow.clientListens && client.listenPort === null) {
        await writeLine(conn, LISTEN_FIRST);
      } else {
        await host.submit(parsed.request, client).done;
      }
    }
  } finally {
    idle.cancel();
    host.clients.delete(client);
    await closeGracefully(conn, 200);
  }
}
