/**
 * The OS layer of osps: POSIX shared memory, named pipes, signals and processes, through
 * `Deno.dlopen` on libc. Roles, scenarios and users' own scripts import it from here.
 *
 * @example
 * ```ts
 * import { FifoReader, FifoWriter, RuntimeDir } from "./mod.ts";
 * const dir = RuntimeDir.create();
 * const path = dir.fifo("dwtube1");
 * const reader = FifoReader.open(path);
 * const writer = await FifoWriter.open(path);
 * writer.send("ping 1");
 * console.log(await reader.receiveText()); // "ping 1"
 * writer.close();
 * reader.close();
 * dir.remove();
 * ```
 *
 * @module
 */

export {
  errnoName,
  listDirectory,
  monotonicMs,
  pathInfo,
  removeDirectory,
  SysCallError,
  unlink,
} from "./libc.ts";
export * from "./layout.ts";
export * from "./segment_errors.ts";
export type { SegmentHeader } from "./segment_header.ts";
export * from "./segment.ts";
export * from "./shared_bytes.ts";
export * from "./slots.ts";
export * from "./mailboxes.ts";
export * from "./async_queue.ts";
export * from "./fifo.ts";
export * from "./fifo_writer.ts";
export * from "./fifo_reader.ts";
export { preloadSocketWatch } from "./fifo_watch.ts";
export * from "./runtime_dir.ts";
export * from "./process.ts";
export * from "./signals.ts";
export * from "./proc_holdings.ts";
export * from "./lock.ts";
export * from "./listen_socket.ts";
