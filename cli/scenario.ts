/**
 * `main.ts scenario <name>`: the ping-pong exercise and the three stage scenarios, printed.
 *
 * @module
 */

import { describeExitField } from "../ipc/mod.ts";
import {
  expectedAnswer,
  FAILURE_SUMMARIES,
  type FailureName,
  type FailureReport,
  FAILURES,
  formatLeftovers,
  isClean,
  OPERATION_SUMMARIES,
  type OperationName,
  type OperationReport,
  OPERATIONS,
  type PingPongReport,
  type RequestRecord,
  type RoleOutcome,
  runFailureScenario,
  runOperationScenario,
  runPingPong,
  runStageScenario,
  stageScenarioPassed,
  type StageScenarioReport,
} from "../scenarios/mod.ts";
import {
  count,
  type FlagValues,
  helpEntry,
  optionFlags,
  optionHelp,
  optionValues,
} from "../roles/mod.ts";
import {
  type Command,
  describeStatus,
  interruptible,
  intOption,
  parse,
  stageOption,
  UsageError,
} from "./common.ts";
import { defaultOut, shown, userPath, writableDir } from "./paths.ts";

const STAGE_SCENARIOS: Record<string, string> = {
  relay: "the dispatcher relays through the shared segment: OK <result>",
  "worker-calls-client": "the worker calls the client back: LISTEN, WAIT, READY",
  ideal: "client-calls-worker, the ideal stage: REDIRECT, the client calls the worker",
  "client-calls-worker": "the same as ideal",
};

/** The system options a scenario takes (`roles/options.ts`). */
const SCENARIO_OPTIONS = ["workers", "queueLimit", "claimTimeoutMs", "logLevel"] as const;

const USAGE =
  `Usage: deno task scenario <name> [options]      (deno task scenario:<name> is the same)

The ping-pong exercise:
  pingpong               (seed questions 2.a/2.b) this process creates a private runtime directory
                         (0700), a shared segment and two named pipes (dwtube1, wdtube1), spawns a
                         child, and they exchange --count ping/pong messages, each with a counter
                         and timestamp in the segment. Then the child stops first and is reaped;
                         pipes, segment and directory are removed; it prints its proof: the child's
                         exit status, no zombie in /proc, nothing left.

The system in one stage — a dispatcher and --workers workers; --clients concurrent clients send
--requests requests each over one dispatcher connection; prints a timeline of the first messages
(who → whom, over TCP, pipe or shared memory), a summary (requests, OK, ERR by code, p50/p99) and
the proof that nothing was left:
${Object.entries(STAGE_SCENARIOS).map(([n, d]) => `  ${n.padEnd(22)} ${d}`).join("\n")}

Failures under load (--stage, default ideal) — each prints the watchdog's timeline around the
fault, the detection time, the time until served again, and its checks: every request answered
right, no zombie, orphan or leftover:
${FAILURES.map((n) => `  ${n.padEnd(22)} ${FAILURE_SUMMARIES[n]}`).join("\n")}

Operations under load (--stage, default ideal; 4 workers, 8 clients) — each prints the watchdog's
timeline from the operation on, and its checks: every request answered right, none lost, no
connection refused (a prober connects every 10 ms), nothing left:
${OPERATIONS.map((n) => `  ${n.padEnd(22)} ${OPERATION_SUMMARIES[n]}`).join("\n")}

Each run writes its trace (trace.jsonl) and its sequence diagram (trace.sequence.md, Mermaid, and
trace.sequence.html) into --out, by default the repository's out/<name>/.

Options:
${
    [
      helpEntry(
        "--out DIR",
        "where the trace and diagrams go (default: out/<name> in the repository)",
      ),
      helpEntry("--count N", "pingpong: exchanges, 1 to 1000000 (default 10)"),
      helpEntry(
        "--stage S",
        "failures and operations: relay, worker-calls-client, client-calls-worker or ideal " +
          "(default ideal)",
      ),
      helpEntry("--clients N", "concurrent clients (default 4)"),
      helpEntry("--requests N", "stages: requests per client (default 5)"),
      optionHelp(SCENARIO_OPTIONS),
    ].join("\n")
  }
  ERR busy past the queue limit is the specified back-pressure, counted as such (not as a wrong
  answer).
Exit status: 0 when every answer was right and nothing was left behind, 1 otherwise,
130 when interrupted (Ctrl-C): the run stops where it is, everything is stopped and removed.`;

/** At most this many examples of one kind of failure are printed; the rest are counted. */
const SAMPLES = 5;

/** Prints the first {@link SAMPLES} of `items` with `line`, then how many more there were. */
function printSamples<T>(items: T[], line: (item: T) => string): void {
  for (const item of items.slice(0, SAMPLES)) console.log(`  ${line(item)}`);
  if (items.length > SAMPLES) console.log(`  … and ${items.length - SAMPLES} more`);
}

function printFiles(files: { trace: string; markdown: string; html: string }): void {
  console.log(
    `files: trace ${shown(files.trace)}, diagram ${shown(files.markdown)}, page ${
      shown(files.html)
    }`,
  );
}

function printPingPong(report: PingPongReport): boolean {
  const status = report.childStatus;
  const clean = isClean(report.leftovers);
  console.log(
    "\nstop: child told to stop first, then reaped; then pipes, segment, directory removed",
  );
  console.log("proof:");
  console.log(
    `  child pid ${report.childPid}: ` +
      (status === null ? "no exit status (never reaped)" : describeStatus(status)),
  );
  for (const line of formatLeftovers(report.leftovers)) console.log(`  ${line}`);
  const complete = report.aborted || report.exchanges.length === report.count;
  const ok = report.error === null && complete && status?.success === true && clean;
  const rtts = report.exchanges.map((e) => e.rttUs).sort((a, b) => a - b);
  if (rtts.length > 0) {
    console.log(`  round trips: ${rtts.length}, median ${rtts[rtts.length >> 1].toFixed(0)} µs`);
  }
  if (report.error !== null) console.log(`  error: ${report.error}`);
  if (report.aborted) {
    console.log(`  interrupted after ${report.exchanges.length} of ${report.count} exchanges`);
  }
  if (report.files) printFiles(report.files);
  console.log(
    report.aborted && clean
      ? "result: interrupted; everything was stopped and removed"
      : ok
      ? "result: OK"
      : `result: FAILED${clean ? "" : " (leftovers above)"}`,
  );
  return ok;
}

async function pingpong(count: number, logLevel: string, outDir: string): Promise<number> {
  const report = await interruptible((signal) =>
    runPingPong({
      count,
      signal,
      logLevel,
      outDir,
      onStart: (s) =>
        console.log(
          `ping-pong: ${count} exchanges; parent pid ${Deno.pid}, child pid ${s.childPid}\n` +
            `  segment ${s.segment} (mailbox 1), pipes in ${s.runtimeDir}: ` +
            `dwtube1 parent→child, wdtube1 child→parent`,
        ),
      onExchange: (e) =>
        console.log(
          `  #${String(e.n).padStart(3)}  ping → dwtube1 (shm seq ${e.n})` +
            `  pong ← wdtube1 (shm seq ${e.n})  child stamp +${e.childStampUs.toFixed(0)} µs` +
            `  rtt ${e.rttUs.toFixed(0)} µs`,
        ),
    })
  );
  const ok = printPingPong(report);
  return report.aborted ? 130 : ok ? 0 : 1;
}

/** ERR answers by code, and the requests that got no answer, as a line. */
function answersByCode(records: RequestRecord[]): string {
  const errs: Record<string, number> = {};
  for (const rec of records) {
    const code = rec.got === null ? "no answer" : /^ERR (\S+)/.exec(rec.got)?.[1];
    if (code) errs[code] = (errs[code] ?? 0) + 1;
  }
  return Object.entries(errs).map(([c, n]) => `${c} ${n}`).join(", ") || "none";
}

/** Prints a failure scenario's report; returns whether it passed. */
export function printFailureReport(r: FailureReport): boolean {
  console.log(`\ntimeline around the fault (trace: ${shown(r.tracePath)}):`);
  for (const line of r.timeline) console.log(`  ${line}`);
  const latencies = r.records.map((x) => x.latencyMs).sort((a, b) => a - b);
  console.log("\nsummary:");
  if (r.interrupted) {
    console.log("  interrupted before the checks of the fault; what it left is checked below");
  } else {
    const recovery = r.markedFailedMs !== null
      ? `marked failed ${r.markedFailedMs.toFixed(0)} ms after the fault`
      : `served again ${
        r.servedAgainMs === null ? "never" : `${r.servedAgainMs.toFixed(0)} ms after the fault`
      }`;
    console.log(
      `  detection ${
        r.detectionMs === null ? "never" : `${r.detectionMs.toFixed(1)} ms`
      }, ${recovery}`,
    );
  }
  console.log(
    `  requests ${r.records.length}, ERR or missing: ${answersByCode(r.records)}, ` +
      `max latency ${(latencies.at(-1) ?? 0).toFixed(0)} ms`,
  );
  console.log("checks:");
  for (const c of r.checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.what}: ${c.detail}`);
  printFiles({ trace: r.tracePath, ...r.diagram });
  const clean = r.checks.every((c) => c.ok);
  console.log(
    r.interrupted
      ? `result: interrupted${clean ? "; everything was stopped and removed" : " (see above)"}`
      : r.passed
      ? "result: OK"
      : "result: FAILED",
  );
  return r.passed;
}

/** Prints an operation scenario's report; returns whether it passed. */
function printOperationReport(r: OperationReport): boolean {
  console.log(`\nthe watchdog from the operation on (trace: ${shown(r.tracePath)}):`);
  for (const line of r.timeline) console.log(`  ${line}`);
  const latencies = r.records.map((x) => x.latencyMs).sort((a, b) => a - b);
  console.log("\nsummary:");
  console.log(
    `  requests ${r.records.length}, ERR or missing: ${answersByCode(r.records)}, ` +
      `max latency ${(latencies.at(-1) ?? 0).toFixed(0)} ms, longest spell without a right ` +
      `answer ${r.outageMs.toFixed(0)} ms; connections refused ${r.connections.refused} of ` +
      `${r.connections.refused + r.connections.accepted}`,
  );
  console.log("checks:");
  for (const c of r.checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.what}: ${c.detail}`);
  printFiles({ trace: r.tracePath, ...r.diagram });
  console.log(r.interrupted ? "result: interrupted" : r.passed ? "result: OK" : "result: FAILED");
  return r.passed;
}

/** A role's end as its watchdog recorded it, as a line. */
export function describeOutcome(o: RoleOutcome): string {
  return `${describeExitField(o.exit)}, reaped by the watchdog; ${count(o.restarts, "restart")}${
    o.failed ? ", marked failed" : ""
  }`;
}

/** Prints a stage scenario's report; returns whether it passed. */
export function printStageReport(r: StageScenarioReport, queueLimit: number): boolean {
  console.log(`\ntimeline of the first messages (trace: ${shown(r.tracePath)}):`);
  for (const line of r.timeline) console.log(`  ${line}`);
  console.log("\nsummary:");
  const errs = Object.entries(r.errors).map(([code, n]) => `${code} ${n}`).join(", ") || "none";
  console.log(`  requests ${r.sent}, OK ${r.ok}, ERR by code: ${errs}, no answer ${r.missing}`);
  if (r.busy > 0) {
    console.log(
      `  ERR busy ${r.busy}: back-pressure, the specified answer when every worker is busy and ` +
        `${queueLimit} requests are queued (--queue-limit, or fewer --clients); not a failure`,
    );
  }
  console.log(`  latency p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`);
  printSamples(
    r.wrong,
    (w) =>
      `WRONG: client ${w.client} ${JSON.stringify(w.line)} → ${w.got}, expected ${
        expectedAnswer(w.line)
      }`,
  );
  printSamples(
    r.records.filter((x) => x.got === null),
    (m) => `NO ANSWER: client ${m.client} ${JSON.stringify(m.line)}: ${m.failure}`,
  );
  printSamples(r.unexpectedExits, (e) => `ROLE DIED: ${e}`);
  console.log("stop:");
  console.log(`  watchdog: ${describeStatus(r.stop.watchdog)}`);
  for (const [name, o] of Object.entries(r.stop.roles)) {
    console.log(`  ${name}: ${describeOutcome(o)}`);
  }
  for (const line of formatLeftovers(r.stop.leftovers)) console.log(`  ${line}`);
  const ok = stageScenarioPassed(r);
  printFiles({ trace: r.tracePath, ...r.diagram });
  console.log(
    r.interrupted
      ? `result: interrupted after ${count(r.sent, "request")}${
        isClean(r.stop.leftovers) ? "; everything was stopped and removed" : " (see above)"
      }`
      : ok
      ? "result: OK"
      : "result: FAILED",
  );
  return ok;
}

/** `main.ts scenario`. */
export const scenarioCommand: Command = {
  summary: "run a scripted scenario: pingpong, a stage (relay, worker-calls-client, ideal), " +
    "a failure (worker-crash, …, crash-loop) or an operation (reload, scale, recycle, strategy)",
  usage: USAGE,
  run: async (args) => {
    const [name, ...rest] = args;
    const { values } = parse(rest, {
      out: { type: "string" },
      count: { type: "string" },
      stage: { type: "string" },
      clients: { type: "string" },
      requests: { type: "string" },
      ...optionFlags(SCENARIO_OPTIONS),
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (name === undefined) {
      throw new UsageError(
        `which scenario? pingpong, ${Object.keys(STAGE_SCENARIOS).join(", ")}, ${
          FAILURES.join(", ")
        }, ${OPERATIONS.join(", ")}`,
      );
    }
    const operation = (OPERATIONS as readonly string[]).includes(name);
    const known = name === "pingpong" || name in STAGE_SCENARIOS || operation ||
      (FAILURES as readonly string[]).includes(name);
    if (!known) throw new UsageError(`unknown scenario ${JSON.stringify(name)}`);
    const { workers, queueLimit, claimTimeoutMs, logLevel } = optionValues(
      SCENARIO_OPTIONS,
      values,
    );
    const count = intOption("count", values.count, 10, 1, 1_000_000);
    const clients = intOption("clients", values.clients, 4, 1, 1000);
    const requests = intOption("requests", values.requests, 5, 1, 100_000);
    const stage = stageOption(values.stage ?? "ideal");
    // Where it writes is checked before anything starts: a read-only checkout gets one line.
    const outDir = writableDir(values.out === undefined ? defaultOut(name) : userPath(values.out));
    if (name === "pingpong") return await pingpong(count, logLevel, outDir);
    if (operation) {
      console.log(`scenario ${name}: stage ${stage}, 4 workers, 8 clients under load`);
      const report = await interruptible((signal) =>
        runOperationScenario({ name: name as OperationName, stage, outDir, signal })
      );
      const passed = printOperationReport(report);
      return report.interrupted ? 130 : passed ? 0 : 1;
    }
    if (!(name in STAGE_SCENARIOS)) {
      console.log(`scenario ${name}: stage ${stage}, ${workers} workers under load`);
      const report = await interruptible((signal) =>
        runFailureScenario({
          name: name as FailureName,
          stage,
          workers,
          clients,
          queueLimit,
          claimTimeoutMs,
          outDir,
          // Unless asked, the roles log only errors: the scenario's faults are expected.
          logLevel: (values as FlagValues)["log-level"] === undefined ? undefined : logLevel,
          signal,
        })
      );
      const passed = printFailureReport(report);
      return report.interrupted ? 130 : passed ? 0 : 1;
    }
    const scenarioStage = stageOption(name);
    console.log(
      `scenario ${name}: stage ${scenarioStage}, ${workers} workers, ` +
        `${clients} clients × ${requests} requests`,
    );
    const report = await interruptible((signal) =>
      runStageScenario({
        stage: scenarioStage,
        workers,
        clients,
        requests,
        queueLimit,
        claimTimeoutMs,
        outDir,
        logLevel,
        signal,
      })
    );
    const ok = printStageReport(report, queueLimit);
    return report.interrupted ? 130 : ok ? 0 : 1;
  },
};
