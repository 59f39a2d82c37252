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

import { DISPATCHER_SLOT, ROLE_STATE } from "../../ipc/mod.ts";
import { startRole } from "../lifecycle.ts";
import { serveInherited } from "../socket_conn.ts";
import { connectionCap, connectionCapProblem } from "../tcp_serve.ts";
import { roleLogger, traceEvent } from "../logging.ts";
import { UsageError } from "../options.ts";

import { Dispatcher } from "./dispatcher.ts";
import type { DispatcherOptions } from "./options.ts";

export { labelRequestIds, requestIdBase, requestLabel } from "./jobs.ts";
export { dispatcherArgs, type DispatcherOptions } from "./options.ts";

const log = roleLogger("dispatcher");

/**
 * A descriptor per client connection: all the process may have (`fileLimit`), but what its pipes,
 * segment and runtime need; a limit too low for that is a usage error.
 */
function withConnectionCap(options: DispatcherOptions, fileLimit: number): DispatcherOptions {
  if (options.maxConnections !== 0) return options;
  const reserve = 64 + 4 * options.workers;
  const problem = connectionCapProblem("the dispatcher", fileLimit, reserve);
  if (problem?.fatal) throw new UsageError(problem.message);
  if (problem) log.warning("{message}", { message: problem.message });
  return { ...options, maxConnections: connectionCap(fileLimit, reserve) };
}

/** Runs the dispatcher until SIGTERM; `ready` gets the port it listens on. */
export async function runDispatcher(
  options: DispatcherOptions,
  ready: (port: number) => void = () => {},
): Promise<void> {
  using role = startRole({ ...options, slot: DISPATCHER_SLOT, slug: "dispatcher" });
  const { slot, stop } = role;
  options = withConnectionCap(options, role.fileLimit);
  let own: { port: number; state: number } | null = null;
  const dispatcher = new Dispatcher(options, role.segment);
  role.onBeat(() => {
    if (own) {
      slot.set("port", own.port);
      slot.setHost(options.host);
      slot.set("state", own.state);
    }
    // Pipes the watchdog made again, workers added or removed, and workers becoming ready (or
    // fresh again), are noticed at each beat as well as on events.
    dispatcher.checkPipes();
    dispatcher.discoverWorkers();
    dispatcher.pump();
    dispatcher.tellDraining();
  });
  dispatcher.connectWorkers(stop.signal);
  // The listening socket is the watchdog's, inherited: it outlives this process, and what
  // connects while no dispatcher runs waits in its backlog.
  const gate = dispatcher.gate();
  const acceptor = serveInherited(
    options.listenFd,
    (conn) => gate.admit(conn),
    (message) => log.warning("{message}", { message }),
  );
  const port = acceptor.port;
  own = { port, state: ROLE_STATE.ready };
  slot.setHost(options.host);
  slot.set("port", port);
  slot.set("state", ROLE_STATE.ready);
  traceEvent({
    event: "ready",
    channel: "process",
    detail: `listening on ${options.host}:${port}`,
  });
  ready(port);
  const drain = role.drains.next();
  // Accepting that fails (not for want of descriptors: it pauses then) ends the dispatcher, with
  // the error: the watchdog restarts it.
  const why = await Promise.race([
    stop.requested.then(() => "stop"),
    drain.then(() => "drain"),
    acceptor.done.then(() => "stop"),
  ]);
  own.state = why === "drain" ? ROLE_STATE.draining : ROLE_STATE.stopping;
  slot.set("state", own.state);
  await acceptor.close();
  if (why === "drain") {
    traceEvent({ event: "draining", channel: "process", detail: "no new connections" });
    await dispatcher.drain();
  } else {
    await dispatcher.stop();
  }
}
