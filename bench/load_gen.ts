/**
 * The load generator of `bench stages`, a process of its own so that its CPU is never counted as
 * the system's. Its clients each hold one dispatcher connection and follow the stage's flow
 * (`OspsClient`: REDIRECT, WAIT/READY); every answer is checked.
 *
 * Usage: `load_gen.ts --port P [--host H] --clients N --requests R [--warmup W] [--mix M]`
 *
 * Each client sends W warm-up requests, then the generator prints `warm` and waits for a line on
 * stdin (the bench samples the system's CPU meanwhile), then each client sends R requests and the
 * generator prints one JSON line, a {@link LoadGenReport}. Mix `mixed` (default): half
 * `requetetype1 <text>`, half `requetetype2 20000`; `echo`: `requetetype1 <text>` only.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { OspsClient } from "../roles/mod.ts";
import { answerLine } from "../roles/mod.ts";
import { expectedAnswer } from "../scenarios/mod.ts";

/** What the measured requests gave. */
export interface LoadGenReport {
  /** Requests sent (after the warm-up). */
  requests: number;
  /** Answered with exactly their own right answer. */
  right: number;
  /** The first few that were not, with what came back. */
  wrong: string[];
  /** Every right answer's latency, ms, sorted. */
  latenciesMs: number[];
  /** From the go to the last answer, ms. */
  wallMs: number;
}

/** The request line `i` of client `c` for a mix. */
export function loadRequest(mix: "mixed" | "echo", c: number, i: number): string {
  return mix === "mixed" && i % 2 === 1 ? "requetetype2 20000" : `requetetype1 c${c} r${i}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      clients: { type: "string", default: "8" },
      requests: { type: "string", default: "400" },
      warmup: { type: "string", default: "0" },
      mix: { type: "string", default: "mixed" },
    },
  });
  const [port, clients, requests, warmup] = [
    values.port,
    values.clients,
    values.requests,
    values.warmup,
  ]
    .map(Number);
  const mix = values.mix === "echo" ? "echo" : "mixed";
  let warmed = 0;
  let go!: () => void;
  const started = new Promise<void>((resolve) => go = resolve);
  const allWarm = Promise.withResolvers<void>();
  const report: LoadGenReport = { requests: 0, right: 0, wrong: [], latenciesMs: [], wallMs: 0 };

  async function client(c: number): Promise<void> {
    await using client = await OspsClient.connect({ host: values.host, port, retries: 2 });
    for (let i = -warmup; i < requests; i++) {
      if (i === 0) {
        if (++warmed === clients) allWarm.resolve();
        await started;
      }
      const line = loadRequest(mix, c, i);
      const t = performance.now();
      let got: string;
      try {
        got = answerLine(await client.request(line));
      } catch (e) {
        got = `no answer: ${e instanceof Error ? e.message : e}`;
      }
      if (i < 0) continue;
      report.requests++;
      if (got === expectedAnswer(line)) {
        report.right++;
        report.latenciesMs.push(performance.now() - t);
      } else if (report.wrong.length < 5) {
        report.wrong.push(`${line} → ${got}`);
      }
    }
  }

  const running = Promise.all(Array.from({ length: clients }, (_, i) => client(i + 1)));
  await Promise.race([allWarm.promise, running]);
  console.log("warm");
  const stdin = Deno.stdin.readable.getReader();
  await stdin.read();
  stdin.releaseLock();
  const t0 = performance.now();
  go();
  await running;
  report.wallMs = performance.now() - t0;
  report.latenciesMs.sort((a, b) => a - b);
  console.log(JSON.stringify(report));
}

if (import.meta.main) await main();
