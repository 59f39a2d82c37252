/**
 * `bench stages`: for each stage with 4 workers, one client sending 2000 echo requests, then 8
 * clients × 500 requests (half echo, half `requetetype2 20000`): p50/p99 latency, throughput, and
 * a check that every request got exactly its own answer. The relay stage's single-client echo p50
 * is compared with a reference measured in the same run, in rounds alternating with it: one
 * kept-open TCP round trip plus one named-pipe round trip (the toolkit's async receive) between
 * two processes.
 *
 * @module
 */

import {
  readReadyLine,
  reapChild,
  ROLE_PERMISSIONS,
  roleCommand,
  type Stage,
} from "../roles/mod.ts";
import {
  expectedAnswer,
  isClean,
  type RequestRecord,
  runClients,
  startSystem,
  type StopReport,
} from "../scenarios/mod.ts";
import { kernelRelease } from "../ipc/mod.ts";
import { latencyStats, runIpcBench } from "./ipc.ts";

/** Options of {@link runStagesBench}. */
export interface StagesBenchOptions {
  /** Workers per system (default 4). */
  workers?: number;
  /** Echo requests of the single client (default 2000). */
  single?: number;
  /** Concurrent clients of the mixed load (default 8). */
  clients?: number;
  /** Requests per client of the mixed load (default 500). */
  perClient?: number;
  /** Round trips of each reference measurement (default 2000). */
  referenceTrips?: number;
}

/** One load on one stage. */
export interface LoadResult {
  /** Requests sent. */
  requests: number;
  /** Requests answered with exactly their own right answer. */
  right: number;
  /** Requests with a wrong, foreign or missing answer. */
  wrongOrMissing: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
  /** Requests per second over the load's wall time. */
  throughput: number;
}

/** One stage's figures. */
export interface StageBench {
  /** The stage. */
  stage: Stage;
  /** 1 client, echo only. */
  single: LoadResult;
  /** 8 clients, half echo, half primes. */
  mixed: LoadResult;
  /** Whether the system left nothing behind. */
  clean: boolean;
}

/** What {@link runStagesBench} measured. */
export interface StagesBenchResult {
  /** The same-run reference, µs. */
  reference: { tcpRoundTripUs: number; pipeRoundTripUs: number; sumUs: number };
  /** Per stage. */
  stages: StageBench[];
  /** relay single-client echo p50 / reference sum. */
  relayRatio: number;
  /** The target for that ratio. */
  target: number;
  /** When and where it ran. */
  machine: { date: string; cpus: number; deno: string; kernel: string };
}

const TCP_ECHO = new URL("./tcp_echo.ts", import.meta.url);

/** A child that echoes lines over TCP, and one kept-open connection to it. */
class TcpEchoPeer {
  #child: Deno.ChildProcess;
  #conn: Deno.Conn | null = null;

  constructor() {
    this.#child = roleCommand(TCP_ECHO, [], { stdin: "null", stdout: "piped" }, [
      ...ROLE_PERMISSIONS,
      "--allow-net",
    ])
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

function load(records: RequestRecord[], wallMs: number): LoadResult {
  const right = records.filter((r) => r.got !== null && r.got === expectedAnswer(r.line));
  const stats = latencyStats(right.length ? right.map((r) => r.latencyMs) : [0]);
  return {
    requests: records.length,
    right: right.length,
    wrongOrMissing: records.length - right.length,
    p50Ms: stats.p50 / 1000,
    p99Ms: stats.p99 / 1000,
    throughput: records.length / (wallMs / 1000),
  };
}

/** Runs the benchmark; every system it starts is stopped and checked. */
export async function runStagesBench(options: StagesBenchOptions = {}): Promise<StagesBenchResult> {
  const trips = options.referenceTrips ?? 2000;
  const rounds = 5;
  const stages: StageBench[] = [];
  let tcp = 0, pipe = 0;
  for (const stage of ["relay", "worker-calls-client", "client-calls-worker"] as Stage[]) {
    const system = await startSystem({ stage, workers: options.workers ?? 4 });
    let single: LoadResult, mixed: LoadResult, report: StopReport;
    try {
      const n = options.single ?? 2000;
      let t = performance.now();
      if (stage === "relay") {
        // The reference and the relay echo alternate in rounds: where the scheduler puts the
        // processes (one vCPU or two) moves both alike.
        const peer = new TcpEchoPeer();
        const tcpSamples: number[] = [], pipeMedians: number[] = [], records: RequestRecord[] = [];
        try {
          for (let r = 0; r < rounds; r++) {
            tcpSamples.push(...await peer.measure(Math.ceil(trips / rounds)));
            pipeMedians.push(
              (await runIpcBench({ roundTrips: Math.ceil(trips / rounds), rounds: 2 })).async.p50,
            );
            records.push(
              ...await runClients(
                system.port,
                1,
                () =>
                  Array.from(
                    { length: Math.ceil(n / rounds) },
                    (_, i) => `requetetype1 s${r}-${i}`,
                  ),
              ),
            );
          }
        } finally {
          await peer.stop();
        }
        tcp = latencyStats(tcpSamples).p50;
        pipe = [...pipeMedians].sort((a, b) => a - b)[Math.floor(pipeMedians.length / 2)];
        single = load(records, performance.now() - t);
      } else {
        single = load(
          await runClients(
            system.port,
            1,
            () => Array.from({ length: n }, (_, i) => `requetetype1 s${i}`),
          ),
          performance.now() - t,
        );
      }
      const perClient = options.perClient ?? 500;
      t = performance.now();
      mixed = load(
        await runClients(
          system.port,
          options.clients ?? 8,
          (c) =>
            Array.from(
              { length: perClient },
              (_, i) => i % 2 ? "requetetype2 20000" : `requetetype1 m${c}-${i}`,
            ),
        ),
        performance.now() - t,
      );
    } finally {
      report = await system.stop();
    }
    stages.push({ stage, single, mixed, clean: isClean(report.leftovers) });
  }
  const sumUs = tcp + pipe;
  return {
    reference: { tcpRoundTripUs: tcp, pipeRoundTripUs: pipe, sumUs },
    stages,
    relayRatio: (stages[0].single.p50Ms * 1000) / sumUs,
    target: 2,
    machine: {
      date: new Date().toISOString(),
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      kernel: kernelRelease(),
    },
  };
}

/** The result as a Markdown table with the reference and the verdicts. */
export function formatStagesBench(r: StagesBenchResult): string {
  const rows = r.stages.flatMap((s) =>
    (["single", "mixed"] as const).map((k) => {
      const l = s[k];
      return `| ${s.stage.padEnd(19)} | ${
        (k === "single" ? "1 × echo" : "8 × mixed").padEnd(9)
      } | ${String(l.requests).padStart(5)} | ${String(l.wrongOrMissing).padStart(13)} | ${
        l.p50Ms.toFixed(3).padStart(7)
      } | ${l.p99Ms.toFixed(3).padStart(7)} | ${l.throughput.toFixed(0).padStart(8)} |`;
    })
  );
  const lossless = r.stages.every((s) =>
    s.single.wrongOrMissing + s.mixed.wrongOrMissing === 0 && s.clean
  );
  return [
    `Stages, ${r.machine.cpus} CPUs, Deno ${r.machine.deno}, ${r.machine.date}`,
    "",
    "| stage               | load      | reqs  | wrong/missing | p50 ms  | p99 ms  | req/s    |",
    "|---------------------|-----------|-------|---------------|---------|---------|----------|",
    ...rows,
    "",
    `reference (same run): kept-open TCP round trip ${
      r.reference.tcpRoundTripUs.toFixed(1)
    } µs + ` +
    `pipe round trip ${r.reference.pipeRoundTripUs.toFixed(1)} µs = ${
      r.reference.sumUs.toFixed(1)
    } µs`,
    `relay echo p50 / reference: ${r.relayRatio.toFixed(2)}  target <= ${r.target}: ${
      r.relayRatio <= r.target ? "met" : "NOT met"
    }`,
    `no answer lost, wrong or duplicated, nothing left behind: ${lossless ? "yes" : "NO"}`,
  ].join("\n");
}
