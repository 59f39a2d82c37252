/**
 * The watchdog's program, as the harness starts it: the instance's options (`options.ts`), where
 * the instance directory goes (`--runtime-base`) and, for a harness that wants the instance gone
 * when it dies, `--parent-pid`. Prints `ready <port> <instance>` once every role is up; exits 0
 * after a stop signal, 1 if the instance stopped on a problem or could not start, 2 on a bad
 * command line.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { setParentDeathSignal } from "../../ipc/mod.ts";
import { EXIT_PARENT_GONE } from "../lifecycle.ts";
import { setupLogging } from "../logging.ts";
import { intOption, UsageError } from "../options.ts";
import { ListenError } from "../tcp_serve.ts";
import { runWatchdog, WATCHDOG_FLAGS, watchdogOptions } from "./mod.ts";

if (import.meta.main) {
  try {
    let values;
    try {
      values = parseArgs({
        options: {
          ...WATCHDOG_FLAGS,
          "runtime-base": { type: "string" },
          "parent-pid": { type: "string" },
        },
        strict: true,
        allowNegative: true,
      }).values;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    // Started by a harness: if the harness dies, this instance stops (SIGTERM: the graceful stop)
    // instead of running on as an orphan.
    if (values["parent-pid"] !== undefined) {
      const parent = intOption("parent-pid", values["parent-pid"], undefined, 1, 2 ** 22);
      try {
        setParentDeathSignal("SIGTERM", parent);
      } catch (e) {
        console.error(`watchdog: ${e instanceof Error ? e.message : e}`);
        Deno.exit(EXIT_PARENT_GONE);
      }
    }
    const options = { ...watchdogOptions(values), runtimeBase: values["runtime-base"] };
    setupLogging(
      options.logLevel,
      options.trace
        ? { path: options.trace, role: "watchdog", maxBytes: options.traceMaxBytes! }
        : undefined,
    );
    const report = await runWatchdog(
      options,
      (ready) => console.log(`ready ${ready.port} ${ready.paths.name}`),
    );
    const signalled = report.reason === "SIGINT" || report.reason === "SIGTERM";
    if (!signalled) console.error(`watchdog: stopped the instance: ${report.reason}`);
    if (report.escalated !== null) {
      console.error(
        `watchdog: the stop was cut short by a second ${report.escalated.signal}: ` +
          `every role still running was killed`,
      );
    }
    const clean = signalled && report.escalated === null;
    Deno.exit(clean ? 0 : 1);
  } catch (e) {
    // The dispatcher's port, which the watchdog listens on for it, is said as the dispatcher's.
    const who = e instanceof ListenError ? e.who : "watchdog";
    console.error(`${who}: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
