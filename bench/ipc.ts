/**
 * `bench ipc`: named-pipe round trips between this process and an echo child, for three ways of
 * waiting for the answer: the toolkit's default receive (`FifoReader`, the descriptor watched by
 * Deno's own event loop through a `node:net` socket), its fallback (`FifoReader` with
 * `wait: "poll"`: `poll(2)` on Deno's blocking thread pool), and Deno's blocking `readSync`, which
 * stalls the event loop (the baseline). Each method has its own pair of pipes and its own echo
 * child; the methods alternate over several rounds, so that where the scheduler puts the processes
 * (same vCPU or not, which moves latency 2-5x) affects them alike. Besides latency, the CPU time of
 * both processes (all threads) per round trip.
 *
 * @module
 */

import { cpuTime, FifoReader, FifoWriter, RuntimeDir } from "../ipc/mod.ts";
import { ascending, quantile, reapChild, roleCommand } from "../roles/mod.ts";

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

/** The three ways of waiting for an answer on a named pipe. */
export const IPC_METHODS = ["socket", "poll", "blocking"] as const;

/** One of {@link IPC_METHODS}. */
export type IpcMethod = typeof IPC_METHODS[number];

/** What one method cost. */
export interface IpcMethodResult extends LatencyStats {
  /** CPU time of both processes (all threads) per round trip, µs. */
  cpuUs: number;
}

/** What {@link runIpcBench} measured. */
export interface IpcBenchResult {
  /** Per method: latency and CPU. */
  methods: Record<IpcMethod, IpcMethodResult>;
  /** The toolkit's default (socket) p50 / the blocking baseline's p50. */
  ratio: number;
  /** The target for that ratio. */
  target: number;
  /** Rounds the methods alternated over. */
  rounds: number;
  /** The runtime directory the run used (removed when it returns). */
  runtimeDir: string;
}

/** Median, p99 and mean of latencies given in ms, reported in µs. */
export function latencyStats(samplesMs: number[]): LatencyStats {
  const s = ascending(samplesMs);
  const at = (q: number) => quantile(s, q) * 1000;
  return {
    count: s.length,
    p50: at(0.5),
    p99: at(0.99),
    mean: (s.reduce((a, b) => a + b, 0) / s.length) * 1000,
  };
}

/** CPU ms used so far by these processes together. */
export function cpuMs(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const t = cpuTime(pid);
    return sum + (t === null ? 0 : t.userMs + t.systemMs);
  }, 0);
}

const ECHO = new URL("./fifo_echo.ts", import.meta.url);

/** Measures the three ways against one echo child each; cleans up on every path. */
export async function runIpcBench(options: IpcBenchOptions = {}): Promise<IpcBenchResult> {
  const roundTrips = options.roundTrips ?? 10_000;
  const rounds = Math.min(options.rounds ?? 10, roundTrips);
  const runtime = RuntimeDir.create({ prefix: "osps-bench-" });
  await using cleanup = new AsyncDisposableStack();
  cleanup.defer(() => runtime.remove());
  const ping = new Uint8Array(8);
  const raw = new Uint8Array(64);

  /** A pair of pipes to its own echo child, and one round trip over it. */
  async function channel(method: IpcMethod): Promise<{ trip: () => unknown; child: number }> {
    const to = runtime.fifo(`to-${method}`);
    const from = runtime.fifo(`from-${method}`);
    // The blocking baseline opens its end after the child opens its: a FIFO's open waits.
    const reader = method === "blocking"
      ? null
      : cleanup.use(FifoReader.open(from, { wait: method }));
    const child = roleCommand(ECHO, [to, from], { stdin: "null" }).spawn();
    cleanup.defer(async () => void await reapChild(child, { graceMs: 2000 }));
    const writer = cleanup.use(await FifoWriter.open(to));
    if (reader !== null) {
      return {
        trip: async () => {
          writer.send(ping);
          await reader.receive();
        },
        child: child.pid,
      };
    }
    const blocking = Deno.openSync(from, { read: true });
    cleanup.defer(() => blocking.close());
    return {
      trip: () => {
        writer.send(ping);
        blocking.readSync(raw);
      },
      child: child.pid,
    };
  }

  const channels = {} as Record<IpcMethod, { trip: () => unknown; child: number }>;
  for (const method of IPC_METHODS) channels[method] = await channel(method);
  const samples = Object.fromEntries(IPC_METHODS.map((m) => [m, [] as number[]])) as Record<
    IpcMethod,
    number[]
  >;
  const cpu = Object.fromEntries(IPC_METHODS.map((m) => [m, 0])) as Record<IpcMethod, number>;
  for (const method of IPC_METHODS) for (let i = 0; i < 500; i++) await channels[method].trip();
  const perRound = Math.ceil(roundTrips / rounds);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? IPC_METHODS : [...IPC_METHODS].reverse();
    for (const method of order) {
      const { trip, child } = channels[method];
      const before = cpuMs([Deno.pid, child]);
      for (let i = 0; i < perRound && samples[method].length < roundTrips; i++) {
        const t = performance.now();
        await trip();
        samples[method].push(performance.now() - t);
      }
      cpu[method] += cpuMs([Deno.pid, child]) - before;
    }
  }
  const methods = Object.fromEntries(IPC_METHODS.map((m) => [m, {
    ...latencyStats(samples[m]),
    cpuUs: (cpu[m] * 1000) / samples[m].length,
  }])) as Record<IpcMethod, IpcMethodResult>;
  return {
    methods,
    ratio: methods.socket.p50 / methods.blocking.p50,
    target: 1.5,
    rounds,
    runtimeDir: runtime.path,
  };
}

/** How each method is named in reports. */
export const IPC_METHOD_LABELS: Record<IpcMethod, string> = {
  socket: "FifoReader, socket wait (default)",
  poll: "FifoReader, poll wait (fallback)",
  blocking: "FsFile.readSync (blocking baseline)",
};

/** The result as a table with the ratio and the verdict. */
export function formatIpcBench(r: IpcBenchResult): string {
  const row = (m: IpcMethod) => {
    const s = r.methods[m];
    return `| ${IPC_METHOD_LABELS[m].padEnd(36)} | ${String(s.count).padStart(6)} | ${
      s.p50.toFixed(1).padStart(7)
    } | ${s.p99.toFixed(1).padStart(7)} | ${s.cpuUs.toFixed(1).padStart(11)} |`;
  };
  return [
    `Named-pipe round trip, ${r.rounds} alternating rounds, echo children with blocking reads`,
    "",
    `| wait for the answer                  | trips  | p50 µs  | p99 µs  | CPU µs/trip |`,
    `|--------------------------------------|--------|---------|---------|-------------|`,
    ...IPC_METHODS.map(row),
    "",
    "CPU: both processes, every thread, per round trip (10 ms /proc resolution).",
    `ratio default/blocking (p50): ${r.ratio.toFixed(2)}  target <= ${r.target}: ${
      r.ratio <= r.target ? "met" : "NOT met"
    }`,
  ].join("\n");
}
