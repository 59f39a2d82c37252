/**
 * The roles of the system, each a program and a module: for now the ping-pong exercise's child
 * (`ponger.ts`), plus how roles are spawned, reaped and how they log.
 *
 * @module
 */

export * from "./spawn.ts";
export { setupLogging } from "./logging.ts";
export { PingProtocolError, type PongerOptions, runPonger } from "./ponger.ts";
