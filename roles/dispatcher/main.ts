/**
 * The dispatcher's program, as the watchdog starts it: the common role options and the
 * dispatcher's own (`options.ts`); prints `ready <port>` once it listens.
 *
 * @module
 */

import { intOption } from "../options.ts";
import { roleMain } from "../role_args.ts";
import { runDispatcher } from "./mod.ts";
import { DISPATCHER_KEYS } from "./options.ts";

/** Runs the dispatcher from its command line `args` (this program's, or one a standby was handed). */
export async function dispatcherProgram(args: string[]): Promise<void> {
  await roleMain(
    "dispatcher",
    DISPATCHER_KEYS,
    ["listen-fd"],
    () => "dispatcher",
    async (context, options, own) => {
      await runDispatcher(
        {
          ...context,
          ...options,
          listenFd: intOption("listen-fd", own["listen-fd"], undefined, 3, 2 ** 20),
        },
        (port) => console.log(`ready ${port}`),
      );
    },
    args,
  );
}

if (import.meta.main) await dispatcherProgram(Deno.args);
