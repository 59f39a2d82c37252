/**
 * The child of the ping-pong exercise (seed question 2.a): it answers each `ping <n>` frame on its
 * ping pipe with `pong <n>` on its pong pipe, after checking the counter and timestamp the parent
 * left in mailbox 1 of the shared segment and writing its own there. It stops on `stop`, or at EOF
 * of the ping pipe, and exits 0; it dies with its parent (parent-death signal).
 *
 * Run as a program by the ping-pong scenario:
 * `ponger.ts --segment /osps-… --ping <fifo> --pong <fifo> --parent-pid <pid>`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  FifoReader,
  FifoWriter,
  ParentGoneError,
  setParentDeathSignal,
  SharedSegment,
  workerSlot,
} from "../ipc/mod.ts";
import { roleLogger, setupLogging, traceEvent } from "./logging.ts";
import { intOption, UsageError } from "./options.ts";
import { EXIT_PARENT_GONE } from "./lifecycle.ts";

/** Exchanges traced, at most: a long run's first ones are enough to see the pattern. */
export const TRACED_EXCHANGES = 1000;

/** Where the ponger finds its parent's segment and pipes. */
export interface PongerOptions {
  /** The shared segment's name. */
  segment: string;
  /** The pipe it reads pings from. */
  ping: string;
  /** The pipe it writes pongs to. */
  pong: string;
  /** The parent's pid, checked after arming the parent-death signal. */
  parentPid: number;
}

/** A ping whose counter does not match the mailbox, or a frame that is not a ping. */
export class PingProtocolError extends Error {
  /** A protocol error about `detail`. */
  constructor(detail: string) {
    super(`ping-pong protocol violated: ${detail}`);
    this.name = "PingProtocolError";
  }
}

/** Answers pings until `stop` or EOF; returns how many were answered. */
export async function runPonger(options: PongerOptions): Promise<number> {
  const log = roleLogger("ponger");
  setParentDeathSignal("SIGTERM", options.parentPid);
  using segment = SharedSegment.open(options.segment, { workers: 1 });
  segment.slot(workerSlot(1)).set("pid", Deno.pid);
  const mailbox = segment.mailbox(1);
  using pings = FifoReader.open(options.ping);
  using pongs = await FifoWriter.open(options.pong);
  let answered = 0;
  for await (const frame of pings) {
    const text = new TextDecoder().decode(frame);
    if (text === "stop") break;
    const match = /^ping (\d+)$/.exec(text);
    if (match === null) throw new PingProtocolError(`unexpected frame ${JSON.stringify(text)}`);
    const n = Number(match[1]);
    const traced = n <= TRACED_EXCHANGES;
    if (traced) {
      traceEvent({ event: "recv", channel: "fifo", req: n, peer: "parent", detail: text });
    }
    const inbox = mailbox.readText();
    if (traced) {
      traceEvent({
        event: "read mailbox",
        channel: "shm",
        req: n,
        peer: "parent",
        detail: inbox.text,
      });
    }
    if (inbox.seq !== n || inbox.text !== "ping") {
      throw new PingProtocolError(`frame says ping ${n}, mailbox holds ${inbox.text} ${inbox.seq}`);
    }
    mailbox.write("pong", { seq: n });
    if (traced) {
      traceEvent({
        event: "write mailbox",
        channel: "shm",
        req: n,
        peer: "parent",
        detail: "pong",
      });
    }
    if (traced) {
      traceEvent({ event: "send", channel: "fifo", req: n, peer: "parent", detail: `pong ${n}` });
    }
    pongs.send(`pong ${n}`);
    answered++;
    log.debug("answered ping {n}", { n });
  }
  log.debug("stopping after {answered} pongs", { answered });
  return answered;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      segment: { type: "string" },
      ping: { type: "string" },
      pong: { type: "string" },
      "parent-pid": { type: "string" },
      "log-level": { type: "string", default: "warning" },
      trace: { type: "string", default: "" },
    },
  });
  setupLogging(
    values["log-level"],
    values.trace ? { path: values.trace, role: "child" } : undefined,
  );
  // The parent orchestrates the stop: a terminal's Ctrl-C reaches the whole process group, but
  // only the parent acts on it.
  Deno.addSignalListener("SIGINT", () => {});
  try {
    await runPonger({
      segment: values.segment ?? "",
      ping: values.ping ?? "",
      pong: values.pong ?? "",
      parentPid: intOption("parent-pid", values["parent-pid"], undefined, 1, 2 ** 22),
    });
  } catch (e) {
    roleLogger("ponger").error("{error}", { error: String(e) });
    Deno.exit(e instanceof UsageError ? 2 : e instanceof ParentGoneError ? EXIT_PARENT_GONE : 1);
  }
}
