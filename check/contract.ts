/**
 * The contract checks: docs/protocol.md, black box, over TCP. Each check opens its own
 * connections, bounds every wait, and keeps what was sent and what came back. The stage's own
 * flow is followed where a request is answered: `REDIRECT <host> <port>` then the same line to
 * that worker (client-calls-worker); `LISTEN <port>` first, then `WAIT <token>` and the worker's
 * `READY <token>` call on that port (worker-calls-client).
 *
 * @module
 */

import { expectedAnswer } from "../scenarios/mod.ts";
import { type Stage, withTimeout } from "../roles/mod.ts";
import { type CheckResult, verdictOf } from "./verdict.ts";
import { type NoLine, shownBytes, Wire } from "./wire.ts";

/** Where the system under check listens, and how many workers it was told to run. */
export interface ContractTarget {
  /** The dispatcher's address (127.0.0.1). */
  host: string;
  /** The dispatcher's port. */
  port: number;
  /** The stage. */
  stage: Stage;
  /** Workers it runs. */
  workers: number;
}

/** The READY calls of worker-calls-client: a listener, the calls kept by their token. */
class Calls {
  readonly #listener: Deno.Listener;
  readonly #came = new Map<string, Wire>();
  readonly #waiting = new Map<string, (w: Wire) => void>();
  readonly #log: string[];

  constructor(log: string[]) {
    this.#log = log;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accept();
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const wire = Wire.accepted(conn, "worker calling", this.#log);
        wire.line(5000).then((first) => {
          const token = /^READY (\S+)$/.exec(typeof first === "string" ? first : "")?.[1];
          if (token === undefined) return wire.close();
          const waiter = this.#waiting.get(token);
          if (waiter) waiter(wire);
          else this.#came.set(token, wire);
        });
      }
    } catch (e) {
      // Closed.
      if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)) throw e;
    }
  }

  /** The call for `token`, once it comes (at most `timeoutMs`), or null. */
  async take(token: string, timeoutMs: number): Promise<Wire | null> {
    const came = this.#came.get(token);
    if (came) {
      this.#came.delete(token);
      return came;
    }
    const { promise, resolve } = Promise.withResolvers<Wire>();
    this.#waiting.set(token, resolve);
    const got = await withTimeout(promise, timeoutMs);
    this.#waiting.delete(token);
    if (got === null) {
      this.#log.push(`< worker calling: (no READY ${token} within ${timeoutMs} ms)`);
    }
    return got;
  }

  close(): void {
    this.#listener.close();
    for (const w of this.#came.values()) w.close();
  }
}

/** One check's means: its transcript, its connections, the calls it receives. */
class Session {
  readonly log: string[] = [];
  readonly #wires: Wire[] = [];
  #calls: Calls | null = null;
  readonly target: ContractTarget;

  constructor(target: ContractTarget) {
    this.target = target;
  }

  get calls(): Calls {
    return this.#calls ??= new Calls(this.log);
  }

  /** A new dispatcher connection; in worker-calls-client it has announced its LISTEN port. */
  async dispatcher(listen = true): Promise<Wire> {
    const w = await Wire.open(this.target.host, this.target.port, "dispatcher", this.log);
    this.#wires.push(w);
    if (listen && this.target.stage === "worker-calls-client") {
      await w.sendLine(`LISTEN ${this.calls.port}`);
      const ok = await w.line();
      if (ok !== "OK") {
        throw new ContractBroken(`LISTEN ${this.calls.port} was answered ${show(ok)}`);
      }
    }
    return w;
  }

  /** A connection to a worker a REDIRECT named. */
  async worker(host: string, port: number): Promise<Wire> {
    const w = await Wire.open(host, port, `worker ${host}:${port}`, this.log);
    this.#wires.push(w);
    return w;
  }

  /**
   * Follows the stage's flow from the dispatcher's `reply` to `line`: a REDIRECT to its worker, a
   * WAIT to the worker's call; returns the answer (or the reply itself, if it is no hand-over).
   */
  async follow(line: string, reply: string | NoLine): Promise<string | NoLine> {
    if (typeof reply !== "string") return reply;
    const redirect = redirectOf(reply);
    if (this.target.stage === "client-calls-worker" && redirect) {
      const w = await this.worker(redirect.host, redirect.port);
      await w.sendLine(line);
      return await w.line();
    }
    const wait = /^WAIT (\S+)$/.exec(reply);
    if (this.target.stage === "worker-calls-client" && wait) {
      const call = await this.calls.take(wait[1], 5000);
      if (call === null) return "silent";
      this.#wires.push(call);
      await call.sendLine(line);
      return await call.line();
    }
    return reply;
  }

  /** Sends `line` on `d` and returns its answer, the stage's flow followed. */
  async ask(d: Wire, line: string, timeoutMs = 5000): Promise<string | NoLine> {
    await d.sendLine(line);
    return await this.follow(line, await d.line(timeoutMs));
  }

  close(): void {
    for (const w of this.#wires) w.close();
    this.#calls?.close();
  }
}

/** The system broke the contract in a way that stops the check there. */
class ContractBroken extends Error {}

function show(got: string | NoLine): string {
  return got === "closed"
    ? "a close"
    : got === "silent"
    ? "nothing"
    : JSON.stringify(shownBytes(new TextEncoder().encode(got)));
}

/** What a check found: whether it passed, and why in one line. */
type Found = { ok: boolean; detail: string };

/** `got` is `want` exactly. */
function exactly(got: string | NoLine, want: string): Found {
  return got === want
    ? { ok: true, detail: show(got) }
    : { ok: false, detail: `expected ${show(want)}, got ${show(got)}` };
}

/** `got` is an ERR line with `code`. */
function errCode(got: string | NoLine, code: string): Found {
  const ok = typeof got === "string" && (got === `ERR ${code}` || got.startsWith(`ERR ${code} `));
  return ok
    ? { ok, detail: show(got) }
    : { ok, detail: `expected ERR ${code} …, got ${show(got)}` };
}

/** The worker a REDIRECT line names, or null if `reply` is none. */
function redirectOf(reply: string | NoLine): { host: string; port: number } | null {
  const m = /^REDIRECT (\S+) (\d+)$/.exec(typeof reply === "string" ? reply : "");
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

/** Sends `line` on `d`: the worker its REDIRECT names, or why the reply was no REDIRECT. */
async function redirectFor(
  d: Wire,
  line: string,
): Promise<{ host: string; port: number } | Found> {
  await d.sendLine(line);
  const reply = await d.line();
  return redirectOf(reply) ??
    { ok: false, detail: `expected REDIRECT <host> <port>, got ${show(reply)}` };
}

/** All found right, or the first that was not. */
function all(found: Found[]): Found {
  return found.find((f) => !f.ok) ?? { ok: true, detail: found.map((f) => f.detail).join("; ") };
}

/** A contract check: its name, the stages it applies to (all if none), and what it does. */
interface ContractCheck {
  name: string;
  stages?: Stage[];
  run: (s: Session) => Promise<Found>;
}

const LIMIT = 4096;

/** `requetetype1 ` and a payload making a line of `bytes` bytes with its LF. */
function lineOf(bytes: number): string {
  const head = "requetetype1 ";
  return head + "x".repeat(bytes - head.length - 1);
}

/** Asks each line on one connection; each must get its right answer. */
async function rightAnswers(s: Session, lines: string[]): Promise<Found> {
  const d = await s.dispatcher();
  const found: Found[] = [];
  for (const line of lines) found.push(exactly(await s.ask(d, line), expectedAnswer(line)));
  return all(found);
}

/** Asks each line on its own connection; each must get ERR `code`, and the connection stay open. */
async function errors(s: Session, lines: string[], code: string): Promise<Found> {
  const found: Found[] = [];
  for (const line of lines) {
    const d = await s.dispatcher();
    found.push(errCode(await s.ask(d, line), code));
  }
  return all(found);
}

/** The contract checks, in the order they run. */
const CHECKS: ContractCheck[] = [
  {
    name: "echo",
    run: (s) => rightAnswers(s, ["requetetype1 hello", "requetetype1 é ü 漢字"]),
  },
  {
    name: "prime counts",
    run: (s) =>
      rightAnswers(s, [
        "requetetype2 100000",
        "requetetype2 0",
        "requetetype2 1",
        "requetetype2 2",
        "requetetype2 0010",
      ]),
  },
  { name: "empty echo", run: (s) => rightAnswers(s, ["requetetype1", "requetetype1 "]) },
  {
    name: "echo keeps every space",
    run: (s) => rightAnswers(s, ["requetetype1  two  spaces ", "requetetype1 a\tb"]),
  },
  {
    name: "a bad n",
    run: (s) =>
      errors(s, [
        "requetetype2 abc",
        "requetetype2 -5",
        "requetetype2 10000001",
        "requetetype2 1 2",
        "requetetype2",
      ], "bad-argument"),
  },
  {
    name: "an unknown request type",
    run: (s) => errors(s, ["hello", "", "REQUETETYPE1 x"], "unknown-request"),
  },
  {
    name: "an ERR leaves the connection open",
    run: async (s) => {
      const d = await s.dispatcher();
      return all([
        errCode(await s.ask(d, "hello"), "unknown-request"),
        exactly(await s.ask(d, "requetetype1 after"), "OK after"),
      ]);
    },
  },
  {
    name: `a ${LIMIT}-byte line (the limit, LF included)`,
    run: async (s) => {
      const line = lineOf(LIMIT);
      return exactly(await s.ask(await s.dispatcher(), line), expectedAnswer(line));
    },
  },
  {
    name: `a ${LIMIT + 1}-byte line: ERR line-too-long, then a close`,
    run: async (s) => {
      const d = await s.dispatcher();
      const got = errCode(await s.ask(d, lineOf(LIMIT + 1)), "line-too-long");
      if (!got.ok) return got;
      return (await d.closes(2000)) ? got : { ok: false, detail: "the connection stayed open" };
    },
  },
  {
    name: "an endless line (1 MiB, no LF)",
    run: async (s) => {
      const d = await s.dispatcher();
      const reply = d.line(5000);
      const chunk = new TextEncoder().encode("requetetype1 " + "y".repeat(65536 - 13));
      for (let sent = 0; sent < 1 << 20; sent += chunk.length) {
        if (!await d.send(chunk)) break;
      }
      return errCode(await reply, "line-too-long");
    },
  },
  {
    name: "bytes that are not UTF-8",
    run: async (s) => {
      const d = await s.dispatcher();
      await d.send(
        new Uint8Array([...new TextEncoder().encode("requetetype1 "), 0xff, 0xfe, 0x0a]),
      );
      return all([
        errCode(await d.line(), "bad-argument"),
        exactly(await s.ask(d, "requetetype1 still open"), "OK still open"),
      ]);
    },
  },
  {
    name: "CR LF",
    run: async (s) => {
      const d = await s.dispatcher();
      await d.send("requetetype1 crlf\r\n");
      return exactly(await s.follow("requetetype1 crlf", await d.line()), "OK crlf");
    },
  },
  {
    name: "lines sent before their answers",
    run: async (s) => {
      const d = await s.dispatcher();
      const lines = ["requetetype1 first", "requetetype2 10", "requetetype1 third"];
      await d.send(lines.map((l) => `${l}\n`).join(""));
      const found: Found[] = [];
      for (const line of lines) {
        found.push(exactly(await s.follow(line, await d.line()), expectedAnswer(line)));
      }
      return all(found);
    },
  },
  {
    name: "a last line ended by the client's half-close",
    run: async (s) => {
      const d = await s.dispatcher();
      await d.send("requetetype1 last");
      await d.closeWrite();
      return exactly(await s.follow("requetetype1 last", await d.line()), "OK last");
    },
  },
  {
    name: "QUIT: a close, no reply",
    run: async (s) => {
      const d = await s.dispatcher();
      await d.sendLine("QUIT");
      const got = await d.line(2000);
      return got === "closed"
        ? { ok: true, detail: "closed" }
        : { ok: false, detail: `expected a close within 2 s, got ${show(got)}` };
    },
  },
  {
    name: "LISTEN outside worker-calls-client",
    stages: ["relay", "client-calls-worker"],
    run: async (s) => errCode(await s.ask(await s.dispatcher(), "LISTEN 5000"), "unknown-request"),
  },
  {
    name: "REDIRECT, then the worker answers and closes",
    stages: ["client-calls-worker"],
    run: async (s) => {
      const r = await redirectFor(await s.dispatcher(), "requetetype1 redirected");
      if ("ok" in r) return r;
      if (r.port === s.target.port || r.port > 65535) {
        return { ok: false, detail: `REDIRECT names port ${r.port}: not a worker's` };
      }
      const w = await s.worker(r.host, r.port);
      await w.sendLine("requetetype1 redirected");
      const got = exactly(await w.line(), "OK redirected");
      if (!got.ok) return got;
      return (await w.closes(2000))
        ? { ok: true, detail: `REDIRECT ${r.host} ${r.port}; the worker answered and closed` }
        : { ok: false, detail: "the worker did not close after its answer" };
    },
  },
  {
    name: "a line at a worker that is not the reserved one",
    stages: ["client-calls-worker"],
    run: async (s) => {
      const r = await redirectFor(await s.dispatcher(), "requetetype1 mine");
      if ("ok" in r) return r;
      const wrong = await s.worker(r.host, r.port);
      await wrong.sendLine("requetetype1 not mine");
      const refused = errCode(await wrong.line(), "unavailable");
      const right = await s.worker(r.host, r.port);
      await right.sendLine("requetetype1 mine");
      return all([refused, exactly(await right.line(), "OK mine")]);
    },
  },
  {
    name: "reservations never collected",
    stages: ["client-calls-worker"],
    run: async (s) => {
      // Reserve until a request is not redirected at once: every worker is held.
      for (let i = 0; i <= s.target.workers + 1; i++) {
        const d = await s.dispatcher();
        await d.sendLine(`requetetype1 held ${i}`);
        const t = performance.now();
        const reply = await d.line(1500);
        if (typeof reply === "string" && reply.startsWith("REDIRECT ")) continue;
        if (reply !== "silent") {
          return { ok: false, detail: `expected REDIRECT, got ${show(reply)}` };
        }
        const later = await d.line(15_000);
        const got = exactly(await s.follow(`requetetype1 held ${i}`, later), `OK held ${i}`);
        const waited = ((performance.now() - t) / 1000).toFixed(1);
        return got.ok
          ? {
            ok: true,
            detail: `${i} left uncollected; the next was redirected ${waited} s later, answered`,
          }
          : { ok: false, detail: `${i} left uncollected; then ${got.detail} (after ${waited} s)` };
      }
      const d = await s.dispatcher();
      return exactly(await s.ask(d, "requetetype1 after"), "OK after");
    },
  },
  {
    name: "a request before LISTEN",
    stages: ["worker-calls-client"],
    run: async (s) =>
      errCode(await s.ask(await s.dispatcher(false), "requetetype1 x"), "bad-argument"),
  },
  {
    name: "LISTEN: OK, and a bad port refused",
    stages: ["worker-calls-client"],
    run: async (s) => {
      const d = await s.dispatcher(false);
      return all([
        exactly(await s.ask(d, `LISTEN ${s.calls.port}`), "OK"),
        errCode(await s.ask(d, "LISTEN 0"), "bad-argument"),
        errCode(await s.ask(d, "LISTEN port"), "bad-argument"),
      ]);
    },
  },
  {
    name: "WAIT, then the worker calls with READY",
    stages: ["worker-calls-client"],
    run: async (s) => {
      const d = await s.dispatcher();
      await d.sendLine("requetetype1 called");
      const reply = await d.line();
      const m = /^WAIT ([A-Za-z0-9]{1,32})$/.exec(typeof reply === "string" ? reply : "");
      if (!m) return { ok: false, detail: `expected WAIT <token>, got ${show(reply)}` };
      const call = await s.calls.take(m[1], 5000);
      if (call === null) return { ok: false, detail: `no READY ${m[1]} call within 5 s` };
      await call.sendLine("requetetype1 called");
      const got = exactly(await call.line(), "OK called");
      return got.ok ? { ok: true, detail: `${reply}; READY ${m[1]}; OK called` } : got;
    },
  },
  {
    name: "a LISTEN port that refuses",
    stages: ["worker-calls-client"],
    run: async (s) => {
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (closed.addr as Deno.NetAddr).port;
      closed.close();
      const d = await s.dispatcher(false);
      const found = [exactly(await s.ask(d, `LISTEN ${port}`), "OK")];
      for (let i = 0; i <= s.target.workers; i++) {
        await d.sendLine(`requetetype1 unreachable ${i}`);
        const reply = await d.line(12_000);
        found.push(
          typeof reply === "string" && reply.startsWith("WAIT ")
            ? { ok: true, detail: reply }
            : { ok: false, detail: `expected WAIT, got ${show(reply)}` },
        );
      }
      const other = await s.dispatcher();
      found.push(exactly(await s.ask(other, "requetetype1 reachable", 12_000), "OK reachable"));
      return all(found);
    },
  },
];

/** Runs every contract check of the target's stage, one after the other. */
export async function runContract(target: ContractTarget): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of CHECKS) {
    if (check.stages && !check.stages.includes(target.stage)) continue;
    const s = new Session(target);
    let found: Found;
    try {
      found = await check.run(s);
    } catch (e) {
      found = { ok: false, detail: e instanceof Error ? e.message : String(e) };
    } finally {
      s.close();
    }
    results.push(verdictOf("contract", check.name, found.ok, found.detail, s.log));
  }
  return results;
}
