/**
 * `main.ts up`: this process becomes the instance's watchdog and runs the system in the foreground
 * until Ctrl-C or SIGTERM, then stops it in phases and reports how every role ended and that
 * nothing was left.
 *
 * @module
 */

import { defaultRuntimeBase, InstanceLockedError } from "../ipc/mod.ts";
import {
  count,
  defaultInstance,
  freshTraceFile,
  helpEntry,
  instancePaths,
  ListenError,
  optionHelp,
  runWatchdog,
  setupLogging,
  WATCHDOG_FLAGS,
  WATCHDOG_OPTION_KEYS,
  watchdogOptions,
  WatchdogStartError,
} from "../roles/mod.ts";
import { checkLeftovers, formatLeftovers, isClean } from "../scenarios/mod.ts";
import { observeAddress, Observer } from "../observe/mod.ts";
import { dirname } from "node:path";
import { type Command, describeStatus, parse, typed, usageShown } from "./common.ts";
import { shown, userPath, writableDir } from "./paths.ts";

const USAGE =
  `Usage: deno task up [--stage S] [--workers N] [--port 2222] [--host 127.0.0.1] [options]

Runs the system in the foreground, this process being its watchdog, until Ctrl-C or SIGTERM. The
watchdog takes the instance's lock, creates the runtime directory, the shared segment and the
pipes, listens on the dispatcher's port itself (the dispatcher inherits the socket: while it
restarts, connections wait in the backlog), starts the dispatcher and the workers, restarts any
that crashes or freezes (heartbeat older than --heartbeat-timeout), and on Ctrl-C stops the
dispatcher first (it finishes in-flight requests within --grace), then the workers; every role is
reaped and everything is removed. SIGHUP (or 'deno task reload') replaces every role, one at a
time, with the code as it is on disk now; SIGTTIN and SIGTTOU (or 'deno task scale N') add and
remove workers.
A second 'up' for the same instance refuses and names the running pid; after a watchdog that was
killed, the next 'up' removes what it left and starts.

Options:
${optionHelp(WATCHDOG_OPTION_KEYS)}
${
    helpEntry(
      "--observe [HOST:]PORT",
      "serve a live page of the instance on HOST (default 127.0.0.1): every role, the messages " +
        "(with --trace), the watchdog's reactions, buttons to signal the roles, scale, reload and " +
        "run a load; the line 'observe: URL' gives its address with the token every action needs " +
        "(docs/observe.md)",
    )
  }`;

/** `main.ts up`. */
export const upCommand: Command = {
  summary: "run the system under its watchdog until Ctrl-C",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, { ...WATCHDOG_FLAGS, observe: { type: "string" } });
    if (values.help) return usageShown(USAGE);
    const given = watchdogOptions(values);
    const observeAt = values.observe === undefined ? null : observeAddress(values.observe);
    const instance = given.instance || defaultInstance(given.port);
    const options = {
      ...given,
      instance,
      runtimeBase: defaultRuntimeBase(),
      // Taken from where the user stands, and absolute: every role writes the same file.
      trace: given.trace === "" ? "" : userPath(given.trace),
    };
    if (options.trace !== "") writableDir(dirname(options.trace));
    const { stage } = options;
    const paths = instancePaths(instance, options.runtimeBase);
    // This process is the watchdog: its own log lines and trace events, like every role's.
    setupLogging(
      options.logLevel,
      options.trace === "" ? undefined : {
        path: freshTraceFile(options.trace),
        role: "watchdog",
        maxBytes: options.traceMaxBytes,
      },
      "watchdog",
    );
    // The observer listens first: a port it cannot have stops the start before any role runs.
    let dispatcherPort = options.port;
    let observer: Observer | null = null;
    if (observeAt !== null) {
      try {
        observer = Observer.start({
          ...observeAt,
          paths,
          stage,
          dispatcher: () => ({ host: connectableHost(options.host), port: dispatcherPort }),
          trace: options.trace,
          traceMaxBytes: options.traceMaxBytes,
          heartbeatTimeoutMs: options.heartbeatTimeoutMs!,
        });
      } catch (e) {
        const hint = e instanceof Deno.errors.NotCapable
          ? `; run main.ts with --allow-net=${observeAt.hostname} to serve there`
          : "";
        console.error(
          `error: cannot serve the observer on ${values.observe}: ${(e as Error).message}${hint}`,
        );
        return 1;
      }
    }
    let report;
    try {
      report = await runWatchdog(options, (ready) => {
        dispatcherPort = ready.port;
        observer?.attach(ready.watchdog);
        console.log(
          `osps up: stage ${stage}, dispatcher ${options.host}:${ready.port} (pid ${ready.pids.dispatcher}), ` +
            `watchdog pid ${Deno.pid}, instance ${ready.paths.name}`,
        );
        for (let k = 1; k <= options.workers; k++) {
          const name = `worker ${k}`;
          const p = ready.ports[name] ? `, port ${ready.ports[name]}` : "";
          console.log(`  ${name}: pid ${ready.pids[name]}${p}, pipes dwtube${k}/wdtube${k}`);
        }
        const trace = options.trace === ""
          ? "no trace (--trace FILE to record one)"
          : `trace ${shown(options.trace)} (bound ${options.traceMaxBytes} bytes, then ${
            shown(options.trace)
          }.1)`;
        console.log(
          `  segment ${ready.paths.segment}, runtime directory ${ready.paths.dir}, ${trace}`,
        );
        if (ready.standby !== null) {
          console.log(
            `  standby: pid ${ready.standby}, takes the place of the next role to restart`,
          );
        }
        if (observer !== null) console.log(`observe: ${observer.url}`);
        const port = ready.port === 2222 ? "" : ` --port ${ready.port}`;
        const name = options.instance === String(ready.port) ? port : ` --instance ${instance}`;
        console.log(`Ctrl-C to stop; '${typed(`status${name}`)}' shows the roles.`);
      }, (reason) => {
        if (reason !== "SIGINT" && reason !== "SIGTERM") return;
        console.log(
          `\n${reason}: stopping — the dispatcher first (in-flight requests get up to ` +
            `${options.graceMs} ms), then the workers; Ctrl-C again to kill every role at once`,
        );
      });
    } catch (e) {
      if (e instanceof InstanceLockedError || e instanceof WatchdogStartError) {
        console.error(`error: ${e.message}`);
        return 1;
      }
      if (e instanceof ListenError) {
        console.error(`${e.who}: ${e.message}`);
        return 1;
      }
      throw e;
    } finally {
      await observer?.close();
    }
    const signal = report.reason === "SIGINT" || report.reason === "SIGTERM";
    const escalated = report.escalated;
    console.log(
      !signal
        ? `\nstopped the instance: ${report.reason}`
        : escalated === null
        ? `${report.reason}: stopped in order (dispatcher first, then workers)`
        : `${report.reason}: the stop was cut short by a second ${escalated.signal} after ` +
          `${(escalated.afterMs / 1000).toFixed(1)} s: every role still running was killed`,
    );
    for (const [name, s] of Object.entries(report.statuses)) {
      const end = s === null ? "never ran" : describeStatus(s);
      console.log(
        `  ${name}: ${end}; ${count(report.restarts[name], "restart")}${
          report.failed.includes(name) ? ", marked failed" : ""
        }`,
      );
    }
    for (const s of report.standby) console.log(`  standby: ${describeStatus(s)}`);
    const leftovers = checkLeftovers({
      pids: report.pids,
      paths: [paths.dir],
      segments: [paths.segment],
    });
    for (const line of formatLeftovers(leftovers)) console.log(`  ${line}`);
    return signal && escalated === null && isClean(leftovers) ? 0 : 1;
  },
};

/** An address a client on this machine can connect to, for a server listening on `host`. */
function connectableHost(host: string): string {
  return host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
}
