/**
 * libc, for the toolkit: thin, checked wrappers around the calls it needs. Every wrapper checks
 * the return value and turns a failure into a {@link SysCallError} that names the call, the errno
 * name (ENOENT, EEXIST…) and the object it was acting on. `libc_ffi.ts` binds the symbols (the one
 * `Deno.dlopen`); the wrappers are grouped by what they act on.
 *
 * Only `ipc/` imports this module; roles and scenarios use the higher-level modules beside it.
 *
 * @module
 */

export { Errno, errnoName, SysCallError } from "./errno.ts";
export { cString, O, POLL } from "./libc_ffi.ts";
export * from "./libc_files.ts";
export * from "./libc_stat.ts";
export * from "./libc_process.ts";
export * from "./libc_net.ts";
