/**
 * The dispatcher's program, as the watchdog starts it: the common role options and the
 * dispatcher's own (`options.ts`); prints `ready <port>` once it listens.
 *
 * @module
 */

import { roleMain } from "../role_args.ts";
import { runDispatcher } from "./mod.ts";
import { DISPATCHER_FLAGS, dispatcherOptions } from "./options.ts";

/** Runs the dispatcher from its command line `args` (this program's, or one a standby was handed). */
export async function dispatcherProgram(args: string[]): Promise<void> {
  await roleMain(
    "dispatcher",
    DISPATCHER_FLAGS,
    () => "dispatcher",
    async (context, extra) => {
      await runDispatcher(
        dispatcherOptions(context, extra),
        (port) => console.log(`ready ${port}`),
      );
    },
    args,
  );
}

if (import.meta.main) await dispatcherProgram(Deno.args);
