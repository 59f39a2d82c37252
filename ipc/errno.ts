/**
 * errno, named: the values the toolkit branches on, the symbolic names of the others, and the
 * error every failed libc call becomes.
 *
 * @module
 */

/** Linux errno numbers (x86_64 and aarch64 share these) mapped to their symbolic names. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  40: "ELOOP",
  75: "EOVERFLOW",
  98: "EADDRINUSE",
  103: "ECONNABORTED",
  99: "EADDRNOTAVAIL",
};

/** errno values the toolkit branches on. */
export const Errno = {
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  ENXIO: 6,
  ECHILD: 10,
  EAGAIN: 11,
  EEXIST: 17,
  ENOTDIR: 20,
  EINVAL: 22,
  EPIPE: 32,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
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
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}
