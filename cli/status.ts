/**
 * `main.ts status`: what the registry of a running instance says about each role, read through a
 * read-only mapping of its shared segment (status cannot disturb the system).
 *
 * @module
 */

import { InstanceLock, SignalQueue } from "../ipc/mod.ts";
import { instanceStatus, readStatus, type RoleStatus } from "../roles/mod.ts";
import {
  type Command,
  INSTANCE_FLAGS,
  intOption,
  namedInstance,
  parse,
  typed,
  UsageError,
  usageShown,
} from "./common.ts";

const USAGE =
  `Usage: deno task status [--port 2222 | --instance NAME] [--json | --watch [--interval MS]]

Prints each role of a running instance as its registry (the shared segment) shows it: pid,
whether that process is alive, state, port, heartbeat age, restarts, requests served, and the
dispatcher's queue length. The segment is mapped read-only.

Options:
  --port P          the instance started with this port (default 2222)
  --instance NAME   the instance's name, if it was given one at 'up'
  --json            one JSON object, for scripts
  --watch           refresh the view every --interval ms (default 500) until Ctrl-C, which
                    restores the terminal as it was
Exit status: 0 when the instance runs, 1 when it does not (or only a dead one's leftovers exist).`;

/** Formats a status as a table. */
export function formatStatus(
  instance: string,
  { stage, clock, roles }: { stage: string; clock: string | null; roles: RoleStatus[] },
  running: boolean,
): string {
  const head = `osps instance ${instance}, stage ${stage}${
    running ? "" : " — NOT RUNNING (leftovers of a dead instance)"
  }${clock === null ? "" : `\n(${clock})`}`;
  const rows = roles.map((r) =>
    [
      r.role.padEnd(10),
      String(r.pid).padStart(7),
      (r.alive ? "yes" : "no").padEnd(5),
      r.state.padEnd(9),
      String(r.port || "-").padStart(5),
      (r.heartbeatAgeMs < 0 ? "-" : `${(r.heartbeatAgeMs / 1000).toFixed(2)} s`).padStart(9),
      String(r.restarts).padStart(8),
      String(r.kind === "worker" ? r.served : "-").padStart(6),
      String(r.kind === "dispatcher" ? r.queue : "-").padStart(5),
      r.lastExit ?? "-",
    ].join("  ")
  );
  return [
    head,
    `${"role".padEnd(10)}  ${"pid".padStart(7)}  alive  ${"state".padEnd(9)}  ${
      "port".padStart(5)
    }  ${"heartbeat".padStart(9)}  restarts  served  queue  last exit`,
    ...rows,
  ].join("\n");
}

const ALT_SCREEN_ON = "\x1b[?1049h\x1b[?25l";
const ALT_SCREEN_OFF = "\x1b[?25h\x1b[?1049l";
const HOME_CLEAR = "\x1b[H\x1b[2J";

/**
 * Redraws the status every `intervalMs` until SIGINT/SIGTERM; then restores the terminal. Into a
 * pipe or a file (not a terminal) it writes one plain snapshot after the other instead, without
 * a terminal's escapes.
 */
async function watch(
  instance: string,
  paths: { segment: string; lock: string },
  intervalMs: number,
): Promise<number> {
  using signals = new SignalQueue(["SIGINT", "SIGTERM"]);
  const out = (text: string) => Deno.stdout.writeSync(new TextEncoder().encode(text));
  const terminal = Deno.stdout.isTerminal();
  const [on, off, clear] = terminal ? [ALT_SCREEN_ON, ALT_SCREEN_OFF, HOME_CLEAR] : ["", "", ""];
  // One waiter for the whole loop: a signal goes to the oldest pending `next`.
  const stop = signals.next();
  out(on);
  try {
    while (true) {
      const status = readStatus(paths.segment);
      const body = status === null
        ? `no osps instance ${instance} is running (no shared segment ${paths.segment}); waiting for one`
        : formatStatus(instance, status, InstanceLock.isHeld(paths.lock));
      out(
        terminal
          ? `${clear}${body}\n\n${
            new Date().toLocaleTimeString()
          } — every ${intervalMs} ms; Ctrl-C to quit\n`
          : `${new Date().toISOString()}\n${body}\n\n`,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const tick = new Promise<null>((r) => timer = setTimeout(r, intervalMs, null));
      const signal = await Promise.race([stop, tick]);
      clearTimeout(timer);
      if (signal !== null) return 0;
    }
  } finally {
    out(off);
  }
}

/** `main.ts status`. */
export const statusCommand: Command = {
  summary: "show the roles of a running instance",
  usage: USAGE,
  run: async (args) => {
    const { values } = parse(args, {
      ...INSTANCE_FLAGS,
      json: { type: "boolean", default: false },
      watch: { type: "boolean", default: false },
      interval: { type: "string" },
    });
    if (values.help) return usageShown(USAGE);
    const { instance, paths } = namedInstance(values);
    if (values.watch) {
      if (values.json) throw new UsageError("--watch and --json do not go together");
      return await watch(instance, paths, intOption("interval", values.interval, 500, 50, 60_000));
    }
    const status = readStatus(paths.segment);
    if (status === null) {
      const text =
        `no osps instance ${instance} is running (no shared segment ${paths.segment}); ` +
        `start one with '${typed("up")}'`;
      if (values.json) console.log(JSON.stringify({ instance, running: false, roles: [] }));
      else console.error(text);
      return 1;
    }
    const running = InstanceLock.isHeld(paths.lock);
    if (values.json) {
      console.log(JSON.stringify(instanceStatus(paths)));
    } else {
      console.log(formatStatus(instance, status, running));
    }
    return running ? 0 : 1;
  },
};
