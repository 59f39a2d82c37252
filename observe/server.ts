/**
 * The observer's HTTP server (Deno's built-in one), in the watchdog's process:
 *
 * | route                              | what                                                     |
 * | ---------------------------------- | -------------------------------------------------------- |
 * | `GET /`                            | the page (`page.ts`), self-contained                     |
 * | `GET /api/status`                  | the instance's status, as `status --json` prints it      |
 * | `GET /api/events`                  | Server-Sent Events (`feed.ts`)                           |
 * | `POST /api/roles/<role>/signal`    | `{"signal": "SIGKILL"}` to a role: 202 and the pid       |
 * | `POST /api/load`                   | `{"clients": N, "mix": "mixed"}` starts, `{"clients": 0}` stops |
 * | `POST /api/scale`                  | `{"workers": N}`: scales the instance to N workers: 202   |
 * | `POST /api/reload`                 | `{}`: a rolling reload: 202                               |
 *
 * Security: it listens on loopback unless told otherwise; a request whose `Host` is not the
 * observer's own is refused (421: DNS rebinding); every POST needs the instance's token
 * (`Authorization: Bearer <token>`, random at each start) and, if it has an `Origin`, the page's
 * own: else 403. Only SIGKILL, SIGSTOP, SIGCONT and SIGTERM, and only to the dispatcher or a
 * worker of this instance.
 *
 * @module
 */

import { MAX_WORKERS, sendSignal, SharedSegment, slotOfRole } from "../ipc/mod.ts";
import {
  injectEvent,
  type InstancePaths,
  RELOAD_SIGNAL,
  scaleBySignals,
  traceEvent,
  type WatchdogHandle,
  watchTraceEvents,
} from "../roles/mod.ts";
import { Feed } from "./feed.ts";
import { LOAD_MIXES, LoadControl, type LoadMix } from "./load.ts";
import { observerPage } from "./page.ts";

/** The signals a page may send. */
export const PAGE_SIGNALS = ["SIGKILL", "SIGSTOP", "SIGCONT", "SIGTERM"] as const;

/** Clients the built-in load may run, at most. */
export const MAX_LOAD_CLIENTS = 64;

/** What the observer watches, and where it listens. */
export interface ObserverOptions {
  /** The address to listen on (127.0.0.1 unless told otherwise). */
  hostname: string;
  /** The port (0: any free one). */
  port: number;
  /** The instance. */
  paths: InstancePaths;
  /** Its stage. */
  stage: string;
  /** Where its dispatcher listens (for the built-in load), once it does. */
  dispatcher: () => { host: string; port: number };
  /** The run's trace file ("" for none). */
  trace: string;
  /** The trace file's bound, bytes. */
  traceMaxBytes: number;
  /** The watchdog's heartbeat timeout, ms. */
  heartbeatTimeoutMs: number;
}

/** A running observer. */
export class Observer implements AsyncDisposable {
  /** The page's address, with its token: what to open. */
  readonly url: string;
  /** The token every POST needs. */
  readonly token: string;
  /** The watchdog it runs in, once every role is up; null before, and once it stops. */
  readonly #watchdog: { handle: WatchdogHandle | null };
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #feed: Feed;
  readonly #load: LoadControl;
  readonly #unwatch: Disposable;
  /** The instance stops: the load stops first, before the roles it loads do. */
  readonly #stopLoad = () => void this.#load.set(0, this.#load.state.mix);

  private constructor(
    server: Deno.HttpServer<Deno.NetAddr>,
    token: string,
    feed: Feed,
    load: LoadControl,
    unwatch: Disposable,
    watchdog: { handle: WatchdogHandle | null },
  ) {
    this.#watchdog = watchdog;
    this.#server = server;
    this.token = token;
    this.#feed = feed;
    this.#load = load;
    this.#unwatch = unwatch;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, this.#stopLoad);
    }
    const { hostname, port } = server.addr;
    // On every address: the page is printed at the loopback one (others reach it at theirs).
    const shown = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
    this.url = `http://${urlHost(shown)}:${port}/?token=${token}`;
  }

  /**
   * Starts serving, in the watchdog's process: its own events (`traceEvent`) go to the pages as
   * they happen. Throws if the address cannot be listened on.
   */
  static start(options: ObserverOptions): Observer {
    const token = randomToken();
    const watchdog: { handle: WatchdogHandle | null } = { handle: null };
    // Each refers to the other; neither calls the other before both exist.
    const feed: Feed = new Feed(
      () => watchdog.handle?.status() ?? null,
      {
        instance: options.paths.name,
        stage: options.stage,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs,
        mixes: LOAD_MIXES,
      },
      options.trace,
      () => load.state,
    );
    const load = new LoadControl(
      options.dispatcher,
      (second) => feed.loadSecond(second),
      options.trace === "" ? null : { path: options.trace, maxBytes: options.traceMaxBytes },
    );
    const unwatch = watchTraceEvents((e) => feed.event(e));
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        onListen: () => {},
      }, (request) => route(request, server.addr, token, options, feed, load, watchdog.handle));
    } catch (e) {
      unwatch[Symbol.dispose]();
      feed.close();
      throw e;
    }
    return new Observer(server, token, feed, load, unwatch, watchdog);
  }

  /**
   * The watchdog is up: the page's status and its signals go through it from now on (`handle`),
   * or, with null, no longer (it stops).
   */
  attach(handle: WatchdogHandle | null): void {
    this.#watchdog.handle = handle;
  }

  /** Stops the load, ends the pages' streams, stops serving. */
  async close(): Promise<void> {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, this.#stopLoad);
    }
    this.#unwatch[Symbol.dispose]();
    await this.#load.close();
    this.#feed.close();
    await this.#server.shutdown();
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** 32 random bytes, hex. */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A host as it goes in a URL (an IPv6 address in brackets). */
function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** Whether the observer listens on every address (0.0.0.0 or ::). */
function wildcard(addr: Deno.NetAddr): boolean {
  return addr.hostname === "0.0.0.0" || addr.hostname === "::";
}

/** An address literal and the port: `10.0.0.5:8222`, `[fe80::1]:8222` (no name to rebind). */
const ADDRESS_HOST = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):(\d+)$/;

/**
 * Whether a request's `Host` is this observer: its address, `localhost` on loopback, and, when it
 * listens on every address, any address literal with its port. A host name other than these is
 * refused: a page of another site whose name was made to point here (DNS rebinding) is not
 * answered.
 */
function isOwnHost(addr: Deno.NetAddr, host: string): boolean {
  if (host === `${urlHost(addr.hostname)}:${addr.port}`) return true;
  const loopback = addr.hostname === "127.0.0.1" || addr.hostname === "::1" || wildcard(addr);
  if (loopback && host === `localhost:${addr.port}`) return true;
  return wildcard(addr) && ADDRESS_HOST.exec(host)?.[1] === String(addr.port);
}

/** Equal strings, compared in a time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function refuse(status: number, error: string): Response {
  return json(status, { error });
}

async function route(
  request: Request,
  addr: Deno.NetAddr,
  token: string,
  options: ObserverOptions,
  feed: Feed,
  load: LoadControl,
  watchdog: WatchdogHandle | null,
): Promise<Response> {
  const host = request.headers.get("host") ?? "";
  if (!isOwnHost(addr, host)) {
    return refuse(
      421,
      `this observer answers to ${
        wildcard(addr)
          ? `this machine's addresses, port ${addr.port}`
          : `${urlHost(addr.hostname)}:${addr.port}`
      }`,
    );
  }
  const { pathname } = new URL(request.url);
  if (request.method === "GET") {
    if (pathname === "/") {
      return new Response(observerPage(), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          // Nothing but this page's own inline script and style; no framing by other sites.
          "content-security-policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
            "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        },
      });
    }
    if (pathname === "/favicon.ico") return new Response(null, { status: 204 });
    if (pathname === "/api/status") {
      const status = watchdog?.status() ?? null;
      return status === null ? refuse(503, "the instance is starting or stopping") : json(
        200,
        status,
      );
    }
    if (pathname === "/api/events") {
      return new Response(feed.subscribe(), {
        headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
      });
    }
    return refuse(404, `no such page: ${pathname}`);
  }
  if (request.method !== "POST") return refuse(405, `${request.method} is not served here`);
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== `http://${host}`) {
    return refuse(403, `requests from ${origin} are refused: only this page may act`);
  }
  const auth = request.headers.get("authorization") ?? "";
  if (!sameSecret(auth, `Bearer ${token}`)) {
    return refuse(403, "the instance's token is needed (Authorization: Bearer <token>)");
  }
  let body: Record<string, unknown>;
  try {
    body = await request.json();
    if (typeof body !== "object" || body === null) throw new TypeError("not an object");
  } catch (e) {
    if (!(e instanceof SyntaxError || e instanceof TypeError)) throw e;
    return refuse(400, "the body must be a JSON object");
  }
  if (watchdog === null) return refuse(503, "the instance is starting or stopping");
  const signalRoute = /^\/api\/roles\/([^/]+)\/signal$/.exec(pathname);
  if (signalRoute) return signalRole(decodeURIComponent(signalRoute[1]), body, watchdog);
  if (pathname === "/api/load") return await setLoad(body, load);
  if (pathname === "/api/scale") return scale(body, options);
  if (pathname === "/api/reload") {
    // The watchdog is this process: its own signal, handled in its loop like one from outside.
    sendSignal(Deno.pid, RELOAD_SIGNAL);
    return json(202, { reload: "started" });
  }
  return refuse(404, `no such action: ${pathname}`);
}

/** `{"workers": N}`: the watchdog (this process) is scaled to N workers, one signal at a time. */
function scale(body: Record<string, unknown>, options: ObserverOptions): Response {
  const workers = body.workers;
  if (!Number.isInteger(workers) || (workers as number) < 1 || (workers as number) > MAX_WORKERS) {
    return refuse(400, `workers must be a whole number from 1 to ${MAX_WORKERS}`);
  }
  const segment = SharedSegment.open(options.paths.segment, { readOnly: true });
  scaleBySignals(segment, workers as number, (s) => sendSignal(Deno.pid, s)).finally(() =>
    segment.close()
  );
  return json(202, { workers });
}

function signalRole(
  role: string,
  body: Record<string, unknown>,
  watchdog: WatchdogHandle,
): Response {
  const signal = body.signal;
  if (typeof signal !== "string" || !(PAGE_SIGNALS as readonly string[]).includes(signal)) {
    return refuse(400, `signal must be one of ${PAGE_SIGNALS.join(", ")}`);
  }
  if (role === "watchdog") {
    return refuse(400, "the watchdog serves this page: stop it with Ctrl-C where it runs");
  }
  if (slotOfRole(role) === null && role !== "standby") {
    return refuse(404, `no role ${JSON.stringify(role)} in this instance`);
  }
  // Through the watchdog's own handle on its child: never a pid read from the registry.
  const sent = watchdog.signal(role, signal as Deno.Signal);
  if ("refused" in sent) {
    return refuse(/^no role/.test(sent.refused) ? 404 : 409, sent.refused);
  }
  // To the trace, and through it to the pages' event log.
  traceEvent({
    event: injectEvent(signal as Deno.Signal),
    channel: "signal",
    peer: role,
    detail: `pid ${sent.pid}`,
  });
  return json(202, { role, signal, pid: sent.pid });
}

async function setLoad(body: Record<string, unknown>, load: LoadControl): Promise<Response> {
  const clients = body.clients;
  if (
    !Number.isInteger(clients) || (clients as number) < 0 || (clients as number) > MAX_LOAD_CLIENTS
  ) {
    return refuse(400, `clients must be a whole number from 0 to ${MAX_LOAD_CLIENTS}`);
  }
  const mix = body.mix ?? load.state.mix;
  if (typeof mix !== "string" || !(LOAD_MIXES as readonly string[]).includes(mix)) {
    return refuse(400, `mix must be one of ${LOAD_MIXES.join(", ")}`);
  }
  return json(202, await load.set(clients as number, mix as LoadMix));
}
