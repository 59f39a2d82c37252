/**
 * A worker (secondary server) k. It reads orders from the dispatcher on its named pipe `dwtube<k>`,
 * finds the request in its mailbox of the shared segment, and answers on `wdtube<k>`; what each
 * order means is in `worker.ts`, which orders a stage sends in `stages.ts`.
 *
 * In client-calls-worker nothing is to be done for a claim before its client comes, so the worker
 * does not wake for its orders: it reads its pipe when a client's line arrives (the dispatcher
 * writes the order before it answers REDIRECT, so the order is there) and at each heartbeat (for a
 * client that never comes: the claim timeout runs from the order's time in the mailbox).
 *
 * Run by the watchdog: `worker/main.ts --worker K --stage S --segment /osps-… …`.
 *
 * @module
 */

import {
  FifoReader,
  FifoWriter,
  FrameError,
  raiseOpenFileLimit,
  ROLE_STATE,
  setParentDeathSignal,
  SharedSegment,
  SignalQueue,
  workerSlot,
} from "../../ipc/mod.ts";
import { honourInjectedCrash, leaveOrphaned, parentAlive, startHeartbeat } from "../lifecycle.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { parseOrder, STAGES } from "../stages.ts";
import { acceptConnections, connectionCap, listenRetrying } from "../tcp.ts";
import { Worker, type WorkerOptions } from "./worker.ts";

export { answer, type WorkerOptions } from "./worker.ts";

const log = roleLogger("worker");
const decoder = new TextDecoder();

/** Runs worker k until SIGTERM or until the dispatcher closes its pipe; `ready` is called once up. */
export async function runWorker(
  options: WorkerOptions,
  ready: (port: number) => void = () => {},
): Promise<void> {
  setParentDeathSignal("SIGTERM", options.parentPid);
  honourInjectedCrash(options.runtimeDir, `worker-${options.k}`);
  const flow = STAGES[options.stage];
  const fileLimit = raiseOpenFileLimit();
  using signals = new SignalQueue(["SIGTERM", "SIGINT"]);
  using segment = SharedSegment.open(options.segment);
  const slot = segment.slot(workerSlot(options.k));
  slot.set("pid", Deno.pid);
  let worker: Worker | null = null;
  let ownPort = 0;
  using _heartbeat = startHeartbeat(slot, options.parentPid, () => {
    slot.set("pid", Deno.pid);
    if (ownPort) {
      slot.set("port", ownPort);
      slot.setHost(options.host);
    }
    if (worker) {
      slot.set("state", worker.state);
      worker.takeOrders();
    }
  });
  let listener: Deno.TcpListener | null = null;
  if (flow.workerListens) {
    // A restarted worker takes the port of the one it replaces.
    const port = options.workerPort ?? (options.port === 0 ? 0 : options.port + options.k);
    listener = await listenRetrying(`worker ${options.k}`, options.host, port);
    slot.setHost(options.host);
    slot.set("port", listener.addr.port);
    ownPort = listener.addr.port;
  }
  using pings = FifoReader.open(`${options.runtimeDir}/dwtube${options.k}`, {
    wait: flow.ordersOnDemand ? "none" : undefined,
  });
  using pongs = await FifoWriter.open(`${options.runtimeDir}/wdtube${options.k}`);
  // Orders left in the pipe were meant for the worker this one replaces.
  const stale = pings.discardPending();
  if (stale > 0) {
    log.info("dropped {stale} bytes of orders meant for the previous worker", { stale });
  }
  worker = new Worker(options, segment.mailbox(options.k), slot, pongs);
  worker.state = ROLE_STATE.ready;
  traceEvent({
    event: "ready",
    channel: "process",
    detail: listener ? `port ${listener.addr.port}` : "",
  });
  ready(listener?.addr.port ?? 0);

  const serving = new Set<Promise<void>>();
  const accepting = listener === null ? Promise.resolve() : acceptConnections(listener, {
    maxConnections: connectionCap(fileLimit, 64),
    serve: (conn) =>
      worker!.serveClient(conn).catch((e) =>
        log.warning("client connection: {e}", { e: String(e) })
      ),
    open: serving,
    warn: (message) => log.warning("{message}", { message }),
  });
  // The role stops on SIGTERM (SIGINT from a terminal is left to the parent, which orchestrates);
  // a SIGTERM that comes because the parent died (parent-death signal) means leave now.
  let stopping = false;
  const stopped = (async () => {
    for await (const s of signals) {
      if (s !== "SIGTERM") continue;
      if (!parentAlive(options.parentPid)) leaveOrphaned();
      traceEvent({ event: "stop", channel: "signal", detail: s });
      worker!.state = ROLE_STATE.stopping;
      stopping = true;
      pings.close();
      return;
    }
  })();

  /** Carries out one order from the pipe. */
  const order = async (frame: Uint8Array): Promise<void> => {
    const text = decoder.decode(frame);
    const parsed = parseOrder(text);
    traceEvent({
      event: "ping",
      channel: "fifo",
      req: parsed?.id,
      peer: "dispatcher",
      detail: text,
    });
    if (parsed === null) {
      log.warning("ignoring unknown order {text}", { text });
      return;
    }
    await worker.carryOut(parsed.kind, parsed.id);
  };
  /** Bytes on the pipe that were not a frame were dropped: logged, and reading goes on. */
  const garbage = (e: unknown): void => {
    if (!(e instanceof FrameError)) throw e;
    log.warning("{error}", { error: e.message });
  };

  if (flow.ordersOnDemand) {
    // Claims are carried out synchronously: they are all handled before this returns.
    worker.takeOrders = () => {
      while (!stopping) {
        let frame: Uint8Array | null;
        try {
          frame = pings.receiveNow();
        } catch (e) {
          garbage(e);
          continue;
        }
        if (frame === null) return;
        void order(frame);
      }
    };
    await stopped;
  }
  // EOF on dwtube<k> means the dispatcher went away: keep waiting for the next one.
  while (!stopping) {
    let frame: Uint8Array | null;
    try {
      frame = await pings.receive();
    } catch (e) {
      garbage(e);
      continue;
    }
    if (frame !== null) await order(frame);
  }
  listener?.close();
  await accepting.catch(() => {});
  await Promise.all(serving);
  await worker.finish();
}
