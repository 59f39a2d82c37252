/**
 * The osps command line: `deno run <permissions> main.ts <command> [options]`. The deno tasks in
 * `deno.json` call it with the right permission flags; `--help` works on every command. The
 * commands themselves live in `cli/`.
 *
 * @module
 */

import { benchCommand } from "./cli/bench.ts";
import { chaosCommand } from "./cli/chaos.ts";
import { checkCommand } from "./cli/check.ts";
import { clientCommand } from "./cli/client.ts";
import { experimentCommand } from "./cli/experiment.ts";
import { fuzzCommand } from "./cli/fuzz.ts";
import { type Command, CommandError, typed, UsageError } from "./cli/common.ts";
import { reloadCommand, scaleCommand } from "./cli/operate.ts";
import { resetFailedCommand } from "./cli/reset_failed.ts";
import { scenarioCommand } from "./cli/scenario.ts";
import { soakCommand } from "./cli/soak.ts";
import { statusCommand } from "./cli/status.ts";
import { traceCommand } from "./cli/trace.ts";
import { upCommand } from "./cli/up.ts";
import { FifoError, RuntimeDirError, SegmentError, SysCallError } from "./ipc/mod.ts";
import { ListenError, WatchdogNotFoundError } from "./roles/mod.ts";

const COMMANDS: Record<string, Command> = {
  up: upCommand,
  status: statusCommand,
  "reset-failed": resetFailedCommand,
  reload: reloadCommand,
  scale: scaleCommand,
  client: clientCommand,
  scenario: scenarioCommand,
  trace: traceCommand,
  experiment: experimentCommand,
  soak: soakCommand,
  chaos: chaosCommand,
  fuzz: fuzzCommand,
  bench: benchCommand,
  check: checkCommand,
};

const MAIN_USAGE = `osps: run, watch, break and measure a multi-process server system

Usage: deno task <command> [options]     (or: deno run <permissions> main.ts <command> …)

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`).join("\n")}
  help [cmd]    this text, or a command's

Every command takes --help (deno task <command> --help).`;

/**
 * Whether `e` is an error of the OS layer that names what was being done and the errno, which a
 * user acts on (a foreign segment, a full file system, a directory of another user): said in
 * one line. Any other error is a bug, and keeps its stack.
 */
function isOsError(e: unknown): e is Error {
  return e instanceof SegmentError || e instanceof SysCallError || e instanceof RuntimeDirError ||
    e instanceof FifoError || e instanceof ListenError || e instanceof WatchdogNotFoundError;
}

/** Runs the command line `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    const topic = command === "help" ? COMMANDS[rest[0] ?? ""] : undefined;
    console.log(topic ? topic.usage : MAIN_USAGE);
    return 0;
  }
  const cmd = COMMANDS[command];
  try {
    if (cmd === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof CommandError || isOsError(e)) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    if (!(e instanceof UsageError)) throw e;
    const help = cmd ? `${typed(command)} --help` : typed("--help");
    console.error(`error: ${e.message}\n(${help} shows every option)`);
    return 2;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
