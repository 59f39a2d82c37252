/**
 * The fault checks, under a continuous load of tagged echoes: a worker SIGKILLed while it holds
 * requests (stopped for 300 ms first, so that it does), a worker SIGSTOPped (and left stopped), the dispatcher SIGKILLed, each time waiting until the system has
 * a dispatcher on its port and all its workers again; then the supervisor SIGKILLed, and the
 * processes of its tree still running 2 s later counted (orphans). The schedule (which worker,
 * how long after the system is whole again) comes from the seed, and is printed.
 *
 * @module
 */

import { processInfo, sendSignal } from "../ipc/mod.ts";
import { seeded } from "../ipc/seeded.ts";
import { count, sleep } from "../roles/mod.ts";
import { type Architecture, type Holdings, readArchitecture } from "./architecture.ts";
import { type BadRequest, LoadRun, type LoadTick } from "./load.ts";
import { epochMs } from "./load_gen.ts";
import type { Target } from "./target.ts";
import { type CheckResult, verdictOf } from "./verdict.ts";
import type { Stage } from "../roles/mod.ts";

/** How long a system may take to be whole again after a fault. */
export const RECOVERY_BOUND_MS = 10_000;

/** How long a worker is stopped before its SIGKILL, so that it holds work, ms. */
export const HOLD_MS = 300;

/** The faults, in the order they are injected. */
export type FaultKind =
  | "worker SIGKILL"
  | "worker SIGSTOP"
  | "dispatcher SIGKILL"
  | "supervisor SIGKILL";

/** One fault of the schedule. */
export interface PlannedFault {
  /** What is done. */
  kind: FaultKind;
  /** Which worker (1 to N, in pid order), for a worker fault. */
  worker?: number;
  /** How long after the system is whole again, ms. */
  afterMs: number;
}

/** The schedule a seed gives, for N workers. */
export function faultSchedule(seed: number, workers: number): PlannedFault[] {
  const random = seeded(seed);
  const pick = () => 1 + Math.floor(random() * workers);
  const after = () => 500 + Math.floor(random() * 1000);
  return [
    { kind: "worker SIGKILL", worker: pick(), afterMs: after() },
    { kind: "worker SIGSTOP", worker: pick(), afterMs: after() },
    { kind: "dispatcher SIGKILL", afterMs: after() },
    { kind: "supervisor SIGKILL", afterMs: after() },
  ];
}

/** The schedule, as one line. */
export function formatSchedule(seed: number, plan: PlannedFault[]): string {
  return `seed ${seed}: ` +
    plan.map((f) =>
      `${f.kind.replace(/^worker/, `worker ${f.worker}`)} ${
        (f.afterMs / 1000).toFixed(1)
      } s after whole`
    ).join(", then ");
}

/** What came of one fault. */
export interface FaultOutcome {
  /** The fault. */
  kind: FaultKind;
  /** The process it hit. */
  pid: number;
  /** When, ms since the epoch. */
  at: number;
  /** From the fault until the process hit was gone (reaped) or no longer stopped, ms. */
  detectedMs: number | null;
  /** From the fault until the system had a dispatcher and all its workers again, ms. */
  restartedMs: number | null;
  /** The longest spell without a right answer from the fault to the next one, ms. */
  gapMs: number;
  /** Requests without their right answer sent from 1 s before the fault to the next one. */
  lost: number;
  /** Of them, answered wrong (the others got an ERR line or nothing). */
  wrong: number;
  /** Orphans, for the supervisor: processes of its tree still running 2 s later. */
  orphans?: string[];
}

/** What the fault run gave. */
export interface FaultsReport {
  /** Its checks. */
  checks: CheckResult[];
  /** Each fault. */
  outcomes: FaultOutcome[];
  /** The load's 100 ms ticks. */
  ticks: LoadTick[];
  /** The requests without their right answer. */
  bad: BadRequest[];
}

/** Whether the system is whole: a dispatcher on its port and `workers` workers, none of `gone`. */
function whole(a: Architecture, workers: number, gone: number): boolean {
  return a.dispatcher !== null && a.dispatcher !== gone && a.workers.length === workers &&
    !a.workers.includes(gone);
}

/**
 * Reads the architecture each time the tree's running processes change (checked every 20 ms), and
 * every 100 ms anyway (a process may take a role without a process starting: a standby), until
 * `done` says so or `boundMs` passed; returns the last one read, and whether it was done.
 */
async function watchUntil(
  target: Target,
  port: number,
  holdings: Holdings,
  boundMs: number,
  done: (a: Architecture) => boolean,
): Promise<{ last: Architecture; done: boolean }> {
  const until = performance.now() + boundMs;
  let seen = "";
  let readAt = performance.now();
  let last = readArchitecture(target.processes(), port, holdings);
  while (!done(last) && performance.now() < until) {
    await sleep(20);
    const tree = target.processes();
    const key = tree.filter((p) => p.state !== "Z").map((p) => p.pid).join(",");
    if (key !== seen || performance.now() - readAt >= 100) {
      seen = key;
      readAt = performance.now();
      last = readArchitecture(tree, port, holdings);
    }
  }
  return { last, done: done(last) };
}

/**
 * Runs the faults on `target` (whole, listening on `port`, `workers` workers), under 8 clients of
 * tagged echoes; the supervisor's SIGKILL last. Every wait is bounded.
 */
export async function runFaults(
  target: Target,
  options: {
    port: number;
    stage: Stage;
    workers: number;
    seed: number;
    clients: number;
    recoveryBoundMs?: number;
  },
  holdings: Holdings,
  ours: Set<number>,
  progress: (line: string) => void,
): Promise<FaultsReport> {
  const plan = faultSchedule(options.seed, options.workers);
  const bound = options.recoveryBoundMs ?? RECOVERY_BOUND_MS;
  const outcomes: FaultOutcome[] = [];
  const checks: CheckResult[] = [];
  let a =
    (await watchUntil(target, options.port, holdings, bound, (x) => whole(x, options.workers, 0)))
      .last;
  if (a.dispatcher === null || a.workers.length === 0) {
    const why = a.dispatcher === null ? "no process listens on the port" : "no worker process";
    return {
      checks: [
        verdictOf("faults", "faults injected", false, `nothing to inject them into: ${why}`),
      ],
      outcomes,
      ticks: [],
      bad: [],
    };
  }
  const load = await LoadRun.start({
    port: options.port,
    stage: options.stage,
    clients: options.clients,
    warmup: 50,
    requests: 0,
    mix: "echo",
  }, ours);
  try {
    await load.go();
    for (const fault of plan.slice(0, 3)) {
      await sleep(fault.afterMs);
      // After a fault it did not recover from, the next ones hit what is left.
      const pid = fault.kind === "dispatcher SIGKILL"
        ? a.dispatcher
        : a.workers[(fault.worker! - 1) % a.workers.length];
      if (pid === null || pid === undefined) continue;
      const signal = fault.kind === "worker SIGSTOP" ? "SIGSTOP" : "SIGKILL";
      progress(`  ${fault.kind.replace(/^worker/, `worker ${fault.worker}`)} (pid ${pid})`);
      const workers = a.workers.length;
      const started = processInfo(pid)?.startTicks;
      if (fault.kind === "worker SIGKILL") await holdWork(pid, started);
      const at = epochMs();
      const t0 = performance.now();
      sendSignal(pid, signal);
      let detectedMs: number | null = null;
      const after = await watchUntil(target, options.port, holdings, bound, (x) => {
        if (detectedMs === null && gone(pid, started, signal)) detectedMs = performance.now() - t0;
        return whole(x, workers, pid);
      });
      if (detectedMs === null && gone(pid, started, signal)) detectedMs = performance.now() - t0;
      const restartedMs = after.done ? performance.now() - t0 : null;
      outcomes.push({
        kind: fault.kind,
        pid,
        at,
        detectedMs,
        restartedMs,
        gapMs: 0,
        lost: 0,
        wrong: 0,
      });
      a = after.last;
      await sleep(1000);
    }
    await load.stop();
  } finally {
    await load.close();
  }
  attribute(outcomes, load.ticks, load.bad);
  for (const o of outcomes) checks.push(faultCheck(o, bound));
  // The supervisor: without load, so that what its death does to the clients is not counted.
  const last = await killSupervisor(
    target,
    a.supervisor ?? target.root.pid,
    plan[3].afterMs,
    progress,
  );
  outcomes.push(last.outcome);
  checks.push(last.check);
  return { checks, outcomes, ticks: load.ticks, bad: load.bad };
}

/** SIGKILL of the supervisor `afterMs` from now; 2 s later, what of its tree still runs. */
async function killSupervisor(
  target: Target,
  supervisor: number,
  afterMs: number,
  progress: (line: string) => void,
): Promise<{ outcome: FaultOutcome; check: CheckResult }> {
  await sleep(afterMs);
  progress(`  supervisor SIGKILL (pid ${supervisor})`);
  const at = epochMs();
  sendSignal(supervisor, "SIGKILL");
  await sleep(2000);
  const orphans = target.running().filter((p) => p.pid !== supervisor)
    .map((p) => `${p.pid} (${p.comm})`);
  const outcome: FaultOutcome = {
    kind: "supervisor SIGKILL",
    pid: supervisor,
    at,
    detectedMs: null,
    restartedMs: null,
    gapMs: 0,
    lost: 0,
    wrong: 0,
    orphans,
  };
  const check = verdictOf(
    "faults",
    "SIGKILL of the supervisor: no orphan 2 s later",
    orphans.length === 0,
    orphans.length
      ? `${count(orphans.length, "process", "processes")} of its tree still running: ${
        orphans.join(", ")
      }`
      : "every process of its tree gone",
  );
  return { outcome, check };
}

/**
 * Makes sure the worker `pid` holds a request when it is killed: stopped first, it is handed
 * requests (its dispatcher cannot tell yet) that it never answers, for {@link HOLD_MS}, well
 * below any heartbeat timeout. An echo takes microseconds: a worker killed at a random moment
 * of the load is idle almost every time, and would prove nothing about what it held.
 */
async function holdWork(pid: number, started: number | undefined): Promise<void> {
  if (processInfo(pid)?.startTicks !== started) return;
  sendSignal(pid, "SIGSTOP");
  await sleep(HOLD_MS);
}

/**
 * Whether the process hit by `signal` is gone (reaped: no process with its pid and start time),
 * or, stopped, no longer stopped.
 */
function gone(pid: number, started: number | undefined, signal: string): boolean {
  const info = processInfo(pid);
  if (info === null || info.startTicks !== started || info.state === "X") return true;
  return signal === "SIGSTOP" && info.state !== "T" && info.state !== "t";
}

/** Each fault's gap and bad requests, from the load's ticks and bad requests. */
function attribute(outcomes: FaultOutcome[], ticks: LoadTick[], bad: BadRequest[]): void {
  outcomes.forEach((o, i) => {
    const end = outcomes[i + 1]?.at ?? Infinity;
    const mine = bad.filter((b) => b.t >= o.at - 1000 && b.t < end - 1000);
    o.lost = mine.length;
    o.wrong = mine.filter((b) => b.kind === "wrong").length;
    let last = o.at;
    for (const t of ticks) {
      if (t.right === 0 || t.last < o.at) continue;
      if (t.first >= end) break;
      o.gapMs = Math.max(o.gapMs, t.first - last);
      last = t.last;
    }
  });
}

function faultCheck(o: FaultOutcome, bound: number): CheckResult {
  const name = {
    "worker SIGKILL": "SIGKILL of a worker holding requests: restarted, nothing lost",
    "worker SIGSTOP": "SIGSTOP of a worker (left stopped): replaced, nothing lost",
    "dispatcher SIGKILL": "SIGKILL of the dispatcher: restarted, nothing lost",
    "supervisor SIGKILL": "",
  }[o.kind];
  const ms = (v: number | null) => (v === null ? "never" : `after ${v.toFixed(0)} ms`);
  const parts = [
    `pid ${o.pid} ${o.kind.endsWith("SIGSTOP") ? "stopped" : "killed"}`,
    `${o.kind.endsWith("SIGSTOP") ? "no longer stopped" : "reaped"} ${ms(o.detectedMs)}`,
    `whole again ${o.restartedMs === null ? `not within ${bound / 1000} s` : ms(o.restartedMs)}`,
    `longest spell without an answer ${o.gapMs.toFixed(0)} ms`,
    `${o.lost} without their right answer${o.wrong ? ` (${o.wrong} wrong)` : ""}`,
  ];
  return verdictOf("faults", name, o.restartedMs !== null && o.lost === 0, parts.join("; "));
}
