/**
 * The roles of the system, each a module and a program: the watchdog, the dispatcher, the
 * workers, the client, and the ping-pong exercise's child; plus what they share — the wire
 * protocol and the stages' flows, lines over TCP, the options, how roles are spawned and reaped,
 * how they beat and are judged alive, how they log and trace.
 *
 * @module
 */

export * from "./spawn.ts";
export * from "./timers.ts";
export * from "./words.ts";
export * from "./quantile.ts";
export * from "./trace_event.ts";
export {
  closeTrace,
  flushTrace,
  setupLogging,
  traceEvent,
  type TraceTarget,
  watchTraceEvents,
} from "./logging.ts";
export * from "./trace_file.ts";
export * from "./deadline.ts";
export * from "./protocol.ts";
export * from "./stages.ts";
export * from "./tcp.ts";
export * from "./tcp_serve.ts";
export { type LineConn, SocketConn } from "./socket_conn.ts";
export * from "./options.ts";
export * from "./option_flags.ts";
export * from "./liveness.ts";
export { crashAtStartFile } from "./lifecycle.ts";
export * from "./client.ts";
export * from "./role_args.ts";
export {
  type DispatcherOptions,
  labelRequestIds,
  requestIdBase,
  requestLabel,
  runDispatcher,
} from "./dispatcher/mod.ts";
export { answer, runWorker, type WorkerOptions } from "./worker/mod.ts";
export * from "./watchdog/mod.ts";
export * from "./standby/order.ts";
export { PingProtocolError, type PongerOptions, runPonger, TRACED_EXCHANGES } from "./ponger.ts";
