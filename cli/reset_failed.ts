/**
 * `main.ts reset-failed`: asks a running instance's watchdog to try its failed slots again now
 * (SIGUSR2), rather than after their pause, and says how each came back.
 *
 * @module
 */

import {
  defaultRuntimeBase,
  InstanceLock,
  readCommandLine,
  sendSignal,
  SharedSegment,
  WATCHDOG_SLOT,
} from "../ipc/mod.ts";
import {
  instancePaths,
  readStatus,
  RESET_FAILED_SIGNAL,
  type RoleStatus,
  sleep,
} from "../roles/mod.ts";
import { type Command, CommandError, intOption, parse, typed, UsageError } from "./common.ts";

const USAGE = `Usage: deno task reset-failed [--port 2222 | --instance NAME] [--timeout MS]

A worker that keeps crashing (5 restarts within 10 s) is marked failed: the system serves without
it, and the watchdog tries it again after a pause (30 s, then 60, 120… at most 10 minutes).
reset-failed asks the watchdog of a running instance to try every failed slot again now (it sends
the watchdog SIGUSR2), then waits until each is ready or failed again, at most --timeout ms
(default 10000), and says which. (A dispatcher that keeps crashing stops the whole instance
instead: nothing can be served without it.)

Options:
  --port P          the instance started with this port (default 2222)
  --instance NAME   the instance's name, if it was given one at 'up'
  --timeout MS      how long to wait for the slots to come back (default 10000)
Exit status: 0 when every slot tried again is ready, 1 otherwise or if no instance runs.`;

/** The watchdog of the instance whose lock is at `lock` and segment `segment`, checked. */
function watchdogOf(lock: string, segment: SharedSegment): number {
  const holder = InstanceLock.holder(lock);
  if (holder === null) {
    throw new CommandError(`no watchdog holds ${lock}: the instance is not running`);
  }
  const registered = segment.slot(WATCHDOG_SLOT).get("pid");
  // The lock's holder, as the kernel says, and the registry's watchdog must be one process, and
  // a watchdog (`main.ts up`, or the watchdog's program).
  const line = readCommandLine(holder);
  if (registered !== holder || !/(main\.ts up|roles\/watchdog\/main\.ts)( |$)/.test(line)) {
    throw new CommandError(
      `the lock ${lock} is held by pid ${holder}, which is not this instance's watchdog ` +
        `(the registry names pid ${registered}); nothing was sent`,
    );
  }
  return holder;
}

/** `main.ts reset-failed`. */
export const resetFailedCommand: Command = {
  summary: "try a running instance's failed slots again now",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, {
      port: { type: "string" },
      instance: { type: "string" },
      timeout: { type: "string" },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.instance !== undefined && values.port !== undefined) {
      throw new UsageError("give --port or --instance, not both");
    }
    const instance = values.instance ?? String(intOption("port", values.port, 2222, 1, 65535));
    const timeoutMs = intOption("timeout", values.timeout, 10_000, 100, 3_600_000);
    let paths;
    try {
      paths = instancePaths(instance, defaultRuntimeBase());
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (!SharedSegment.exists(paths.segment)) {
      throw new CommandError(
        `no osps instance ${instance} is running (no shared segment ${paths.segment}); ` +
          `start one with '${typed("up")}'`,
      );
    }
    const failedNow = () =>
      (readStatus(paths.segment)?.roles ?? []).filter((r) => r.state === "failed");
    const failed = failedNow();
    if (failed.length === 0) {
      console.log(`no slot of instance ${instance} is failed`);
      return 0;
    }
    {
      using segment = SharedSegment.open(paths.segment, { readOnly: true });
      sendSignal(watchdogOf(paths.lock, segment), RESET_FAILED_SIGNAL);
    }
    const generations = new Map(failed.map((r) => [r.role, r.generation]));
    const settled = (r: RoleStatus) =>
      r.generation > generations.get(r.role)! &&
      (r.state === "ready" || r.state === "busy" || r.state === "failed");
    const deadline = performance.now() + timeoutMs;
    let roles: RoleStatus[] = [];
    while (performance.now() < deadline) {
      roles = (readStatus(paths.segment)?.roles ?? []).filter((r) => generations.has(r.role));
      if (roles.every(settled) && roles.length === generations.size) break;
      await sleep(20);
    }
    let ok = true;
    for (const r of roles) {
      const ready = settled(r) && r.state !== "failed";
      ok &&= ready;
      console.log(
        ready
          ? `${r.role}: tried again, ready (pid ${r.pid})`
          : r.state === "failed"
          ? `${r.role}: tried again, failed again (last exit: ${r.lastExit ?? "unknown"})`
          : `${r.role}: tried again, not ready within ${timeoutMs} ms (state ${r.state})`,
      );
    }
    return ok && roles.length === generations.size ? 0 : 1;
  },
};
