/**
 * The observer's built-in load, a process of its own (its CPU is not the watchdog's): N clients,
 * each on one dispatcher connection, following the stage's flow (`OspsClient`: REDIRECT,
 * WAIT/READY), sending the mix's requests one after the other and checking every answer; a client
 * that loses its connection (a role killed under it) connects again. Every second it prints one
 * JSON line, a {@link LoadSecond}; it stops on SIGTERM or when its stdin closes.
 *
 * Usage: `load_child.ts --port P [--host H] --clients N [--mix mixed|echo|primes]
 * [--trace FILE --trace-max-bytes N]`: with a trace, its clients (`client 1`…) trace into it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  answerLine,
  ClientError,
  intOption,
  optionValue,
  OspsClient,
  quantile,
  setupLogging,
  UsageError,
} from "../roles/mod.ts";
import { expectedAnswer } from "../scenarios/mod.ts";
import { LOAD_MIXES, type LoadMix, loadRequest, type LoadSecond } from "./load.ts";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      clients: { type: "string" },
      mix: { type: "string", default: "mixed" },
      trace: { type: "string" },
      "trace-max-bytes": { type: "string" },
    },
  });
  if (values.trace !== undefined) {
    setupLogging("error", {
      path: values.trace,
      role: "load",
      maxBytes: optionValue("traceMaxBytes", values["trace-max-bytes"]),
    });
  }
  const port = intOption("port", values.port, undefined, 1, 65535);
  const clients = intOption("clients", values.clients, undefined, 1, 256);
  if (!(LOAD_MIXES as readonly string[]).includes(values.mix)) {
    throw new UsageError(`--mix must be one of ${LOAD_MIXES.join(", ")}`);
  }
  const mix = values.mix as LoadMix;
  let running = true;
  let second: LoadSecond = { answered: 0, wrong: 0, failed: 0, p50Ms: 0, p99Ms: 0 };
  let latencies: number[] = [];

  const client = async (c: number): Promise<void> => {
    let session: OspsClient | null = null;
    for (let i = 0; running; i++) {
      const line = loadRequest(mix, c, i);
      const t = performance.now();
      try {
        session ??= await OspsClient.connect({
          host: values.host,
          port,
          name: `client ${c}`,
          retries: 8,
          backoffMs: 25,
        });
        const got = answerLine(await session.request(line));
        if (got === expectedAnswer(line)) {
          second.answered++;
          latencies.push(performance.now() - t);
        } else {
          second.wrong++;
        }
      } catch (e) {
        // No answer could be had (ClientError): a failed request, counted; anything else is a bug.
        if (!(e instanceof ClientError)) throw e;
        second.failed++;
        await session?.close();
        session = null;
      }
    }
    await session?.close();
  };

  const report = setInterval(() => {
    latencies.sort((a, b) => a - b);
    const p50Ms = quantile(latencies, 0.5), p99Ms = quantile(latencies, 0.99);
    console.log(JSON.stringify({ ...second, p50Ms, p99Ms }));
    second = { answered: 0, wrong: 0, failed: 0, p50Ms: 0, p99Ms: 0 };
    latencies = [];
  }, 1000);
  // Requests in flight may wait long on a frozen role: the load stops within a second regardless.
  const stop = () => {
    running = false;
    setTimeout(() => Deno.exit(0), 1000);
  };
  Deno.addSignalListener("SIGTERM", stop);
  // The observer gone (its end of our stdin closed): stop too.
  (async () => {
    for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
    stop();
  })();
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i + 1)));
  clearInterval(report);
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.exit(0);
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`load: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
