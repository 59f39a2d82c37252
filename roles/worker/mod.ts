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

import { FifoReader, FifoWriter, FrameError, workerSlot } from "../../ipc/mod.ts";
import { startRole, type StopRequest } from "../lifecycle.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { parseOrder, type StageFlow, STAGES } from "../stages.ts";
import { acceptConnections, connectionCap, denoListen, listenRetrying } from "../tcp_serve.ts";
import { Worker, type WorkerOptions } from "./worker.ts";

export { answer, type WorkerOptions } from "./worker.ts";

const log = roleLogger("worker");
const decoder = new TextDecoder();

/** A worker's channels once it is up: its listener (client-calls-worker) and its two pipes. */
interface Channels {
  listener: Deno.TcpListener | null;
  pings: FifoReader;
  pongs: FifoWriter;
}

/**
 * Opens what a worker talks through: its TCP port if its stage has one (a restarted worker takes
 * its predecessor's), its order pipe, then its answer pipe (which waits for the dispatcher to
 * read it). Aborting `signal` (the stop) ends the waits; what was opened is closed.
 */
async function openChannels(
  options: WorkerOptions,
  flow: StageFlow,
  signal: AbortSignal,
): Promise<Channels> {
  await using opened = new AsyncDisposableStack();
  let listener: Deno.TcpListener | null = null;
  if (flow.workerListens) {
    const port = options.workerPort ?? (options.port === 0 ? 0 : options.port + options.k);
    listener = await listenRetrying(`worker ${options.k}`, options.host, port, denoListen, signal);
    const l = listener;
    opened.defer(() => l.close());
  }
  const pings = opened.use(FifoReader.open(`${options.runtimeDir}/dwtube${options.k}`, {
    wait: flow.ordersOnDemand ? "none" : undefined,
  }));
  const pongs = await FifoWriter.open(`${options.runtimeDir}/wdtube${options.k}`, { signal });
  opened.move();
  return { listener, pings, pongs };
}

/** Runs worker k until SIGTERM or until the dispatcher closes its pipe; `ready` is called once up. */
export async function runWorker(
  options: WorkerOptions,
  ready: (port: number) => void = () => {},
): Promise<void> {
  const flow = STAGES[options.stage];
  using role = startRole({ ...options, slot: workerSlot(options.k), slug: `worker-${options.k}` });
  const { slot, stop } = role;
  let worker: Worker | null = null;
  let ownPort = 0;
  role.onBeat(() => {
    if (ownPort) {
      slot.set("port", ownPort);
      slot.setHost(options.host);
    }
    if (worker) {
      slot.set("state", worker.state);
      worker.takeOrders();
    }
  });
  let channels: Channels;
  try {
    channels = await openChannels(options, flow, stop.signal);
  } catch (e) {
    // Stopped before it was up (its dispatcher stopped first, so no reader of its answers).
    if (stop.signal.aborted) return;
    throw e;
  }
  const { listener, pings, pongs } = channels;
  using _pings = pings;
  using _pongs = pongs;
  if (listener !== null) {
    slot.setHost(options.host);
    slot.set("port", listener.addr.port);
    ownPort = listener.addr.port;
  }
  // Orders left in the pipe were meant for the worker this one replaces.
  const stale = pings.discardPending();
  if (stale > 0) {
    log.info("dropped {stale} bytes of orders meant for the previous worker", { stale });
  }
  const working = new Worker(options, role.segment.mailbox(options.k), slot, pongs);
  worker = working;
  working.phase = "serving";
  (async () => {
    for await (const _ of role.drains) working.drain();
  })();
  traceEvent({ event: "ready", channel: "process", detail: ownPort ? `port ${ownPort}` : "" });
  ready(ownPort);
  await serve(working, channels, flow, stop, role.fileLimit);
}

/** A worker's life once up: its orders, its clients, until its stop; then it finishes. */
async function serve(
  worker: Worker,
  { listener, pings }: Channels,
  flow: StageFlow,
  stop: StopRequest,
  fileLimit: number,
): Promise<void> {
  const serving = new Set<Promise<void>>();
  const accepting = listener === null ? Promise.resolve() : acceptConnections(listener, {
    maxConnections: connectionCap(fileLimit, 64),
    serve: (conn) =>
      worker.serveClient(conn).catch((e) =>
        log.warning("client connection: {e}", { e: String(e) })
      ),
    open: serving,
    warn: (message) => log.warning("{message}", { message }),
  });
  // It ends on its stop, or once drained (the dispatcher's last order taken, nothing held).
  let leaving = false;
  const left = Promise.race([
    stop.requested.then(() => worker.phase = "stopping"),
    worker.drained.then(() => traceEvent({ event: "drained", channel: "process" })),
  ]).then(() => {
    leaving = true;
    pings.close();
  });
  if (flow.ordersOnDemand) {
    // Claims are carried out synchronously: they are all handled before this returns.
    worker.takeOrders = () => {
      for (let frame = nextFrameNow(pings); frame !== null; frame = nextFrameNow(pings)) {
        if (leaving) return;
        void carryOutOrder(worker, frame);
      }
    };
    await left;
  }
  // EOF on dwtube<k> means the dispatcher went away: keep waiting for the next one.
  while (!leaving) {
    const frame = await pings.receive().catch(droppedGarbage);
    if (frame !== null && frame !== undefined) await carryOutOrder(worker, frame);
  }
  listener?.close();
  await accepting.catch((e) => log.error("accepting clients: {e}", { e: String(e) }));
  await Promise.all(serving);
  await worker.finish();
}

/** The next order waiting in the pipe, read without waiting; null if none (garbage is skipped). */
function nextFrameNow(pings: FifoReader): Uint8Array | null {
  while (true) {
    try {
      return pings.receiveNow();
    } catch (e) {
      droppedGarbage(e);
    }
  }
}

/** Bytes on the pipe that were not a frame were dropped: logged, and reading goes on. */
function droppedGarbage(e: unknown): undefined {
  if (!(e instanceof FrameError)) throw e;
  log.warning("{error}", { error: e.message });
}

/** Carries out one order from the pipe. */
async function carryOutOrder(worker: Worker, frame: Uint8Array): Promise<void> {
  const text = decoder.decode(frame);
  const parsed = parseOrder(text);
  const req = parsed?.kind === "drain" ? undefined : parsed?.id;
  traceEvent({ event: "order", channel: "fifo", req, peer: "dispatcher", detail: text });
  if (parsed === null) {
    log.warning("ignoring unknown order {text}", { text });
    return;
  }
  if (parsed.kind === "drain") worker.lastOrder();
  else await worker.carryOut(parsed.kind, parsed.id);
}
