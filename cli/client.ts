/**
 * `main.ts client`: sends requests to a running system and prints the answers.
 *
 * @module
 */

import { ClientError, type ClientResult, OspsClient } from "../roles/client.ts";
import { closeQuietly, quantile, TcpLineReader, writeLine } from "../roles/mod.ts";
import { type Command, intOption, parse, UsageError, usageShown } from "./common.ts";

const USAGE = `Usage: deno task client <type> [payload...] [options]

Sends the request "<type> <payload>" to the dispatcher and prints the answer: the result for OK,
the error line for ERR. "client QUIT" sends QUIT, which ends a connection (it has no answer),
and says whether the dispatcher closed it. Works with every stage (follows REDIRECT; announces LISTEN and accepts the
worker's READY call in worker-calls-client). A lost connection is retried with growing delays.

Examples:
  deno task client requetetype1 hello world
  deno task client requetetype2 1000000 --repeat 100 --concurrency 4

Options:
  --host H           dispatcher address (default 127.0.0.1)
  --port P           dispatcher port (default 2222)
  --repeat N         requests per connection (default 1)
  --concurrency C    parallel connections (default 1)
  --retries R        reconnections per request after a lost connection (default 5)
Exit status: 0 if every answer was OK, 1 if any was ERR or missing.`;

/** `main.ts client`. */
export const clientCommand: Command = {
  summary: "send requests to a running system",
  usage: USAGE,
  run: async (args) => {
    const { values, positionals } = parse(args, {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      repeat: { type: "string" },
      concurrency: { type: "string" },
      retries: { type: "string" },
    }, true);
    if (values.help) return usageShown(USAGE);
    if (positionals.length === 0) {
      throw new UsageError("give a request type, e.g. requetetype1 hello");
    }
    const line = positionals.join(" ");
    if (line === "QUIT") {
      return await quit(values.host, intOption("port", values.port, 2222, 1, 65535));
    }
    const repeat = intOption("repeat", values.repeat, 1, 1, 1_000_000);
    const concurrency = intOption("concurrency", values.concurrency, 1, 1, 1000);
    const options = {
      host: values.host,
      port: intOption("port", values.port, 2222, 1, 65535),
      retries: intOption("retries", values.retries, 5, 0, 100),
    };
    const total = repeat * concurrency;
    const results: ClientResult[] = [];
    const latencies: number[] = [];
    let failures = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      try {
        await using client = await OspsClient.connect(options);
        for (let i = 0; i < repeat; i++) {
          const t = performance.now();
          const r = await client.request(line);
          latencies.push(performance.now() - t);
          results.push(r);
          if (total <= 10) {
            console.log(r.ok ? r.result : `ERR ${r.code}${r.message ? ` ${r.message}` : ""}`);
          }
        }
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable) {
          throw new UsageError(
            `not allowed to reach ${options.host}: the task allows 127.0.0.1 and localhost; ` +
              `run main.ts with --allow-net=${options.host} to reach another host`,
          );
        }
        if (!(e instanceof ClientError)) throw e;
        failures++;
        console.error(`error: ${e.message}`);
      }
    }));
    const errors = results.filter((r) => !r.ok);
    if (total > 1) {
      latencies.sort((a, b) => a - b);
      const p = (q: number) => quantile(latencies, q);
      const codes: Record<string, number> = {};
      for (const r of errors) if (!r.ok) codes[r.code] = (codes[r.code] ?? 0) + 1;
      const byCode = Object.entries(codes).map(([code, n]) => `${code} ${n}`).join(", ");
      console.log(
        `${results.length} answers of ${total}: ${results.length - errors.length} OK, ` +
          `${errors.length} ERR${byCode ? ` (${byCode})` : ""}; ` +
          `latency p50 ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms`,
      );
    }
    return errors.length === 0 && failures === 0 && results.length === total ? 0 : 1;
  },
};

/**
 * `client QUIT`: QUIT is no request (it has no answer): it ends the connection. Sends it and
 * waits (5 s at most) for the dispatcher to close.
 */
async function quit(host: string, port: number): Promise<number> {
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ hostname: host, port });
  } catch (e) {
    console.error(`error: cannot reach the dispatcher at ${host}:${port}: ${(e as Error).message}`);
    return 1;
  }
  try {
    await writeLine(conn, "QUIT");
    const read = await new TcpLineReader(conn).next(5000);
    if (read.kind === "eof") {
      console.log(`sent QUIT; the dispatcher at ${host}:${port} closed the connection`);
      return 0;
    }
    const what = read.kind === "line"
      ? JSON.stringify(new TextDecoder().decode(read.bytes))
      : read.kind;
    console.error(`error: the dispatcher did not close the connection after QUIT (${what})`);
    return 1;
  } finally {
    closeQuietly(conn);
  }
}
