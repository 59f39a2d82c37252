/**
 * A worker's program, as the watchdog starts it: the common role options, `--worker K` and, for a
 * restarted worker in client-calls-worker, `--worker-port P`; prints `ready <port>` once up.
 *
 * @module
 */

import { MAX_WORKERS } from "../../ipc/mod.ts";
import { intOption, MAX_PORT } from "../options.ts";
import { roleMain } from "../role_args.ts";
import { runWorker } from "./mod.ts";

/** Runs a worker from its command line `args` (this program's, or one a standby was handed). */
export async function workerProgram(args: string[]): Promise<void> {
  await roleMain(
    "worker",
    [],
    ["worker", "worker-port"],
    (own) => `worker ${own.worker}`,
    async (context, _options, own) => {
      const k = intOption("worker", own.worker, undefined, 1, MAX_WORKERS);
      const port = own["worker-port"];
      const workerPort = port === undefined
        ? undefined
        : intOption("worker-port", port, 0, 0, MAX_PORT);
      await runWorker({ ...context, k, workerPort }, (port) => console.log(`ready ${port}`));
    },
    args,
  );
}

if (import.meta.main) await workerProgram(Deno.args);
