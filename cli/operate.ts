/**
 * `main.ts reload` and `main.ts scale`: a running instance's rolling reload (SIGHUP to its
 * watchdog) and its scaling (SIGTTIN, SIGTTOU), each followed until done, as the registry shows
 * it.
 *
 * @module
 */

import { MAX_WORKERS, sendSignal, type SharedSegment } from "../ipc/mod.ts";
import {
  readStatus,
  RELOAD_SIGNAL,
  type RoleStatus,
  scaleBySignals,
  sleep,
  watchdogOf,
  workersNow,
} from "../roles/mod.ts";
import {
  type Command,
  INSTANCE_FLAGS,
  intOption,
  namedInstance,
  parse,
  runningSegment,
  UsageError,
  usageShown,
} from "./common.ts";

const RELOAD_USAGE = `Usage: deno task reload [--port 2222 | --instance NAME] [--timeout MS]

A rolling reload of a running instance, which runs the code as it is on disk now: reload sends its
watchdog SIGHUP. The watchdog starts a new standby process, which loads the code; once it has, the
first worker is drained (no new request; it finishes what it holds, then leaves) and the standby
takes its slot; once that one is ready, the next worker, …, the dispatcher last (connections made
meanwhile wait in the listening socket's backlog: none is refused). Capacity never drops below one
worker less. If the new code does not load, the reload stops and the old processes go on serving
(the watchdog's log says why).

reload waits until every role runs a new process, at most --timeout ms (default 60000), and says
how each came back.

Options:
  --port P          the instance started with this port (default 2222)
  --instance NAME   the instance's name, if it was given one at 'up'
  --timeout MS      how long to wait for the reload (default 60000)
Exit status: 0 when every role was replaced, 1 otherwise or if no instance runs.`;

const SCALE_USAGE = `Usage: deno task scale N [--port 2222 | --instance NAME] [--timeout MS]

Scales a running instance to N workers (1 to its --max-workers, 64 by default). A worker added
gets the next free slot, its pipes and its port, and takes work once ready; a worker removed (the
last ones first) gets no new request, finishes what it holds (reservations included), then leaves,
and its slot and pipes go. By hand, SIGTTIN to the watchdog adds one worker and SIGTTOU removes
one; scale sends them one at a time and waits, at most --timeout ms (default 20000), until N
workers are ready.

Options:
  --port P          the instance started with this port (default 2222)
  --instance NAME   the instance's name, if it was given one at 'up'
  --timeout MS      how long to wait for the workers (default 20000)
Exit status: 0 when N workers are ready, 1 otherwise or if no instance runs.`;

/** The roles of the instance, as its registry shows them now. */
function rolesOf(segment: SharedSegment): RoleStatus[] {
  return (readStatus(segment.name)?.roles ?? []).filter((r) => r.role !== "standby");
}

/** `main.ts reload`. */
export const reloadCommand: Command = {
  summary: "replace every role of a running instance, one at a time, nothing lost",
  usage: RELOAD_USAGE,
  run: async (args) => {
    const { values } = parse(args, { ...INSTANCE_FLAGS, timeout: { type: "string" } });
    if (values.help) return usageShown(RELOAD_USAGE);
    const { instance, paths } = namedInstance(values);
    const timeoutMs = intOption("timeout", values.timeout, 60_000, 100, 3_600_000);
    using segment = runningSegment(instance, paths);
    const before = new Map(
      rolesOf(segment).filter((r) => r.role !== "watchdog").map((r) => [r.role, r.pid]),
    );
    const t0 = performance.now();
    sendSignal(watchdogOf(paths.lock, segment), RELOAD_SIGNAL);
    const replaced = (r: RoleStatus) => r.pid !== before.get(r.role) && r.state === "ready";
    let roles: RoleStatus[] = [];
    while (performance.now() - t0 < timeoutMs) {
      roles = rolesOf(segment).filter((r) => before.has(r.role));
      if (roles.length === before.size && roles.every(replaced)) break;
      await sleep(20);
    }
    const done = roles.length === before.size && roles.every(replaced);
    for (const r of roles) {
      console.log(
        replaced(r)
          ? `${r.role}: pid ${before.get(r.role)} → ${r.pid}, ready`
          : `${r.role}: still pid ${r.pid} (${r.state})`,
      );
    }
    console.log(
      done
        ? `reloaded in ${Math.round(performance.now() - t0)} ms`
        : `not every role was replaced within ${timeoutMs} ms: the reload stopped or is slow ` +
          `(the watchdog's log says why)`,
    );
    return done ? 0 : 1;
  },
};

/** `main.ts scale`. */
export const scaleCommand: Command = {
  summary: "add or remove workers of a running instance, nothing lost",
  usage: SCALE_USAGE,
  run: async (args) => {
    const { values, positionals } = parse(
      args,
      { ...INSTANCE_FLAGS, timeout: { type: "string" } },
      true,
    );
    if (values.help) return usageShown(SCALE_USAGE);
    if (positionals.length !== 1) throw new UsageError("give the number of workers: scale N");
    const target = intOption("N", positionals[0], undefined, 1, MAX_WORKERS);
    const { instance, paths } = namedInstance(values);
    const timeoutMs = intOption("timeout", values.timeout, 20_000, 100, 3_600_000);
    using segment = runningSegment(instance, paths);
    const watchdog = watchdogOf(paths.lock, segment);
    const from = workersNow(segment);
    const t0 = performance.now();
    const reached = await scaleBySignals(segment, target, (s) => sendSignal(watchdog, s));
    if (reached !== target) {
      console.log(
        `the watchdog stopped at ${reached} workers (its --max-workers, or it is busy: its log ` +
          `says why)`,
      );
      return 1;
    }
    const workers = () => rolesOf(segment).filter((r) => r.kind === "worker");
    while (performance.now() - t0 < timeoutMs) {
      const w = workers();
      if (w.length === target && w.every((r) => r.state === "ready" || r.state === "busy")) break;
      await sleep(20);
    }
    const w = workers();
    const ready = w.filter((r) => r.state === "ready" || r.state === "busy").length;
    console.log(
      `${from} → ${target} workers: ${ready} ready, ${w.length - ready} not yet ` +
        `(${Math.round(performance.now() - t0)} ms)`,
    );
    return w.length === target && ready === target ? 0 : 1;
  },
};
