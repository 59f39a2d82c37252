/**
 * One stage of `deno task check`, from the start of the system to the last process reaped and
 * the last pipe removed. Three starts of the command:
 *
 * 1. contract, architecture (read while it runs), load, then cleanup (SIGTERM);
 * 2. faults under load, the supervisor's SIGKILL last;
 * 3. a start after that SIGKILL, over what it left: it must serve again.
 *
 * Every step is bounded; whatever happens (a check that fails, the command that does not start,
 * Ctrl-C), every process of the system's tree is killed and reaped and what it left is removed.
 *
 * @module
 */

import { describeExit } from "../ipc/mod.ts";
import { answerLine, ClientError, OspsClient, type Stage } from "../roles/mod.ts";
import { expectedAnswer } from "../scenarios/mod.ts";
import {
  type Architecture,
  architectureChecks,
  type Holdings,
  noHoldings,
  readArchitecture,
} from "./architecture.ts";
import { DirectorySnapshot, removeLeftovers, runCleanup } from "./cleanup.ts";
import { runContract } from "./contract.ts";
import { type FaultOutcome, faultSchedule, formatSchedule, runFaults } from "./faults.ts";
import { type LoadMeasure, measureLoad } from "./load.ts";
import type { LoadTick } from "./load_gen.ts";
import { Target, TargetStartError } from "./target.ts";
import { type CheckResult, type Group, GROUPS, skipped, verdictOf } from "./verdict.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/**
 * The command that runs osps itself, the reference: `main.ts up` with the check's stage, port and
 * workers, under an instance name of its own.
 */
export function referenceCommand(): string[] {
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--config",
    CONFIG,
    "--allow-ffi",
    "--allow-run",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-net=127.0.0.1,localhost",
    MAIN,
    "up",
    "--stage",
    "{stage}",
    "--port",
    "{port}",
    "--workers",
    "{workers}",
    "--instance",
    `check-{port}`,
  ];
}

const PYTHON_EXAMPLE = new URL("../examples/python/server.py", import.meta.url).pathname;

/**
 * The command that runs the plain Python implementation in examples/python/ (the course's own
 * language), or one of its broken variants (`--broken NAME`).
 */
export function pythonExampleCommand(broken?: string): string[] {
  return [
    "python3",
    PYTHON_EXAMPLE,
    "--port",
    "{port}",
    "--stage",
    "{stage}",
    "--workers",
    "{workers}",
    ...(broken ? ["--broken", broken] : []),
  ];
}

/** How one stage is checked. */
export interface CheckOptions {
  /** The stage. */
  stage: Stage;
  /** The command and its arguments (`{port}`, `{stage}`, `{workers}` replaced). */
  command: string[];
  /** The dispatcher's port (default: a free one, with the next `workers` free too). */
  port?: number;
  /** Workers the system is told to run (default 4). */
  workers?: number;
  /** The fault schedule's seed (default 1). */
  seed?: number;
  /** Clients of the load (default 8). */
  clients?: number;
  /** Warm-up requests per client (default 1000). */
  warmup?: number;
  /** Measured requests per client (default 3000). */
  requests?: number;
  /** How long the system may take to listen, ms (default 20000). */
  startTimeoutMs?: number;
  /** How long it may take to stop on SIGTERM, ms (default 10 000, cleanup.ts's `STOP_BOUND_MS`). */
  stopBoundMs?: number;
  /** How long it may take to be whole again after a fault, ms (default 10 000, faults.ts's
   * `RECOVERY_BOUND_MS`). */
  recoveryBoundMs?: number;
  /** Aborting it ends the check where it is (everything started is killed and removed). */
  signal?: AbortSignal;
  /** Where progress lines go (default: nowhere). */
  progress?: (line: string) => void;
}

/** What one stage's check found. */
export interface StageReport {
  /** The stage. */
  stage: Stage;
  /** The seed of the fault schedule. */
  seed: number;
  /** The schedule it gave. */
  schedule: string;
  /** The command, as started the first time. */
  command: string[];
  /** The dispatcher's port. */
  port: number;
  /** Workers asked for. */
  workers: number;
  /** Every check. */
  checks: CheckResult[];
  /** What the system was made of, read while it ran. */
  architecture: Architecture | null;
  /** The measured load. */
  load: LoadMeasure | null;
  /** Each fault's outcome. */
  faults: FaultOutcome[];
  /** The load under the faults, per 100 ms. */
  faultTicks: LoadTick[];
  /** The last lines the system wrote (from its first start). */
  output: string;
  /** Whether every check passed (none failed, and it was not interrupted). */
  passed: boolean;
  /** Whether Ctrl-C (or SIGTERM) ended it early. */
  interrupted: boolean;
}

/** The check was interrupted. */
class Interrupted extends Error {}

/** A free port P on 127.0.0.1 with P+1…P+`more` free too (workers listen there in some designs). */
export function freePortBlock(more: number): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (40000 - more));
    const held: Deno.Listener[] = [];
    try {
      for (let p = base; p <= base + more; p++) {
        held.push(Deno.listen({ hostname: "127.0.0.1", port: p }));
      }
      return base;
    } catch (e) {
      // One of them is taken: another block.
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    } finally {
      for (const l of held) l.close();
    }
  }
  throw new Error("no block of free ports found");
}

/** Checks one stage of a system; never leaves a process or a pipe of it behind. */
export async function checkStage(options: CheckOptions): Promise<StageReport> {
  const workers = options.workers ?? 4;
  const seed = options.seed ?? 1;
  const clients = options.clients ?? 8;
  const port = options.port || freePortBlock(workers);
  const progress = options.progress ?? (() => {});
  const vars = { port, stage: options.stage, workers };
  const report: StageReport = {
    stage: options.stage,
    seed,
    schedule: formatSchedule(seed, faultSchedule(seed, workers)),
    command: options.command,
    port,
    workers,
    checks: [],
    architecture: null,
    load: null,
    faults: [],
    faultTicks: [],
    output: "",
    passed: false,
    interrupted: false,
  };
  const checks = report.checks;
  const ours = new Set<number>();
  const holdings: Holdings = noHoldings();
  const snapshot = new DirectorySnapshot();
  const step = <T>(p: Promise<T>): Promise<T> => {
    const signal = options.signal;
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(new Interrupted());
    return Promise.race([
      p,
      new Promise<never>((_, reject) =>
        signal.addEventListener("abort", () => reject(new Interrupted()), { once: true })
      ),
    ]);
  };

  /** Starts the command and waits until it listens; null (and a failed check) if it does not. */
  const start = async (name: string, group: Group): Promise<Target | null> => {
    let target: Target;
    try {
      target = Target.start(options.command, vars, ours);
    } catch (e) {
      if (!(e instanceof TargetStartError)) throw e;
      checks.push(verdictOf(group, name, false, e.message));
      return null;
    }
    report.command = target.command;
    const t0 = performance.now();
    const up = await step(target.waitListening(port, options.startTimeoutMs ?? 20_000));
    if (up === "up") {
      checks.push(verdictOf(group, name, true, `in ${(performance.now() - t0).toFixed(0)} ms`));
      return target;
    }
    const elsewhere = readArchitecture(target.processes(), port).processes.flatMap((p) =>
      p.listens
    );
    await target.killAll();
    report.output ||= target.output;
    checks.push(verdictOf(
      group,
      name,
      false,
      up === "ended"
        ? `it ended before it listened: ${describeExit(target.exit!)}${
          target.output
            ? `; its last output: ${target.output.split("\n").slice(-3).join(" | ")}`
            : ""
        }`
        : `nothing listened on 127.0.0.1:${port} within ${
          (options.startTimeoutMs ?? 20_000) / 1000
        } s${elsewhere.length ? ` (it listens on ${elsewhere.join(", ")})` : ""}`,
    ));
    return null;
  };

  const targets: Target[] = [];
  try {
    progress(`check ${options.stage}: ${report.command.join(" ")}`);
    const first = await start(`starts and listens on port ${port}`, "contract");
    if (first === null) {
      skipRest(checks, "the system did not start");
      return report;
    }
    targets.push(first);
    checks.push(verdictOf(
      "contract",
      "runs in the foreground",
      first.exit === null,
      first.exit === null
        ? `its first process (pid ${first.root.pid}) runs`
        : `its first process ended (${describeExit(first.exit)}) while its processes run on`,
    ));
    progress("  contract");
    const contract = await step(
      runContract({ host: "127.0.0.1", port, stage: options.stage, workers }),
    );
    checks.push(...contract);
    progress("  architecture");
    const architecture = readArchitecture(first.processes(), port, holdings);
    report.architecture = architecture;
    checks.push(...architectureChecks(architecture, port, workers));
    const serves = contract.find((c) => c.name === "echo")?.verdict === "pass";
    if (serves) {
      progress(`  load: ${clients} clients × ${options.requests ?? 3000} requests`);
      const load = await step(measureLoad(first, {
        port,
        stage: options.stage,
        clients,
        warmup: options.warmup ?? 1000,
        requests: options.requests ?? 3000,
        mix: "mixed",
      }, ours));
      report.load = load;
      checks.push(...loadChecks(load));
    } else {
      checks.push(skipped("load", "every answer right", "it does not answer an echo right"));
    }
    progress("  cleanup");
    checks.push(...await step(runCleanup(first, holdings, snapshot, options.stopBoundMs)));
    report.output = first.output;
    removeLeftovers(holdings, snapshot);
    if (!serves) {
      checks.push(skipped("faults", "faults", "it does not answer an echo right"));
      return report;
    }
    progress(`  faults (${report.schedule})`);
    const second = await start("starts again after a stop", "faults");
    if (second === null) return report;
    targets.push(second);
    const faults = await step(runFaults(
      second,
      {
        port,
        stage: options.stage,
        workers,
        seed,
        clients,
        recoveryBoundMs: options.recoveryBoundMs,
      },
      holdings,
      ours,
      progress,
    ));
    checks.push(...faults.checks);
    report.faults = faults.outcomes;
    report.faultTicks = faults.ticks;
    await second.killAll();
    const third = await start("starts again after its supervisor's SIGKILL", "faults");
    if (third !== null) {
      targets.push(third);
      checks.push(await step(servesOnce(port, options.stage)));
      await step(third.stop(5000));
    }
  } catch (e) {
    if (!(e instanceof Interrupted)) throw e;
    report.interrupted = true;
  } finally {
    // What still runs (after a failure or Ctrl-C) is asked to stop, then killed; what it held
    // is noted first, so that what it leaves can be removed.
    for (const t of targets) {
      if (t.running().length === 0) continue;
      readArchitecture(t.processes(), port, holdings);
      await t.stop(2000);
    }
    removeLeftovers(holdings, snapshot);
  }
  report.passed = !report.interrupted && checks.every((c) => c.verdict !== "fail");
  return report;
}

/** After a failed start: the groups that could not run, skipped. */
function skipRest(checks: CheckResult[], why: string): void {
  for (const g of GROUPS) {
    if (g !== "contract") checks.push(skipped(g, g, why));
  }
}

/** The load group's checks. */
function loadChecks(load: LoadMeasure): CheckResult[] {
  const s = load.summary;
  const figures = `${s.requests} requests from ${load.clients} clients: ${
    load.throughput.toFixed(0)
  }/s, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, CPU ${
    load.cpuUsPerRequest.toFixed(0)
  } µs per request`;
  const sample = load.bad.slice(0, 2).map((b) => `${b.line} → ${b.got}`).join("; ");
  return [
    verdictOf(
      "load",
      "every answer right",
      s.wrong === 0,
      s.wrong ? `${s.wrong} wrong of ${s.requests}: ${sample}` : figures,
    ),
    verdictOf(
      "load",
      "every request answered",
      s.errors + s.lost === 0,
      s.errors + s.lost
        ? `${s.errors} ERR and ${s.lost} without an answer of ${s.requests}: ${sample}`
        : `${s.right} of ${s.requests}`,
    ),
  ];
}

/** One request, answered right, within 10 s of the start. */
async function servesOnce(port: number, stage: Stage): Promise<CheckResult> {
  const name = "serves after its supervisor's SIGKILL";
  const line = "requetetype1 after the supervisor's death";
  try {
    await using client = await OspsClient.connect({ port, stage, retries: 6, timeoutMs: 5000 });
    const got = answerLine(await client.request(line));
    return verdictOf("faults", name, got === expectedAnswer(line), got);
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    return verdictOf("faults", name, false, e.message);
  }
}
