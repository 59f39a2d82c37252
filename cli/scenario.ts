/**
 * `main.ts scenario <name>`: the ping-pong exercise and the three stage scenarios, printed.
 *
 * @module
 */

import { describeExitField } from "../ipc/mod.ts";
import {
  expectedAnswer,
  type FailureName,
  type FailureReport,
  FAILURES,
  formatLeftovers,
  isClean,
  type PingPongReport,
  type RoleOutcome,
  runFailureScenario,
  runPingPong,
  runStageScenario,
  stageScenarioPassed,
  type StageScenarioReport,
} from "../scenarios/mod.ts";
import { count } from "../roles/mod.ts";
import {
  type Command,
  describeStatus,
  interruptible,
  intOption,
  logLevelOption,
  parse,
  stageOption,
  UsageError,
} from "./common.ts";

const USAGE = `Usage: main.ts scenario <name> [options]

Scenarios:
  pingpong [--count N]   the ping-pong exercise (seed questions 2.a/2.b): this process creates a
                         private runtime directory (0700), a shared segment and two named pipes
                         (dwtube1, wdtube1), spawns a child, and they exchange N ping/pong messages
                         (default 10), each with a counter and timestamp in the segment. Then the
                         child stops first and is reaped; pipes, segment and directory are removed;
                         the run prints its proof: the child's exit status, no zombie in /proc,
                         nothing left. Ctrl-C stops early, in the same order.
  worker-crash           failures under load (--stage, default ideal): SIGKILL a worker;
  worker-freeze          SIGSTOP a worker (caught by its heartbeat); SIGKILL the dispatcher;
  dispatcher-crash       SIGKILL the watchdog (no orphan; the next start cleans up); a worker
  watchdog-crash         that dies at every start (backoff, then marked failed). Each prints the
  crash-loop             watchdog's timeline, detection time, time until served again, and its
                         checks: every request answered right, no zombie, orphan or leftover.
  relay                  the system in one stage: a dispatcher and 3 workers; 4 concurrent clients
  worker-calls-client    send 5 requests each over one dispatcher connection; prints a timeline of
  ideal                  the first messages (who → whom, over TCP, pipe or shared memory), a
  (client-calls-worker)  summary (requests, OK, ERR by code, p50/p99 latency) and the leftover
                         check. The trace is written to out/<stage>/trace.jsonl.

Options:
  --count N          pingpong: exchanges, 1 to 1000000 (default 10)
  --stage S          failures: the stage (default ideal)
  --workers N        stages: workers, 1 to 64 (default 3)
  --clients N        stages: concurrent clients (default 4)
  --requests N       stages: requests per client (default 5)
  --log-level LEVEL  the roles' stderr log level (default warning)
Exit status: 0 when every answer was right and nothing was left behind, 1 otherwise,
130 when interrupted.`;

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
  if (report.files) {
    console.log(
      `files: trace ${report.files.trace}, diagram ${report.files.markdown}, page ${report.files.html}`,
    );
  }
  console.log(ok ? "result: OK" : `result: FAILED${clean ? "" : " (leftovers above)"}`);
  return ok;
}

async function pingpong(values: { count?: string; "log-level": string }): Promise<number> {
  const count = intOption("count", values.count, 10, 1, 1_000_000);
  const logLevel = logLevelOption(values["log-level"]);
  const report = await interruptible((signal) =>
    runPingPong({
      count,
      signal,
      logLevel,
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

/** Prints a failure scenario's report; returns whether it passed. */
export function printFailureReport(r: FailureReport): boolean {
  console.log(`\ntimeline around the fault (trace: ${r.tracePath}):`);
  for (const line of r.timeline) console.log(`  ${line}`);
  const errs: Record<string, number> = {};
  for (const rec of r.records) {
    const code = rec.got === null ? "no answer" : /^ERR (\S+)/.exec(rec.got)?.[1];
    if (code) errs[code] = (errs[code] ?? 0) + 1;
  }
  const latencies = r.records.map((x) => x.latencyMs).sort((a, b) => a - b);
  console.log("\nsummary:");
  console.log(
    `  detection ${r.detectionMs === null ? "never" : `${r.detectionMs.toFixed(1)} ms`}, ` +
      `served again ${
        r.servedAgainMs === null ? "never" : `${r.servedAgainMs.toFixed(0)} ms`
      } after the fault`,
  );
  console.log(
    `  requests ${r.records.length}, ERR or missing: ${
      Object.entries(errs).map(([c, n]) => `${c} ${n}`).join(", ") || "none"
    }, ` +
      `max latency ${(latencies.at(-1) ?? 0).toFixed(0)} ms`,
  );
  console.log("checks:");
  for (const c of r.checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.what}: ${c.detail}`);
  console.log(`files: trace ${r.tracePath}, diagram ${r.diagram.markdown}, page ${r.diagram.html}`);
  console.log(r.passed ? "result: OK" : "result: FAILED");
  return r.passed;
}

/** A role's end as its watchdog recorded it, as a line. */
export function describeOutcome(o: RoleOutcome): string {
  return `${describeExitField(o.exit)}, reaped by the watchdog; ${count(o.restarts, "restart")}${
    o.failed ? ", marked failed" : ""
  }`;
}

/** Prints a stage scenario's report; returns whether it passed. */
export function printStageReport(r: StageScenarioReport): boolean {
  console.log(`\ntimeline of the first messages (trace: ${r.tracePath}):`);
  for (const line of r.timeline) console.log(`  ${line}`);
  console.log("\nsummary:");
  const errs = Object.entries(r.errors).map(([code, n]) => `${code} ${n}`).join(", ") || "none";
  console.log(`  requests ${r.sent}, OK ${r.ok}, ERR by code: ${errs}, no answer ${r.missing}`);
  console.log(`  latency p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`);
  for (const w of r.wrong) {
    console.log(
      `  WRONG: client ${w.client} ${JSON.stringify(w.line)} → ${w.got}, expected ${
        expectedAnswer(w.line)
      }`,
    );
  }
  for (const m of r.records.filter((x) => x.got === null)) {
    console.log(`  NO ANSWER: client ${m.client} ${JSON.stringify(m.line)}: ${m.failure}`);
  }
  for (const e of r.unexpectedExits) console.log(`  ROLE DIED: ${e}`);
  console.log("stop:");
  console.log(`  watchdog: ${describeStatus(r.stop.watchdog)}`);
  for (const [name, o] of Object.entries(r.stop.roles)) {
    console.log(`  ${name}: ${describeOutcome(o)}`);
  }
  for (const line of formatLeftovers(r.stop.leftovers)) console.log(`  ${line}`);
  const ok = stageScenarioPassed(r);
  console.log(`files: trace ${r.tracePath}, diagram ${r.diagram.markdown}, page ${r.diagram.html}`);
  console.log(ok ? "result: OK" : "result: FAILED");
  return ok;
}

/** `main.ts scenario`. */
export const scenarioCommand: Command = {
  summary: "run a scripted scenario: pingpong, relay, worker-calls-client, ideal",
  usage: USAGE,
  run: async (args) => {
    const [name, ...rest] = args;
    const { values } = parse(rest, {
      count: { type: "string" },
      stage: { type: "string" },
      workers: { type: "string" },
      clients: { type: "string" },
      requests: { type: "string" },
      "log-level": { type: "string", default: "warning" },
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (name === "pingpong") return await pingpong(values);
    if ((FAILURES as readonly string[]).includes(name ?? "")) {
      const stage = stageOption(values.stage ?? "ideal");
      const workers = intOption("workers", values.workers, 3, 1, 64);
      console.log(`scenario ${name}: stage ${stage}, ${workers} workers under load`);
      const clients = intOption("clients", values.clients, 4, 1, 1000);
      const logLevel = values["log-level"] === "warning"
        ? undefined
        : logLevelOption(values["log-level"]);
      let aborted = false;
      const report = await interruptible((signal) => {
        signal.addEventListener("abort", () => aborted = true);
        return runFailureScenario({
          name: name as FailureName,
          stage,
          workers,
          clients,
          logLevel,
          signal,
        });
      });
      if (aborted) {
        printFailureReport(report);
        return 130;
      }
      return printFailureReport(report) ? 0 : 1;
    }
    if (name === undefined) throw new UsageError("which scenario?");
    let stage;
    try {
      stage = stageOption(name);
    } catch {
      throw new UsageError(`unknown scenario ${JSON.stringify(name)}`);
    }
    const workers = intOption("workers", values.workers, 3, 1, 64);
    const clients = intOption("clients", values.clients, 4, 1, 1000);
    const requests = intOption("requests", values.requests, 5, 1, 100_000);
    const logLevel = logLevelOption(values["log-level"]);
    console.log(
      `scenario ${name}: stage ${stage}, ${workers} workers, ${clients} clients × ${requests} requests`,
    );
    let aborted = false;
    const report = await interruptible((signal) => {
      signal.addEventListener("abort", () => aborted = true);
      return runStageScenario({ stage, workers, clients, requests, logLevel, signal });
    });
    const ok = printStageReport(report);
    return aborted ? 130 : ok ? 0 : 1;
  },
};
