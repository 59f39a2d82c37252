/**
 * The dispatcher (main server). It accepts clients on TCP, validates each request line, queues it
 * (bounded) until a worker is free, and hands it over through the worker's mailbox in the shared
 * segment and an order on `dwtube<k>`; answers come back on `wdtube<k>`. What the client gets is
 * the stage's flow (`stages.ts`): relay `OK <result>` (the worker's reply from the mailbox),
 * client-calls-worker `REDIRECT <host> <port>`, worker-calls-client `WAIT <token>` (after
 * `LISTEN <port>`).
 *
 * It knows its workers through the registry in the segment: a worker takes work only when its slot
 * says `ready` and its heartbeat is fresh; a worker that dies under a request (its pipe closes)
 * is skipped until the watchdog has started its next generation, and the request is retried once
 * on another worker (relay, worker-calls-client). A restarted dispatcher rebuilds this view from
 * the segment alone; the workers keep running.
 *
 * Run by the watchdog: `dispatcher/main.ts --workers N --stage S --segment /osps-… …`.
 *
 * @module
 */

import {
  DISPATCHER_SLOT,
  raiseOpenFileLimit,
  ROLE_STATE,
  setParentDeathSignal,
  SharedSegment,
  SignalQueue,
} from "../../ipc/mod.ts";
import { honourInjectedCrash, startHeartbeat, stopRequest } from "../lifecycle.ts";
import { connectionCap, connectionCapProblem, listenRetrying } from "../tcp.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { UsageError } from "../options.ts";

const log = roleLogger("dispatcher");
import { Dispatcher } from "./dispatcher.ts";
import type { DispatcherOptions } from "./options.ts";

export { labelRequestIds, requestIdBase, requestLabel } from "./jobs.ts";
export { dispatcherArgs, type DispatcherOptions } from "./options.ts";

/** Runs the dispatcher until SIGTERM; `ready` gets the port it listens on. */
export async function runDispatcher(
  options: DispatcherOptions,
  ready: (port: number) => void = () => {},
): Promise<void> {
  setParentDeathSignal("SIGTERM", options.parentPid);
  honourInjectedCrash(options.runtimeDir, "dispatcher");
  // A descriptor per client connection: all the process may have, but what its pipes, segment and
  // runtime need.
  const fileLimit = raiseOpenFileLimit();
  if (options.maxConnections === 0) {
    const reserve = 64 + 4 * options.workers;
    const problem = connectionCapProblem("the dispatcher", fileLimit, reserve);
    if (problem?.fatal) throw new UsageError(problem.message);
    if (problem) log.warning("{message}", { message: problem.message });
    options = { ...options, maxConnections: connectionCap(fileLimit, reserve) };
  }
  using signals = new SignalQueue(["SIGTERM", "SIGINT"]);
  const stop = stopRequest(signals, options.parentPid);
  using segment = SharedSegment.open(options.segment, { workers: options.workers });
  const slot = segment.slot(DISPATCHER_SLOT);
  slot.set("pid", Deno.pid);
  let own: { port: number; state: number } | null = null;
  const dispatcher = new Dispatcher(options, segment);
  using _heartbeat = startHeartbeat(slot, options.parentPid, () => {
    slot.set("pid", Deno.pid);
    if (own) {
      slot.set("port", own.port);
      slot.setHost(options.host);
      slot.set("state", own.state);
    }
    // Pipes the watchdog made again, and workers becoming ready (or fresh again), are noticed at
    // each beat as well as on events.
    dispatcher.checkPipes();
    dispatcher.pump();
  });
  dispatcher.connectWorkers(stop.signal);
  let listener: Deno.TcpListener;
  try {
    listener = await listenRetrying("dispatcher", options.host, options.port, stop.signal);
  } catch (e) {
    // Stopped while its predecessor still held the port.
    if (!stop.signal.aborted) throw e;
    await dispatcher.stop();
    return;
  }
  slot.setHost(options.host);
  slot.set("port", listener.addr.port);
  slot.set("state", ROLE_STATE.ready);
  own = { port: listener.addr.port, state: ROLE_STATE.ready };
  traceEvent({
    event: "ready",
    channel: "process",
    detail: `listening on ${options.host}:${listener.addr.port}`,
  });
  ready(listener.addr.port);
  const accepting = dispatcher.acceptLoop(listener);
  await stop.requested;
  slot.set("state", ROLE_STATE.stopping);
  own.state = ROLE_STATE.stopping;
  listener.close();
  await accepting.catch(() => {});
  await dispatcher.stop();
}
