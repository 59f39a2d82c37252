/**
 * The standby's program: a role process started ahead of need. The watchdog keeps one waiting,
 * its imports evaluated, libc bound and `node:net` loaded (the ~40 ms of a Deno role's start), and
 * when a role crashes it hands the standby that role's command line instead of spawning a new
 * process: the standby becomes the role within a few milliseconds.
 *
 * Its own command line only names its instance (`--segment`, so that a dead instance's leftovers
 * are found by it) and its watchdog (`--parent-pid`: it leaves when the watchdog dies). It prints
 * `standby loaded` once everything is loaded, then waits for one line on stdin, the order
 * (`order.ts`), and runs the program it names with its arguments. At end of stdin without a line
 * (the watchdog is stopping or gone) it exits 0.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  ListenSocket,
  ParentGoneError,
  preloadSocketWatch,
  setOomScoreAdj,
  setParentDeathSignal,
} from "../../ipc/mod.ts";
import { dispatcherProgram } from "../dispatcher/main.ts";
import { EXIT_PARENT_GONE, ROLE_OOM_SCORE_ADJ } from "../lifecycle.ts";
import { intOption, UsageError } from "../options.ts";
import { LineReader } from "../spawn.ts";
import { workerProgram } from "../worker/main.ts";
import {
  parseStandbyOrder,
  STANDBY_LOADED,
  STANDBY_OOM_SCORE_ADJ,
  type StandbyOrder,
  type StandbyProgram,
} from "./order.ts";

const PROGRAMS: Record<StandbyProgram, (args: string[]) => Promise<void>> = {
  dispatcher: dispatcherProgram,
  worker: workerProgram,
};

/** Waits for the order on stdin and becomes what it says; exits 0 if none comes. */
async function standbyMain(args: string[]): Promise<void> {
  let order: StandbyOrder | null = null;
  let listenFd = 0;
  try {
    let values;
    try {
      values = parseArgs({
        args,
        options: {
          segment: { type: "string" },
          "parent-pid": { type: "string" },
          "listen-fd": { type: "string" },
        },
        strict: true,
      }).values;
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const parent = intOption("parent-pid", values["parent-pid"], undefined, 1, 2 ** 22);
    listenFd = intOption("listen-fd", values["listen-fd"], 0, 3, 2 ** 20);
    setParentDeathSignal("SIGTERM", parent);
    // Idle, holding nothing: the first process the kernel should kill when memory runs out.
    setOomScoreAdj(STANDBY_OOM_SCORE_ADJ);
    await preloadSocketWatch();
    console.log(STANDBY_LOADED);
    const stdin = new LineReader(Deno.stdin.readable);
    const line = await stdin.next();
    await stdin.release();
    if (line !== null) order = parseStandbyOrder(line);
  } catch (e) {
    console.error(`standby: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof UsageError ? 2 : e instanceof ParentGoneError ? EXIT_PARENT_GONE : 1);
  }
  if (order === null) Deno.exit(0);
  // The role's own standing with the OOM killer, as a role spawned directly has it.
  setOomScoreAdj(ROLE_OOM_SCORE_ADJ);
  // The dispatcher's listening socket is the dispatcher's to accept on; a worker lets it go.
  if (order.program !== "dispatcher" && listenFd > 0) ListenSocket.closeInherited(listenFd);
  await PROGRAMS[order.program](order.args);
}

if (import.meta.main) await standbyMain(Deno.args);
