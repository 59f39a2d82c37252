/**
 * `bench stages`: what a request costs in each stage. For each stage, a fresh system of 4 workers
 * with the default options is driven by a load generator running as a process of its own
 * (`load_gen.ts`, so that its CPU is never counted as the system's): 8 clients, each on one
 * dispatcher connection, half `requetetype1 <text>` and half `requetetype2 20000`, first a warm-up,
 * then the measured requests. The CPU time of every process of the instance (utime + stime of
 * /proc/<pid>/stat, every thread) over the measured requests gives µs per request for each role
 * and for the whole instance, with tracing off and on: two systems, one of each, driven in turn
 * in three rounds, so that what moves the machine's speed meanwhile moves both alike (and the
 * measured windows are long enough for /proc's 10 ms ticks). Then one client, echo only,
 * for the latency of a lone request; in the relay stage that run alternates in rounds with a
 * reference measured in the same run: one kept-open TCP round trip plus one named-pipe round trip.
 * Last, osps beside the plain Python implementation of examples/python/, each started once and
 * driven in alternating rounds by the same load (check's load generator, the same for both): the
 * targets are the ratios osps ÷ Python of CPU per request (every process of each tree) and of
 * requests per second, taken in that one run; the CPU is also given by part (dispatcher, workers,
 * supervisor), beside the runtimes' floors (`floors.ts`). Every answer must be exactly right.
 *
 * @module
 */

import {
  LineReader,
  readReadyLine,
  reapChild,
  ROLE_PERMISSIONS,
  roleCommand,
  type Stage,
  SYSTEM_ROLE_PERMISSIONS,
} from "../roles/mod.ts";
import { isClean, type RunningSystem, startSystem } from "../scenarios/mod.ts";
import { childrenOf, kernelRelease } from "../ipc/mod.ts";
import { cpuMs, latencyStats, runIpcBench } from "./ipc.ts";
import {
  alternatingLoads,
  type LoadFigures,
  pythonExampleCommand,
  referenceCommand,
} from "../check/mod.ts";
import { type Floor, runFloorsBench } from "./floors.ts";
import type { LoadGenReport } from "./load_gen.ts";

export type {
  BadRequest,
  LoadFigures,
  LoadMeasure,
  LoadSummary,
  LoadTick,
  ProcessRole,
} from "../check/mod.ts";

/** Rounds in which the systems with tracing off and on are driven in turn. */
const OFF_ON_ROUNDS = 3;

/** The stages, in the order they are measured. */
export const BENCH_STAGES: readonly Stage[] = [
  "relay",
  "client-calls-worker",
  "worker-calls-client",
];

/**
 * The targets, as ratios osps ÷ the plain Python implementation measured in the same run, in
 * every stage: CPU per request at most `cpu`, requests per second at least `throughput`.
 */
export const PYTHON_RATIO_TARGET = { cpu: 0.8, throughput: 1.25 } as const;

/** The moonshot, in the same ratios. */
export const PYTHON_RATIO_MOONSHOT = { cpu: 0.5, throughput: 2 } as const;

/** Tracing on may cost at most this many times the CPU of tracing off. */
export const TRACE_RATIO_TARGET = 1.3;

/** Options of {@link runStagesBench}. */
export interface StagesBenchOptions {
  /** Workers per system (default 4). */
  workers?: number;
  /** Concurrent clients of the load (default 8). */
  clients?: number;
  /** Measured requests per client, over the three rounds (default 6000). */
  requests?: number;
  /** Warm-up requests per client before each round, not measured (default 1000). */
  warmup?: number;
  /** Requests per client of the cold measure (default {@link COLD_REQUESTS}). */
  cold?: number;
  /** Echo requests of the single client (default 2000). */
  single?: number;
  /** Round trips of each reference measurement (default 2000). */
  referenceTrips?: number;
  /** Measured requests per client of osps beside Python, over three rounds (default 3000). */
  pythonRequests?: number;
  /** Requests per round and server of the runtimes' floors (default 4000). */
  floorRequests?: number;
  /** Where the traced runs write their traces (default bench/out). */
  traceDir?: string;
}

/** CPU per request by role, µs. */
export interface CpuPerRequest {
  /** The dispatcher. */
  dispatcher: number;
  /** Every worker together. */
  workers: number;
  /** The watchdog. */
  watchdog: number;
  /** The whole instance. */
  total: number;
}

/** One load on one system. */
export interface LoadResult {
  /** Concurrent clients. */
  clients: number;
  /** Requests measured. */
  requests: number;
  /** Requests answered with exactly their own right answer. */
  right: number;
  /** Requests with a wrong, foreign or missing answer. */
  wrongOrMissing: number;
  /** The first few of them. */
  wrong: string[];
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Requests per second over the measured requests. */
  throughput: number;
  /** CPU of the instance per request, by role. */
  cpuUs: CpuPerRequest;
}

/** One stage's figures. */
export interface StageBench {
  /** The stage. */
  stage: Stage;
  /** 8 clients, mixed, tracing off. */
  load: LoadResult;
  /**
   * The same clients' first requests (default {@link COLD_REQUESTS} each) on a fresh system, no
   * warm-up: what a run as short as the cost issue's costs while V8 still compiles.
   */
  cold: LoadResult;
  /** The same load with tracing on. */
  traced: LoadResult;
  /** Traced CPU per request / untraced. */
  traceRatio: number;
  /** 1 client, echo. */
  single: LoadResult;
  /** Whether every system left nothing behind. */
  clean: boolean;
  /** osps beside the plain Python implementation, alternating, same load. */
  python: PythonComparison;
}

/** osps and the plain Python implementation over the same alternating rounds. */
export interface PythonComparison {
  /** The Python implementation's figures. */
  python: LoadFigures;
  /** osps's (`up`, default options). */
  osps: LoadFigures;
  /** CPU per request, osps ÷ Python. */
  cpuRatio: number;
  /** Requests per second, osps ÷ Python. */
  throughputRatio: number;
}

/** What {@link runStagesBench} measured. */
export interface StagesBenchResult {
  /** Per stage. */
  stages: StageBench[];
  /** The same-run reference of the relay single-client echo, µs. */
  reference: { tcpRoundTripUs: number; pipeRoundTripUs: number; sumUs: number };
  /** relay single-client echo p50 / reference. */
  relayRatio: number;
  /** The target for that ratio. */
  relayTarget: number;
  /** The least TCP server's CPU per request in Deno and in Python, measured in the same run. */
  floors: Floor[];
  /** When and where it ran. */
  machine: { date: string; cpus: number; deno: string; kernel: string };
}

const LOAD_GEN = new URL("./load_gen.ts", import.meta.url);

/** Requests per client of the cold measure (the cost issue's own load: 8 clients × 400). */
export const COLD_REQUESTS = 400;
const TCP_ECHO = new URL("./tcp_echo.ts", import.meta.url);

/**
 * The processes of a running instance, by role: the watchdog's other children (its standby) count
 * with the watchdog.
 */
function instancePids(system: RunningSystem): { role: keyof CpuPerRequest; pid: number }[] {
  const roles = system.roles.map((r) => ({
    role: (r.name === "dispatcher" ? "dispatcher" : "workers") as keyof CpuPerRequest,
    pid: r.pid,
  }));
  const others = childrenOf(system.watchdog.pid)
    .filter((c) => !roles.some((r) => r.pid === c.pid))
    .map((c) => ({ role: "watchdog" as const, pid: c.pid }));
  return [{ role: "watchdog", pid: system.watchdog.pid }, ...roles, ...others];
}

function cpuByRole(pids: { role: keyof CpuPerRequest; pid: number }[]): CpuPerRequest {
  const cpu: CpuPerRequest = { dispatcher: 0, workers: 0, watchdog: 0, total: 0 };
  for (const { role, pid } of pids) cpu[role] += cpuMs([pid]);
  cpu.total = cpu.dispatcher + cpu.workers + cpu.watchdog;
  return cpu;
}

/** What one load-generator run gave: its report and the instance's CPU over it, ms by role. */
interface LoadPart {
  clients: number;
  report: LoadGenReport;
  cpuMs: CpuPerRequest;
}

/**
 * Drives `system` with the load generator process: warm-up, then the measured requests, the
 * instance's CPU sampled around them. Throws if a role changed pid meanwhile (a restart would
 * hide its CPU).
 */
async function runLoadGen(
  system: RunningSystem,
  load: { clients: number; requests: number; warmup: number; mix: "mixed" | "echo" },
): Promise<LoadPart> {
  const args = Object.entries(load).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const child = roleCommand(LOAD_GEN, ["--port", String(system.port), ...args], {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }, [...ROLE_PERMISSIONS, "--allow-net"]).spawn();
  try {
    const lines = new LineReader(child.stdout);
    await lines.until(/^warm$/, 120_000);
    const pids = instancePids(system);
    const before = cpuByRole(pids);
    const stdin = child.stdin.getWriter();
    await stdin.write(new TextEncoder().encode("go\n"));
    await stdin.close();
    const report: LoadGenReport = JSON.parse((await lines.until(/^\{.*\}$/, 300_000))[0]);
    const after = cpuByRole(pids);
    const now = instancePids(system);
    if (now.length !== pids.length || now.some((p, i) => p.pid !== pids[i].pid)) {
      throw new Error(
        `a role was restarted during the measured load: ${JSON.stringify(pids)} then ${
          JSON.stringify(now)
        }`,
      );
    }
    const cpu = { ...after };
    for (const k of Object.keys(cpu) as (keyof CpuPerRequest)[]) cpu[k] -= before[k];
    return { clients: load.clients, report, cpuMs: cpu };
  } finally {
    await reapChild(child, { graceMs: 1000 });
  }
}

/** The figures of one or more load-generator runs taken together. */
function loadResult(parts: LoadPart[]): LoadResult {
  const requests = parts.reduce((n, p) => n + p.report.requests, 0);
  const right = parts.reduce((n, p) => n + p.report.right, 0);
  const wallMs = parts.reduce((n, p) => n + p.report.wallMs, 0);
  const stats = latencyStats(parts.flatMap((p) => p.report.latenciesMs).concat(right ? [] : [0]));
  const per = (k: keyof CpuPerRequest) =>
    (parts.reduce((n, p) => n + p.cpuMs[k], 0) * 1000) / Math.max(1, requests);
  return {
    clients: parts[0].clients,
    requests,
    right,
    wrongOrMissing: requests - right,
    wrong: parts.flatMap((p) => p.report.wrong).slice(0, 5),
    p50Ms: stats.p50 / 1000,
    p99Ms: stats.p99 / 1000,
    throughput: requests / (wallMs / 1000),
    cpuUs: {
      dispatcher: per("dispatcher"),
      workers: per("workers"),
      watchdog: per("watchdog"),
      total: per("total"),
    },
  };
}

/** Drives `system` with the load generator (see {@link runLoadGen}) and sums up. */
export async function measureLoad(
  system: RunningSystem,
  load: { clients: number; requests: number; warmup: number; mix: "mixed" | "echo" },
): Promise<LoadResult> {
  return loadResult([await runLoadGen(system, load)]);
}

/** A child that echoes lines over TCP, and one kept-open connection to it. */
class TcpEchoPeer {
  #child: Deno.ChildProcess;
  #conn: Deno.Conn | null = null;

  constructor() {
    this.#child = roleCommand(
      TCP_ECHO,
      [],
      { stdin: "null", stdout: "piped" },
      SYSTEM_ROLE_PERMISSIONS,
    )
      .spawn();
  }

  /** Round trips of a one-byte line, ms each (after `warmup` unmeasured ones). */
  async measure(trips: number, warmup = 50): Promise<number[]> {
    if (this.#conn === null) {
      const ready = await readReadyLine(this.#child, 10_000);
      if (typeof ready === "string") throw new Error("the TCP echo child did not start");
      this.#conn = await Deno.connect({ hostname: "127.0.0.1", port: ready.port });
    }
    const ping = new TextEncoder().encode("x\n");
    const buf = new Uint8Array(16);
    const samples: number[] = [];
    for (let i = 0; i < trips + warmup; i++) {
      const t = performance.now();
      await this.#conn.write(ping);
      for (let got = 0; got < 2;) got += (await this.#conn.read(buf)) ?? 2;
      if (i >= warmup) samples.push(performance.now() - t);
    }
    return samples;
  }

  async stop(): Promise<void> {
    this.#conn?.close();
    await reapChild(this.#child, { graceMs: 0 });
  }
}

/** osps and the Python implementation, each started once, in three alternating rounds. */
async function besidePython(
  stage: Stage,
  workers: number,
  load: { clients: number; warmup: number },
  requests: number,
): Promise<PythonComparison> {
  const figures = await alternatingLoads([
    { name: "Python", command: pythonExampleCommand() },
    { name: "osps", command: referenceCommand() },
  ], { stage, workers, clients: load.clients, warmup: load.warmup, requests, rounds: 3 });
  const [python, osps] = figures!;
  return {
    python,
    osps,
    cpuRatio: osps.cpuUsPerRequest / python.cpuUsPerRequest,
    throughputRatio: osps.throughput / python.throughput,
  };
}

/** Runs the benchmark; every system it starts is stopped and checked. */
export async function runStagesBench(options: StagesBenchOptions = {}): Promise<StagesBenchResult> {
  const workers = options.workers ?? 4;
  const load = {
    clients: options.clients ?? 8,
    requests: options.requests ?? 6000,
    warmup: options.warmup ?? 1000,
    mix: "mixed" as const,
  };
  const single = options.single ?? 2000;
  const coldRequests = options.cold ?? COLD_REQUESTS;
  const trips = options.referenceTrips ?? 2000;
  const traceDir = options.traceDir ?? "bench/out";
  const rounds = 5;
  const stages: StageBench[] = [];
  let tcp = 0, pipe = 0;
  for (const stage of BENCH_STAGES) {
    let clean = true;
    const run = async <T>(tracePath: string | undefined, fn: (s: RunningSystem) => Promise<T>) => {
      const system = await startSystem({ stage, workers, tracePath });
      try {
        return await fn(system);
      } finally {
        clean &&= isClean((await system.stop()).leftovers);
      }
    };
    Deno.mkdirSync(traceDir, { recursive: true });
    const tracePath = `${traceDir}/trace-${stage}.jsonl`;
    // Tracing off and on in turn, each on a system of its own; the first load on a fresh system
    // is the cold one.
    const [untraced, traced, cold] = await run(undefined, (off) =>
      run(tracePath, async (on) => {
        const cold = await runLoadGen(off, { ...load, requests: coldRequests, warmup: 0 });
        const parts: [LoadPart[], LoadPart[]] = [[], []];
        for (let r = 0; r < OFF_ON_ROUNDS; r++) {
          // The rounds' shares of the requests add up to them exactly.
          const upTo = (round: number) => Math.floor((round * load.requests) / OFF_ON_ROUNDS);
          const round = { ...load, requests: upTo(r + 1) - upTo(r) };
          if (round.requests === 0) continue;
          parts[0].push(await runLoadGen(off, round));
          parts[1].push(await runLoadGen(on, round));
        }
        return [loadResult(parts[0]), loadResult(parts[1]), loadResult([cold])];
      }));
    const lone = await run(undefined, async (s) => {
      const echo = { clients: 1, requests: single, warmup: 100, mix: "echo" as const };
      if (stage !== "relay") return await measureLoad(s, echo);
      // The reference and the relay echo alternate in rounds: where the scheduler puts the
      // processes (one vCPU or two) moves both alike.
      const peer = new TcpEchoPeer();
      const tcpSamples: number[] = [], pipeMedians: number[] = [], runs: LoadPart[] = [];
      try {
        for (let r = 0; r < rounds; r++) {
          tcpSamples.push(...await peer.measure(Math.ceil(trips / rounds)));
          pipeMedians.push(
            (await runIpcBench({ roundTrips: Math.ceil(trips / rounds), rounds: 1 })).methods.socket
              .p50,
          );
          runs.push(await runLoadGen(s, { ...echo, requests: Math.ceil(single / rounds) }));
        }
      } finally {
        await peer.stop();
      }
      tcp = latencyStats(tcpSamples).p50;
      pipe = [...pipeMedians].sort((a, b) => a - b)[Math.floor(pipeMedians.length / 2)];
      return loadResult(runs);
    });
    stages.push({
      stage,
      load: untraced,
      cold,
      traced,
      traceRatio: traced.cpuUs.total / untraced.cpuUs.total,
      single: lone,
      clean,
      python: await besidePython(stage, workers, load, options.pythonRequests ?? 3000),
    });
  }
  const sumUs = tcp + pipe;
  return {
    stages,
    reference: { tcpRoundTripUs: tcp, pipeRoundTripUs: pipe, sumUs },
    relayRatio: (stages[0].single.p50Ms * 1000) / sumUs,
    relayTarget: 2,
    floors: await runFloorsBench({ requests: options.floorRequests ?? 4000 }),
    machine: {
      date: new Date().toISOString(),
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      kernel: kernelRelease(),
    },
  };
}

/** A figure against its target. */
export interface Verdict {
  /** The measured value. */
  value: number;
  /** The target it is held to. */
  target: number;
  /** Whether it meets it. */
  met: boolean;
}

/** A stage's figures held to their targets, each a ratio taken in the same run. */
export interface StageVerdicts {
  /** CPU per request, osps ÷ Python: at most {@link PYTHON_RATIO_TARGET}'s `cpu`. */
  cpu: Verdict;
  /** Requests per second, osps ÷ Python: at least {@link PYTHON_RATIO_TARGET}'s `throughput`. */
  throughput: Verdict;
  /** Tracing on / off, CPU per request: at most {@link TRACE_RATIO_TARGET}. */
  trace: Verdict;
  /** Every answer right and nothing left behind. */
  lossless: boolean;
}

/** The verdicts of one stage. */
export function stageVerdicts(s: StageBench): StageVerdicts {
  const { cpuRatio, throughputRatio } = s.python;
  const target = PYTHON_RATIO_TARGET;
  return {
    cpu: { value: cpuRatio, target: target.cpu, met: cpuRatio <= target.cpu },
    throughput: {
      value: throughputRatio,
      target: target.throughput,
      met: throughputRatio >= target.throughput,
    },
    trace: {
      value: s.traceRatio,
      target: TRACE_RATIO_TARGET,
      met: s.traceRatio <= TRACE_RATIO_TARGET,
    },
    lossless: s.clean &&
      [s.load, s.cold, s.traced, s.single].every((l) => l.wrongOrMissing === 0 && l.requests > 0) &&
      [s.python.python, s.python.osps].every((f) => f.right === f.requests && f.requests > 0),
  };
}

const met = (ok: boolean) => (ok ? "met" : "NOT met");

const PART_NAMES = {
  dispatcher: "dispatcher",
  worker: "workers",
  supervisor: "supervisor",
  other: "other",
} as const;

const FLOOR_NAMES = {
  connection: "accept, read a line, write a line, close",
  kept: "a line read and one written, connection kept open",
} as const;

/** The result as Markdown: the measured table, the verdicts, the reference. */
export function formatStagesBench(r: StagesBenchResult): string {
  const f = (n: number, d = 0) => n.toFixed(d);
  const load = r.stages[0]?.load;
  const rows = r.stages.flatMap((s) =>
    ([["off", s.load], ["on", s.traced], ["off, cold", s.cold]] as const).map(([tracing, l]) =>
      `| ${s.stage} | ${tracing} | ${f(l.throughput)} | ${f(l.p50Ms, 3)} | ${f(l.p99Ms, 3)} | ${
        f(l.cpuUs.dispatcher)
      } | ${f(l.cpuUs.workers)} | ${f(l.cpuUs.watchdog)} | **${
        f(l.cpuUs.total)
      }** | ${l.wrongOrMissing} |`
    )
  );
  const moon = PYTHON_RATIO_MOONSHOT;
  const verdicts = r.stages.map((s) => {
    const v = stageVerdicts(s);
    const { python, osps } = s.python;
    return `| ${s.stage} | ${f(osps.cpuUsPerRequest)} ÷ ${f(python.cpuUsPerRequest)} = **${
      f(v.cpu.value, 2)
    }**, ≤ ${v.cpu.target}: ${met(v.cpu.met)}${
      v.cpu.value <= moon.cpu ? ` (moonshot ${moon.cpu}: met)` : ""
    } | ${f(osps.throughput)} ÷ ${f(python.throughput)} = **${
      f(v.throughput.value, 2)
    }**, ≥ ${v.throughput.target}: ${met(v.throughput.met)}${
      v.throughput.value >= moon.throughput ? ` (moonshot ${moon.throughput}: met)` : ""
    } | ${f(v.trace.value, 2)}, ≤ ${v.trace.target}: ${met(v.trace.met)} | ${
      f(s.single.p50Ms, 3)
    } |`;
  });
  const parts = r.stages.flatMap((s) =>
    (["dispatcher", "worker", "supervisor", "other"] as const).map((role) => {
      const o = s.python.osps.cpuUsByRole[role], p = s.python.python.cpuUsByRole[role];
      return `| ${s.stage} | ${PART_NAMES[role]} | ${f(o)} | ${f(p)} | ${
        p > 0 ? f(o / p, 2) : "—"
      } |`;
    })
  );
  const floors = r.floors.map((x) =>
    `| ${FLOOR_NAMES[x.mode]} | ${f(x.denoUs, 1)} | ${f(x.pythonUs, 1)} | ${
      f(x.denoUs / x.pythonUs, 2)
    } |`
  );
  const rounds = r.stages[0]?.python.osps;
  const lossless = r.stages.every((s) => stageVerdicts(s).lossless);
  return [
    `Stages, ${r.machine.cpus} CPUs, Deno ${r.machine.deno}, ${r.machine.date}: 4 workers, ${
      load?.clients ?? 0
    } clients from a load-generator process, ${
      load ? load.requests / load.clients : 0
    } measured requests each (half echo, half requetetype2 20000) after a warm-up`,
    "",
    "| stage | tracing | req/s | p50 ms | p99 ms | CPU µs/req: dispatcher | workers | watchdog | instance | wrong/missing |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "CPU: utime + stime of every process of the instance (all threads, /proc/<pid>/stat) over the measured requests; the standby counts with the watchdog.",
    `Cold: the first ${
      r.stages[0] ? r.stages[0].cold.requests / r.stages[0].cold.clients : 0
    } requests of each client on a fresh system, no warm-up (the cost issue's own load); V8 is still compiling the request path, which takes a few thousand requests. The targets are held to the warmed figures.`,
    "",
    `osps beside the plain Python implementation (examples/python/), each started once, ${
      rounds?.rounds.length ?? 0
    } alternating rounds of the same load (${
      rounds ? rounds.requests / (rounds.rounds[0]?.clients ?? 1) : 0
    } measured requests per client, ${
      load?.clients ?? 0
    } clients, half echo, half requetetype2 20000), whole process trees; the targets are these ratios (moonshot: CPU ≤ ${moon.cpu}, req/s ≥ ${moon.throughput}):`,
    "",
    "| stage | CPU µs/req, osps ÷ Python | req/s, osps ÷ Python | osps tracing on / off, CPU | 1 client echo p50 ms |",
    "|---|---|---|---|---|",
    ...verdicts,
    "",
    "Where each spends, CPU µs per request over the same rounds, by part of the design as `check` makes it out from /proc (osps's supervisor is its watchdog; its other process, the standby):",
    "",
    "| stage | part | osps | Python | osps ÷ Python |",
    "|---|---|---|---|---|",
    ...parts,
    "",
    "The runtimes' floors, same run: the least TCP server (`bench/floor_server.ts` with `Deno.listen`, `bench/floor_server.py` with `selectors`), its CPU per request, 4 clients, alternating rounds:",
    "",
    "| what the server does | Deno µs | Python µs | Deno ÷ Python |",
    "|---|---|---|---|",
    ...floors,
    "",
    `Same-run reference for the lone relay echo: one kept-open TCP round trip ${
      f(r.reference.tcpRoundTripUs, 1)
    } µs + one pipe round trip ${f(r.reference.pipeRoundTripUs, 1)} µs = ${
      f(r.reference.sumUs, 1)
    } µs; relay echo p50 / reference: ${f(r.relayRatio, 2)}, ≤ ${r.relayTarget}: ${
      met(r.relayRatio <= r.relayTarget)
    }`,
    `no answer lost, wrong or duplicated, nothing left behind: ${lossless ? "yes" : "NO"}`,
  ].join("\n");
}
