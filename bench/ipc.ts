/**
 * `bench ipc`: named-pipe round-trip latency between this process and an echo child, for the
 * toolkit's async receive path and for a blocking `readSync` baseline, in the same run. The methods
 * alternate over several rounds so that where the scheduler puts the two processes (same vCPU or
 * not, which moves latency 2-5x) affects both alike. Only the receive path differs: the same
 * FifoWriter sends, the same blocking echo child answers.
 *
 * @module
 */

import { FifoReader, FifoWriter, RuntimeDir } from "../ipc/mod.ts";
import { reapChild, roleCommand } from "../roles/mod.ts";

/** Options of {@link runIpcBench}. */
export interface IpcBenchOptions {
  /** Round trips per method (default 10000). */
  roundTrips?: number;
  /** How many times the methods alternate (default 10). */
  rounds?: number;
}

/** Latency figures of one method, in µs. */
export interface LatencyStats {
  /** Round trips measured. */
  count: number;
  /** Median. */
  p50: number;
  /** 99th percentile. */
  p99: number;
  /** Mean. */
  mean: number;
}

/** What {@link runIpcBench} measured. */
export interface IpcBenchResult {
  /** The toolkit's FifoReader.receive (non-blocking read, poll(2) on the blocking pool). */
  async: LatencyStats;
  /** Deno's FsFile.readSync, which blocks the event loop. */
  baseline: LatencyStats;
  /** async p50 / baseline p50. */
  ratio: number;
  /** The target ratio. */
  target: number;
  /** Rounds the methods alternated over. */
  rounds: number;
  /** The runtime directory the run used (removed when it returns). */
  runtimeDir: string;
}

/** Median, p99 and mean of latencies given in ms, reported in µs. */
export function latencyStats(samplesMs: number[]): LatencyStats {
  const s = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] * 1000;
  return {
    count: s.length,
    p50: at(0.5),
    p99: at(0.99),
    mean: (s.reduce((a, b) => a + b, 0) / s.length) * 1000,
  };
}

const ECHO = new URL("./fifo_echo.ts", import.meta.url);

/** Measures both receive paths against one echo child; cleans up on every path. */
export async function runIpcBench(options: IpcBenchOptions = {}): Promise<IpcBenchResult> {
  const roundTrips = options.roundTrips ?? 10_000;
  const rounds = Math.min(options.rounds ?? 10, roundTrips);
  const runtime = RuntimeDir.create({ prefix: "osps-bench-" });
  await using cleanup = new AsyncDisposableStack();
  cleanup.defer(() => runtime.remove());
  const toEcho = runtime.fifo("to-echo");
  const fromEcho = runtime.fifo("from-echo");
  const reader = cleanup.use(FifoReader.open(fromEcho));
  const child = roleCommand(ECHO, [toEcho, fromEcho], { stdin: "null" }).spawn();
  cleanup.defer(async () => void await reapChild(child, { graceMs: 2000 }));
  const writer = cleanup.use(await FifoWriter.open(toEcho));
  using blocking = Deno.openSync(fromEcho, { read: true });
  const raw = new Uint8Array(64);
  const ping = new Uint8Array(8);

  const methods = {
    baseline: () => {
      writer.send(ping);
      blocking.readSync(raw);
    },
    async: async () => {
      writer.send(ping);
      await reader.receive();
    },
  };
  const samples: Record<keyof typeof methods, number[]> = { baseline: [], async: [] };
  const perRound = Math.ceil(roundTrips / rounds);
  for (const run of Object.values(methods)) for (let i = 0; i < 500; i++) await run();
  for (let r = 0; r < rounds; r++) {
    const order =
      (r % 2 === 0 ? ["baseline", "async"] : ["async", "baseline"]) as (keyof typeof methods)[];
    for (const name of order) {
      const run = methods[name];
      for (let i = 0; i < perRound && samples[name].length < roundTrips; i++) {
        const t = performance.now();
        await run();
        samples[name].push(performance.now() - t);
      }
    }
  }
  writer.close();
  const baseline = latencyStats(samples.baseline);
  const asyncStats = latencyStats(samples.async);
  return {
    async: asyncStats,
    baseline,
    ratio: asyncStats.p50 / baseline.p50,
    target: 1.5,
    rounds,
    runtimeDir: runtime.path,
  };
}

/** The result as a table with the ratio and the verdict. */
export function formatIpcBench(r: IpcBenchResult): string {
  const row = (name: string, s: LatencyStats) =>
    `| ${name.padEnd(38)} | ${String(s.count).padStart(7)} | ${s.p50.toFixed(1).padStart(8)} | ${
      s.p99.toFixed(1).padStart(8)
    } |`;
  return [
    `Named-pipe round trip, ${r.rounds} alternating rounds, echo child with blocking reads`,
    "",
    `| receive path                           | trips   | p50 µs   | p99 µs   |`,
    `|----------------------------------------|---------|----------|----------|`,
    row("FsFile.readSync (blocking baseline)", r.baseline),
    row("FifoReader.receive (async, toolkit)", r.async),
    "",
    `ratio async/baseline (p50): ${r.ratio.toFixed(2)}  target <= ${r.target}: ${
      r.ratio <= r.target ? "met" : "NOT met"
    }`,
  ].join("\n");
}
