/**
 * errno, named: the values the toolkit branches on, the symbolic names of the others, and the
 * error every failed libc call becomes.
 *
 * @module
 */

import { constants } from "node:os";

/** errno values by name, this platform's (`node:os`'s table: EAGAIN, ENOENT…). */
const ERRNO: Readonly<Record<string, number>> = constants.errno;

/** errno names by value; where two names share a value (EAGAIN, EWOULDBLOCK), the first listed. */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(ERRNO)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

/** errno values the toolkit branches on, from the platform's table. */
export const Errno = {
  ENOENT: ERRNO.ENOENT,
  ESRCH: ERRNO.ESRCH,
  EINTR: ERRNO.EINTR,
  ENXIO: ERRNO.ENXIO,
  ECHILD: ERRNO.ECHILD,
  EAGAIN: ERRNO.EAGAIN,
  EEXIST: ERRNO.EEXIST,
  ENOTDIR: ERRNO.ENOTDIR,
  EINVAL: ERRNO.EINVAL,
  EPIPE: ERRNO.EPIPE,
  EADDRINUSE: ERRNO.EADDRINUSE,
  EADDRNOTAVAIL: ERRNO.EADDRNOTAVAIL,
  ECONNABORTED: ERRNO.ECONNABORTED,
} as const;

/** A failed libc call: which call, on what, and the errno it left. */
export class SysCallError extends Error {
  /** The libc function that failed, e.g. `shm_open`. */
  readonly call: string;
  /** The object the call acted on: a path, a segment name, a pid. */
  readonly object: string;
  /** The errno number. */
  readonly errno: number;
  /** The errno's symbolic name, e.g. `EEXIST`; `E<number>` when the toolkit has no name for it. */
  readonly code: string;

  /** `call` on `object` failed with `errno`, which `description` (strerror's words) explains. */
  constructor(call: string, object: string, errno: number, description: string) {
    const code = errnoName(errno);
    super(`${call}(${object}) failed: ${code} (${description})`);
    this.name = "SysCallError";
    this.call = call;
    this.object = object;
    this.errno = errno;
    this.code = code;
  }
}

/** The symbolic name of an errno value (`17` → `EEXIST`). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}
