/**
 * What a client is given and what it gets: its options, the result of a request, the error when
 * no answer can be had, and a result as the line a server would write.
 *
 * @module
 */

import { errLine, okLine, parseReply as readReply } from "./protocol.ts";
import type { Stage } from "./stages.ts";

/** Options of {@link OspsClient.connect}. */
export interface ClientOptions {
  /** The dispatcher's address (default 127.0.0.1). */
  host?: string;
  /** The dispatcher's port (default 2222). */
  port?: number;
  /** Reconnections tried after a lost connection, per request (default 5). */
  retries?: number;
  /** First reconnection delay in ms, doubled each time (default 50). */
  backoffMs?: number;
  /** How long to wait for any reply, in ms (default 15000). */
  timeoutMs?: number;
  /** How long to wait for a worker's READY after WAIT (default 15000). */
  readyTimeoutMs?: number;
  /** The role name in trace events (default `client`). */
  name?: string;
  /**
   * The system's stage, if known: worker-calls-client announces LISTEN on every connection;
   * unknown (the default), the client learns it from the first reply that asks for LISTEN.
   */
  stage?: Stage;
}

/** The answer to one request. */
export type ClientResult =
  | { ok: true; result: string; via: string; retries: number }
  | { ok: false; code: string; message: string; via: string; retries: number };

/** No reply could be had: the connection kept failing, or a reply never came. */
export class ClientError extends Error {
  /** A client error saying `message`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
  }
}

/** The result of a reply line; anything but `OK`/`ERR` is a `protocol` error. */
export function resultOfReply(line: string, via: string, retries: number): ClientResult {
  const reply = readReply(line) ?? {
    ok: false,
    code: "protocol",
    message: `not an osps reply (OK, ERR, REDIRECT or WAIT): ${JSON.stringify(line.slice(0, 80))}`,
  };
  return { ...reply, via, retries };
}

/** A failure the client itself concludes. */
export function failure(code: string, message: string, via: string, retries: number): ClientResult {
  return { ok: false, code, message, via, retries };
}

/** An answer as one line, `OK <result>` or `ERR <code> <message>`, as the servers write it. */
export function answerLine(result: ClientResult): string {
  return result.ok ? okLine(result.result) : errLine(result.code, result.message);
}
