/**
 * `main.ts check`: checks any implementation of the course project (or osps itself), stage by
 * stage, and writes what it found.
 *
 * @module
 */

import {
  alternatingLoads,
  checkPage,
  checkStage,
  type Comparison,
  comparisonJson,
  formatComparison,
  formatStageReport,
  referenceCommand,
  stageJson,
  type StageReport,
  summaryLine,
} from "../check/mod.ts";
import type { Stage } from "../roles/mod.ts";
import { escapeXml } from "../scenarios/mod.ts";
import {
  type Command,
  interruptible,
  intOption,
  parse,
  stageOption,
  UsageError,
  usageShown,
} from "./common.ts";
import { defaultOut, shown, userPath, writableDir } from "./paths.ts";
import { dirname } from "node:path";

const USAGE =
  `Usage: deno task check [--stage S|all] [--port P] [--workers N] [--seed N] [--json FILE]
                       [--html FILE] [--compare] [-- COMMAND ARGS…]

Tests, measures and breaks an implementation of the course project: COMMAND (your system; in its
arguments {port}, {stage} and {workers} are replaced), or, with no COMMAND, osps itself ('up'
with the same options), the reference. For each stage (all three unless --stage says which; the
command is started again for each), it starts the command, waits until the port answers, and
runs, every step bounded:
  contract      docs/protocol.md over TCP: both request types, empty and spaced echoes, bad n,
                unknown types, 4096- and 4097-byte and endless lines, invalid UTF-8, CR LF,
                pipelined lines, a half-close, QUIT, and the stage's own flow (REDIRECT then the
                worker; LISTEN, WAIT, READY); each with what was sent and what came back
  load          8 clients, one dispatcher connection each, every answer verified, from a load
                generator of its own: requests/s, p50/p99, CPU per request of the whole tree
  architecture  read from /proc while it runs: who listens on the port, which processes map a
                shared segment, which hold which named pipe: the course's design or not
  cleanup       SIGTERM: stopped within 10 s? exit status 0? every child reaped? anything left
                running, and the pipes, segments and runtime directory it made still there?
  faults        (started again) under load, from the --seed schedule: a worker SIGKILLed while
                it holds requests (stopped 300 ms first, so that it does), a worker SIGSTOPped
                and left stopped, the dispatcher SIGKILLed: restarted? answers lost or wrong?
                Then the supervisor SIGKILLed: orphans 2 s later? And a new start over what
                it left: does it serve?
Whatever happens (a failure, Ctrl-C), every process of the command's tree is killed and reaped,
and what it left is removed.

  deno task check --stage ideal -- python3 my_server.py --port {port} --workers {workers}

Options:
  --stage S        relay, worker-calls-client, client-calls-worker (ideal), or all (default)
  --port P         the dispatcher's port (default: a free one, with P+1..P+N free too)
  --workers N      workers the command is told to run (default 4)
  --seed N         the fault schedule's seed (default 1), printed with the report
  --json FILE      the report as JSON: {stage, seed, checks: [{group, name, verdict, detail}],
                   load, architecture, faults, compare (with --compare)}; for several stages,
                   an array of them
  --html FILE      the report page (default out/check/report.html): the checks, the
                   architecture as a picture, requests/s and latency over time, faults marked
  --compare        then osps too, and the two measured in alternating rounds of the same load,
                   side by side: CPU per request, requests/s, p50/p99, recovery times, ratios
  --clients N      clients of the load (default 8)
  --requests N     measured requests per client (default 3000; 1000 of warm-up before)
  --start-timeout MS  how long the command may take to listen (default 20000)
Exit status: 0 if every check passed, 1 if one failed, 2 for a usage error, 130 when
interrupted (Ctrl-C).`;

/** `main.ts check`. */
export const checkCommand: Command = {
  summary: "test, measure and break an implementation of the course project (or osps)",
  usage: USAGE,
  run: async (args) => {
    const split = args.indexOf("--");
    const command = split < 0 ? [] : args.slice(split + 1);
    const { values } = parse(split < 0 ? args : args.slice(0, split), {
      stage: { type: "string" },
      port: { type: "string" },
      workers: { type: "string" },
      seed: { type: "string" },
      json: { type: "string" },
      html: { type: "string" },
      compare: { type: "boolean" },
      clients: { type: "string" },
      requests: { type: "string" },
      "start-timeout": { type: "string" },
    });
    if (values.help) return usageShown(USAGE);
    if (split >= 0 && command.length === 0) {
      throw new UsageError("nothing after --: give the command to check");
    }
    if (values.compare && command.length === 0) {
      throw new UsageError("--compare needs a command to compare with osps: -- COMMAND ARGS…");
    }
    const stages: Stage[] = values.stage === undefined || values.stage === "all"
      ? ["relay", "worker-calls-client", "client-calls-worker"]
      : [stageOption(values.stage)];
    const options = {
      port: intOption("port", values.port, 0, 1, 65535),
      workers: intOption("workers", values.workers, 4, 1, 64),
      seed: intOption("seed", values.seed, 1, 0, 2 ** 31),
      clients: intOption("clients", values.clients, 8, 1, 1000),
      requests: intOption("requests", values.requests, 3000, 1, 1_000_000),
      startTimeoutMs: intOption("start-timeout", values["start-timeout"], 20_000, 100, 600_000),
    };
    const warmup = Math.min(1000, options.requests);
    const html = userPath(values.html ?? `${defaultOut("check")}/report.html`);
    writableDir(dirname(html));
    const json = values.json === undefined ? undefined : userPath(values.json);
    if (json) writableDir(dirname(json));
    const mine = command.length ? command : referenceCommand();
    return await interruptible(async (signal) => {
      const reports: StageReport[] = [];
      const comparisons: Comparison[] = [];
      for (const stage of stages) {
        if (signal.aborted) break;
        const run = (cmd: string[]) =>
          checkStage({
            ...options,
            stage,
            command: cmd,
            warmup,
            signal,
            progress: (l) => console.log(l),
          });
        const report = await run(mine);
        reports.push(report);
        for (const line of formatStageReport(report)) console.log(line);
        if (!values.compare || signal.aborted) continue;
        const reference = await run(referenceCommand());
        for (const line of formatStageReport(reference)) console.log(line);
        if (signal.aborted) break;
        console.log(`compare ${stage}: alternating rounds…`);
        const loads = await alternatingLoads([
          { name: "yours", command },
          { name: "osps", command: referenceCommand() },
        ], {
          stage,
          workers: options.workers,
          clients: options.clients,
          requests: options.requests,
          warmup,
          signal,
        });
        if (loads === null) break;
        const comparison: Comparison = {
          stage,
          loads: [loads[0], loads[1]],
          checks: [report, reference],
        };
        comparisons.push(comparison);
        for (const line of formatComparison(comparison)) console.log(line);
      }
      const extra = comparisons.map((c) =>
        `<h2>compare ${c.stage}</h2><pre>${escapeXml(formatComparison(c).join("\n"))}</pre>`
      ).join("\n");
      Deno.writeTextFileSync(html, checkPage(reports, extra));
      console.log(`report: ${shown(html)}`);
      if (json) {
        const data = reports.map((r) => {
          const c = comparisons.find((c) => c.stage === r.stage);
          return c ? { ...stageJson(r), compare: comparisonJson(c) } : stageJson(r);
        });
        Deno.writeTextFileSync(
          json,
          JSON.stringify(data.length === 1 ? data[0] : data, null, 1) + "\n",
        );
        console.log(`json: ${shown(json)}`);
      }
      if (signal.aborted || reports.some((r) => r.interrupted)) {
        console.log("check: interrupted; everything it started was killed and removed");
        return 130;
      }
      const checks = reports.flatMap((r) => r.checks);
      console.log(summaryLine(checks));
      return checks.some((c) => c.verdict === "fail") ? 1 : 0;
    });
  },
};
