/**
 * The load generator of `deno task check`, a process of its own so that its CPU is never counted
 * as the system's. Its clients each hold one dispatcher connection and follow the stage's flow
 * (`OspsClient`: REDIRECT, LISTEN then WAIT/READY); every answer is checked against the right one
 * (each echo is tagged with its client and number, so that a crossed reply is caught; each prime
 * count is computed).
 *
 * Usage: `load_gen.ts --port P --stage S [--clients N] [--warmup W] [--requests R] [--mix M]
 * [--timeout MS]`
 *
 * It writes JSON lines on stdout: `{"warm":true}` once every client has sent its W warm-up
 * requests; then, after a line on stdin, the measured requests: `{"tick":…}` every 100 ms (a
 * {@link LoadTick}), `{"bad":…}` for each request that did not get its right answer (the first
 * 100, a {@link BadRequest}), and `{"done":…}` (a {@link LoadSummary}) once each client has sent R
 * requests, or, with R = 0, once a second line on stdin (or its end) has stopped the clients.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  answerLine,
  ClientError,
  OspsClient,
  quantile,
  type Stage,
  stageOption,
} from "../roles/mod.ts";
import { expectedAnswer } from "../scenarios/mod.ts";

/** Requests per 100 ms of the measured load. */
export interface LoadTick {
  /** The end of the 100 ms, ms since the epoch. */
  tick: number;
  /** Requests answered right in it. */
  right: number;
  /** Requests that got another answer, an ERR or none (counted when they were sent). */
  bad: number;
  /** Median latency of its right answers, ms (0 if none). */
  p50: number;
  /** Their 99th percentile, ms. */
  p99: number;
  /** When its first right answer came, ms since the epoch (0 if none). */
  first: number;
  /** When its last one came. */
  last: number;
}

/** A request that did not get its right answer. */
export interface BadRequest {
  /** When it was sent, ms since the epoch. */
  t: number;
  /** The client, from 1. */
  client: number;
  /** The line sent. */
  line: string;
  /** What came back, or why nothing did. */
  got: string;
  /** `wrong`: another answer; `error`: an ERR line; `lost`: no answer. */
  kind: "wrong" | "error" | "lost";
}

/** The measured requests taken together. */
export interface LoadSummary {
  /** Requests sent (after the warm-up). */
  requests: number;
  /** Answered with exactly their own right answer. */
  right: number;
  /** Answered with something else that is not an ERR line. */
  wrong: number;
  /** Answered with an ERR line. */
  errors: number;
  /** Never answered (no reply in time, or the connection kept failing). */
  lost: number;
  /** Latency of the right answers, ms. */
  p50Ms: number;
  /** Their 99th percentile, ms. */
  p99Ms: number;
  /** The slowest, ms. */
  maxMs: number;
  /** When the measured requests began and ended, ms since the epoch. */
  startedAt: number;
  /** When the last answer came. */
  endedAt: number;
}

/** The mixes of requests. */
export type LoadMix = "mixed" | "echo";

/** A client's line `i`: `mixed` alternates tagged echoes and prime counts of n near 20000. */
export function checkRequest(mix: LoadMix, c: number, i: number): string {
  return mix === "mixed" && i % 2 === 1
    ? `requetetype2 ${20000 + (c * 31 + i) % 97}`
    : `requetetype1 c${c} r${i} check`;
}

/** ms since the epoch, to the µs: one clock for the checker and its load generators. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      stage: { type: "string" },
      clients: { type: "string", default: "8" },
      warmup: { type: "string", default: "0" },
      requests: { type: "string", default: "0" },
      mix: { type: "string", default: "mixed" },
      timeout: { type: "string", default: "5000" },
    },
  });
  const [port, clients, warmup, requests, timeoutMs] = [
    values.port,
    values.clients,
    values.warmup,
    values.requests,
    values.timeout,
  ].map(Number);
  const stage: Stage = stageOption(values.stage ?? "");
  const mix: LoadMix = values.mix === "echo" ? "echo" : "mixed";
  const out = (o: unknown) => console.log(JSON.stringify(o));
  const expected = new Map<string, string>();
  const answerOf = (line: string) => {
    let a = expected.get(line);
    if (a === undefined) expected.set(line, a = expectedAnswer(line));
    return a;
  };

  let warmed = 0;
  const allWarm = Promise.withResolvers<void>();
  const go = Promise.withResolvers<void>();
  let running = true;
  let bucket = { right: 0, bad: 0, latencies: [] as number[], first: 0, last: 0 };
  const all: number[] = [];
  const summary: LoadSummary = {
    requests: 0,
    right: 0,
    wrong: 0,
    errors: 0,
    lost: 0,
    p50Ms: 0,
    p99Ms: 0,
    maxMs: 0,
    startedAt: 0,
    endedAt: 0,
  };
  let badShown = 0;

  async function client(c: number): Promise<void> {
    let conn: OspsClient | null = null;
    for (let i = -warmup; requests === 0 ? running : i < requests; i++) {
      if (i === 0) {
        if (++warmed === clients) allWarm.resolve();
        await go.promise;
        if (!running) break;
      }
      const line = checkRequest(mix, c, i);
      const t = epochMs();
      let got: string;
      let kind: BadRequest["kind"] | "right";
      try {
        conn ??= await OspsClient.connect({
          port,
          stage,
          retries: 6,
          timeoutMs,
          readyTimeoutMs: Math.min(3000, timeoutMs),
          name: `check client ${c}`,
        });
        got = answerLine(await conn.request(line));
        kind = got === answerOf(line) ? "right" : got.startsWith("ERR ") ? "error" : "wrong";
      } catch (e) {
        if (!(e instanceof ClientError) && !(e instanceof Deno.errors.ConnectionRefused)) throw e;
        got = `no answer: ${e.message}`;
        kind = "lost";
        await conn?.close();
        conn = null;
      }
      if (i < 0) continue;
      const latency = epochMs() - t;
      summary.requests++;
      if (kind === "right") {
        summary.right++;
        bucket.right++;
        bucket.first ||= t + latency;
        bucket.last = t + latency;
        bucket.latencies.push(latency);
        all.push(latency);
        continue;
      }
      summary[kind === "error" ? "errors" : kind]++;
      bucket.bad++;
      if (badShown++ < 100) out({ bad: { t, client: c, line, got, kind } satisfies BadRequest });
    }
    await conn?.close().catch(() => {});
  }

  const done = Promise.all(Array.from({ length: clients }, (_, i) => client(i + 1)));
  await Promise.race([allWarm.promise, done]);
  out({ warm: true });
  const stdin = Deno.stdin.readable.getReader();
  await stdin.read();
  summary.startedAt = epochMs();
  const ticker = setInterval(() => {
    const l = bucket.latencies.sort((a, b) => a - b);
    out(
      {
        tick: epochMs(),
        right: bucket.right,
        bad: bucket.bad,
        p50: quantile(l, 0.5),
        p99: quantile(l, 0.99),
        first: bucket.first,
        last: bucket.last,
      } satisfies LoadTick,
    );
    bucket = { right: 0, bad: 0, latencies: [], first: 0, last: 0 };
  }, 100);
  go.resolve();
  if (requests === 0) {
    await stdin.read();
    running = false;
  }
  await done;
  clearInterval(ticker);
  summary.endedAt = epochMs();
  all.sort((a, b) => a - b);
  summary.p50Ms = quantile(all, 0.5);
  summary.p99Ms = quantile(all, 0.99);
  summary.maxMs = all.at(-1) ?? 0;
  out({ done: summary });
}

if (import.meta.main) await main();
