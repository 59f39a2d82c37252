/**
 * The three stages of the system as one table: what the dispatcher orders a worker, whether the
 * client hears WAIT before that order or REDIRECT after it, whether the dispatcher's reply is the
 * final answer, and the pipe messages that carry it all. The dispatcher, the worker and the client
 * read their flow here; a stage's flow is changed here and nowhere else.
 *
 * | stage               | order       | to the client            | final reply from          |
 * | ------------------- | ----------- | ------------------------ | ------------------------- |
 * | relay               | `job <id>`  | `OK …` after `done <id>` | the dispatcher (mailbox)  |
 * | worker-calls-client | `call <id>` | `WAIT <token>` before    | the worker, on its call   |
 * | client-calls-worker | `claim <id>`| `REDIRECT h p` after     | the worker, on its port   |
 *
 * @module
 */

import { ERROR_CODES, parseReply } from "./protocol.ts";

/** The three stages of the system; `ideal` is an alias of `client-calls-worker`. */
export type Stage = "relay" | "worker-calls-client" | "client-calls-worker";

/** Every stage name accepted on the command line, aliases included. */
export const STAGE_NAMES = [
  "relay",
  "worker-calls-client",
  "client-calls-worker",
  "ideal",
] as const;

/** The stage a name stands for, or null for an unknown name. */
export function parseStage(name: string): Stage | null {
  if (name === "ideal") return "client-calls-worker";
  return (STAGE_NAMES as readonly string[]).includes(name) ? name as Stage : null;
}

/**
 * The dispatcher's reply, in worker-calls-client, to a request sent before `LISTEN <port>`: a
 * client that did not know the stage learns it from this line.
 */
export const LISTEN_FIRST = "ERR bad-argument send LISTEN <port> first";

/** The order the dispatcher writes on `dwtube<k>` for one request. */
export type OrderKind = "job" | "call" | "claim";

/** How one stage carries a request from the dispatcher to its answer. */
export interface StageFlow {
  /** The order the worker gets on its pipe. */
  order: OrderKind;
  /** The client announces a port with `LISTEN <port>` first, for workers to call. */
  clientListens: boolean;
  /** The client is told `WAIT <token>` before the worker is ordered (the worker calls it). */
  waitBefore: boolean;
  /** The client is told `REDIRECT <host> <port>` once the worker is ordered (it calls the worker). */
  redirectAfter: boolean;
  /** The dispatcher's reply is the answer itself, read from the mailbox after `done <id>`. */
  finalReply: boolean;
  /** The worker listens on its own TCP port for clients. */
  workerListens: boolean;
  /**
   * The worker reads its orders when it needs them (a client's line, its heartbeat) rather than
   * when they arrive: nothing is to be done for a claim before its client comes.
   */
  ordersOnDemand: boolean;
}

/** The flow of each stage. */
export const STAGES: Readonly<Record<Stage, Readonly<StageFlow>>> = {
  "relay": {
    order: "job",
    clientListens: false,
    waitBefore: false,
    redirectAfter: false,
    finalReply: true,
    workerListens: false,
    ordersOnDemand: false,
  },
  "worker-calls-client": {
    order: "call",
    clientListens: true,
    waitBefore: true,
    redirectAfter: false,
    finalReply: false,
    workerListens: false,
    ordersOnDemand: false,
  },
  "client-calls-worker": {
    order: "claim",
    clientListens: false,
    waitBefore: false,
    redirectAfter: true,
    finalReply: false,
    workerListens: true,
    ordersOnDemand: true,
  },
};

/** A request token (worker-calls-client): what WAIT and READY carry. */
const TOKEN = "[A-Za-z0-9]{1,32}";
const READY = new RegExp(`^READY (${TOKEN})$`);
const WAIT = new RegExp(`^WAIT (${TOKEN})$`);
const REDIRECT = /^REDIRECT (\S+) (\d+)$/;
const CALL = new RegExp(`^(${TOKEN}) (\\S+) (\\d+) (.*)$`, "s");
const ORDER = /^(job|claim|call|drain) (\d+)$/;
const ANSWER = /^(done|free|fail|calling) (\d+)(?: |$)/;

/** The order line for request `id`. */
export function orderLine(kind: OrderKind, id: number): string {
  return `${kind} ${id}`;
}

/**
 * The dispatcher's last line to a draining worker (`drain <generation>`, the worker process's
 * generation): no order follows it on the pipe, so once the worker holds nothing it may leave.
 */
export function drainLine(generation: number): string {
  return `drain ${generation}`;
}

/** What the dispatcher writes on `dwtube<k>`: an order for a request, or `drain`. */
export type PipeOrder = { kind: OrderKind; id: number } | { kind: "drain"; generation: number };

/** An order read from the pipe, or null for anything else. */
export function parseOrder(text: string): PipeOrder | null {
  const m = ORDER.exec(text);
  if (m === null) return null;
  return m[1] === "drain"
    ? { kind: "drain", generation: Number(m[2]) }
    : { kind: m[1] as OrderKind, id: Number(m[2]) };
}

/**
 * What a worker answers on `wdtube<k>`: the reply is in the mailbox, the worker is free, the order
 * could not be carried out, or (worker-calls-client) it is calling the client now: from then on
 * the request may reach the client, and is never given to another worker.
 */
export type AnswerKind = "done" | "free" | "fail" | "calling";

/** The answer line to request `id`, with an optional detail (`served`, `timeout`, an error). */
export function pipeAnswerLine(kind: AnswerKind, id: number, detail = ""): string {
  return detail === "" ? `${kind} ${id}` : `${kind} ${id} ${detail}`;
}

/** A worker's answer read from the pipe, or null for anything else. */
export function parseAnswer(text: string): { kind: AnswerKind; id: number } | null {
  const m = ANSWER.exec(text);
  return m ? { kind: m[1] as AnswerKind, id: Number(m[2]) } : null;
}

/** How the dispatcher hands a request on to a worker, as the client reads it. */
export type Handoff =
  | { kind: "redirect"; host: string; port: number }
  | { kind: "wait"; token: string };

/** `REDIRECT <host> <port>`: the client is to send its request to that worker. */
export function redirectLine(host: string, port: number): string {
  return `REDIRECT ${host} ${port}`;
}

/** `WAIT <token>`: a worker will call the client's LISTEN port and announce `READY <token>`. */
export function waitLine(token: string): string {
  return `WAIT ${token}`;
}

/** `READY <token>`: the worker's first line on the connection it opened to the client. */
export function readyLine(token: string): string {
  return `READY ${token}`;
}

/** The token of a `READY <token>` line, or null. */
export function parseReady(line: string): string | null {
  return READY.exec(line)?.[1] ?? null;
}

/**
 * Whether `line` is one the servers may send, in any stage: `OK [result]`, `ERR <code> [message]`
 * with a specified code, REDIRECT, WAIT or READY.
 */
export function isServerLine(line: string): boolean {
  const reply = parseReply(line);
  if (reply !== null) {
    return reply.ok || (ERROR_CODES as readonly string[]).includes(reply.code);
  }
  return parseHandoff(line) !== null || parseReady(line) !== null;
}

/** The handoff a dispatcher's reply announces, or null if the reply is the answer itself. */
export function parseHandoff(line: string): Handoff | null {
  const redirect = REDIRECT.exec(line);
  if (redirect) {
    // A TCP port, 1 to 65535: a REDIRECT to any other number is no handoff a client can follow
    // (a broken server's reply), and stays the reply it is.
    const port = Number(redirect[2]);
    return port >= 1 && port <= 65535 ? { kind: "redirect", host: redirect[1], port } : null;
  }
  const wait = WAIT.exec(line);
  return wait ? { kind: "wait", token: wait[1] } : null;
}

/** What the dispatcher puts in a worker's mailbox for a call: the token, whom to call, the line. */
export function callLine(token: string, host: string, port: number, request: string): string {
  return `${token} ${host} ${port} ${request}`;
}

/** A call read from a mailbox, or null if malformed. */
export function parseCall(
  text: string,
): { token: string; host: string; port: number; request: string } | null {
  const m = CALL.exec(text);
  return m ? { token: m[1], host: m[2], port: Number(m[3]), request: m[4] } : null;
}
