/**
 * The roles of the system, each a module and a program: the dispatcher, the workers, the client,
 * and the ping-pong exercise's child; plus the wire protocol, how roles are spawned and reaped,
 * and how they log and trace.
 *
 * @module
 */

export * from "./spawn.ts";
export {
  type Channel,
  closeTrace,
  flushTrace,
  setupLogging,
  type TraceEvent,
  traceEvent,
  type TraceTarget,
} from "./logging.ts";
export * from "./trace_file.ts";
export * from "./deadline.ts";
export * from "./protocol.ts";
export * from "./client.ts";
export * from "./role_args.ts";
export { type DispatcherOptions, runDispatcher } from "./dispatcher.ts";
export { answer, runWorker, type WorkerOptions } from "./worker.ts";
export { PingProtocolError, type PongerOptions, runPonger, TRACED_EXCHANGES } from "./ponger.ts";
