/**
 * `main.ts up`: runs the system in the foreground until Ctrl-C or SIGTERM, then stops it in
 * phases and reports how every role ended and what was left.
 *
 * @module
 */

import { SignalQueue } from "../ipc/mod.ts";
import { formatLeftovers, isClean, startSystem } from "../scenarios/mod.ts";
import { type Command, intOption, logLevelOption, parse, stageOption } from "./common.ts";

const USAGE =
  `Usage: main.ts up [--stage S] [--workers N] [--port 2222] [--host 127.0.0.1] [options]

Runs the dispatcher and N workers in the foreground until Ctrl-C or SIGTERM, then stops cleanly:
the dispatcher first (it finishes in-flight requests), then the workers; every role is reaped and
the pipes and the shared segment are removed.

Options:
  --stage S             relay, worker-calls-client, client-calls-worker or ideal (default ideal)
  --workers N           1 to 64 (default 3)
  --port P              dispatcher port (default 2222; workers listen on P+1..P+N; 0: any free)
  --host H              address to listen on (default 127.0.0.1, loopback only)
  --queue-limit N       requests queued while all workers are busy (default 64); then ERR busy
  --request-timeout MS  ERR timeout for a request not served in time (default 10000)
  --claim-timeout MS    how long a reserved worker waits for its client (default 5000)
  --idle-timeout MS     close a connection that sends no request for that long (default 60000)
  --trace FILE          where every role writes its trace events, one JSON object per line
                        (default out/up/trace.jsonl, emptied at start)
  --log-level LEVEL     roles' stderr log level (default warning)`;

/** `main.ts up`. */
export const upCommand: Command = {
  summary: "run the system until Ctrl-C",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, {
      stage: { type: "string", default: "ideal" },
      workers: { type: "string" },
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      "queue-limit": { type: "string" },
      "request-timeout": { type: "string" },
      "claim-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      trace: { type: "string", default: "out/up/trace.jsonl" },
      "log-level": { type: "string", default: "warning" },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const stage = stageOption(values.stage);
    const workers = intOption("workers", values.workers, 3, 1, 64);
    const port = intOption("port", values.port, 2222, 0, 65535 - 64);
    const slash = values.trace.lastIndexOf("/");
    if (slash > 0) Deno.mkdirSync(values.trace.slice(0, slash), { recursive: true });
    Deno.writeTextFileSync(values.trace, "", { mode: 0o600 });
    // Listen for the stop signals before anything starts, so none is missed.
    using signals = new SignalQueue(["SIGINT", "SIGTERM"]);
    const system = await startSystem({
      stage,
      workers,
      port,
      host: values.host,
      queueLimit: intOption("queue-limit", values["queue-limit"], 64, 0, 1_000_000),
      requestTimeoutMs: intOption(
        "request-timeout",
        values["request-timeout"],
        10_000,
        1,
        3_600_000,
      ),
      claimTimeoutMs: intOption("claim-timeout", values["claim-timeout"], 5000, 1, 3_600_000),
      idleTimeoutMs: intOption("idle-timeout", values["idle-timeout"], 60_000, 1, 86_400_000),
      tracePath: values.trace,
      logLevel: logLevelOption(values["log-level"]),
    });
    console.log(
      `osps up: stage ${stage}, dispatcher ${system.host}:${system.port} (pid ${
        system.roles[0].pid
      })`,
    );
    for (const role of system.roles.slice(1)) {
      const k = Number(role.name.split(" ")[1]);
      const port = system.segment.slot(1 + k).get("port");
      console.log(
        `  ${role.name}: pid ${role.pid}${
          port ? `, port ${port}` : ""
        }, pipes dwtube${k}/wdtube${k}`,
      );
    }
    console.log(`  segment ${system.segmentName}, runtime directory ${system.runtime.path}`);
    if (system.tracePath) console.log(`  trace ${system.tracePath}`);
    console.log("Ctrl-C to stop.");
    const signal = await signals.next();
    console.log(`\n${signal}: stopping (dispatcher first, then workers)`);
    const report = await system.stop();
    for (const [name, s] of Object.entries(report.statuses)) {
      console.log(
        `  ${name}: exited with code ${s.code}${s.signal ? ` (signal ${s.signal})` : ""}, reaped`,
      );
    }
    for (const e of system.unexpectedExits) {
      console.log(`  ${e.name} had died during the run (code ${e.status.code})`);
    }
    for (const line of formatLeftovers(report.leftovers)) console.log(`  ${line}`);
    return isClean(report.leftovers) ? 0 : 1;
  },
};
