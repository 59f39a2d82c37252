/**
 * `main.ts reset-failed`: asks a running instance's watchdog to try its failed slots again now
 * (SIGUSR2), rather than after their pause, and says how each came back.
 *
 * @module
 */

import { sendSignal } from "../ipc/mod.ts";
import {
  readStatus,
  RESET_FAILED_SIGNAL,
  type RoleStatus,
  sleep,
  watchdogOf,
} from "../roles/mod.ts";
import {
  type Command,
  INSTANCE_FLAGS,
  intOption,
  namedInstance,
  parse,
  runningSegment,
  usageShown,
} from "./common.ts";

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

/** `main.ts reset-failed`. */
export const resetFailedCommand: Command = {
  summary: "try a running instance's failed slots again now",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, { ...INSTANCE_FLAGS, timeout: { type: "string" } });
    if (values.help) return usageShown(USAGE);
    const { instance, paths } = namedInstance(values);
    const timeoutMs = intOption("timeout", values.timeout, 10_000, 100, 3_600_000);
    runningSegment(instance, paths).close();
    const failedNow = () =>
      (readStatus(paths.segment)?.roles ?? []).filter((r) => r.state === "failed");
    const failed = failedNow();
    if (failed.length === 0) {
      console.log(`no slot of instance ${instance} is failed`);
      return 0;
    }
    {
      using segment = runningSegment(instance, paths);
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
