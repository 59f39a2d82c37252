/**
 * The one place that calls `Deno.dlopen`: libc's symbols as the toolkit binds them, each beside
 * its C declaration, and what every wrapper needs to report a failure — the errno, read from the
 * thread's own errno cell, and the {@link SysCallError} naming the call and its object.
 *
 * The wrappers are in `libc_files.ts`, `libc_stat.ts`, `libc_process.ts` and `libc_net.ts`,
 * exported together by `libc.ts`; only `ipc/` imports them.
 *
 * @module
 */

import { constants as fs } from "node:fs";
import { SysCallError } from "./errno.ts";

/** open(2) / shm_open(3) flags, this platform's values (`node:fs` has all but O_CLOEXEC). */
export const O = {
  RDONLY: fs.O_RDONLY,
  WRONLY: fs.O_WRONLY,
  RDWR: fs.O_RDWR,
  CREAT: fs.O_CREAT,
  EXCL: fs.O_EXCL,
  NONBLOCK: fs.O_NONBLOCK,
  NOFOLLOW: fs.O_NOFOLLOW,
  /** O_CLOEXEC: 02000000 on Linux's every architecture. */
  CLOEXEC: 0o2000000,
} as const;

/** poll(2) event bits. */
export const POLL = { IN: 0x1, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

/** fcntl(2) commands. */
export const F = { SETFD: 2, GETFL: 3, SETFL: 4, GETPIPE_SZ: 1032 } as const;

/** lseek(2) `whence`: from the end of the file. */
export const SEEK_END = 2;

/** waitpid(2) option: return at once if the child has not exited. */
export const WNOHANG = 1;

/** libc, bound. A `nonblocking` symbol runs on Deno's blocking thread pool. */
export const lib = Deno.dlopen("libc.so.6", {
  // int *__errno_location(void): the calling thread's errno
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum)
  strerror: { parameters: ["i32"], result: "pointer" },
  // int open(const char *path, int flags, mode_t mode)
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // the same open(2), for opens that wait for a peer (a FIFO's other end)
  open_blocking: {
    name: "open",
    parameters: ["buffer", "i32", "u32"],
    result: "i32",
    nonblocking: true,
  },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t write(int fd, const void *buf, size_t count)
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // off_t lseek(int fd, off_t offset, int whence)
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  // int ftruncate(int fd, off_t length)
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  // int posix_fallocate(int fd, off_t offset, off_t len): returns the error number, no errno
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32" },
  // long fpathconf(int fd, int name)
  fpathconf: { parameters: ["i32", "i32"], result: "i64" },
  // int fcntl(int fd, int cmd, long arg)
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  // int mkfifo(const char *path, mode_t mode)
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  // mode_t umask(mode_t mask): the previous mask; never fails
  umask: { parameters: ["u32"], result: "u32" },
  // int shm_open(const char *name, int flags, mode_t mode)
  shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // int shm_unlink(const char *name)
  shm_unlink: { parameters: ["buffer"], result: "i32" },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  // int munmap(void *addr, size_t length)
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout), on the blocking pool
  poll_blocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int eventfd(unsigned int initval, int flags)
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // int kill(pid_t pid, int sig)
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // pid_t getpid(void)
  getpid: { parameters: [], result: "i32" },
  // pid_t getppid(void)
  getppid: { parameters: [], result: "i32" },
  // uid_t getuid(void)
  getuid: { parameters: [], result: "u32" },
  // long sysconf(int name)
  sysconf: { parameters: ["i32"], result: "i64" },
  // int clock_gettime(clockid_t clock, struct timespec *tp)
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  // int stat(const char *path, struct stat *buf)
  stat: { parameters: ["buffer", "buffer"], result: "i32" },
  // int fstat(int fd, struct stat *buf)
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  // int lstat(const char *path, struct stat *buf)
  lstat: { parameters: ["buffer", "buffer"], result: "i32" },
  // int getrlimit(int resource, struct rlimit *rlim)
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // int setrlimit(int resource, const struct rlimit *rlim)
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // sighandler_t signal(int signum, sighandler_t handler)
  signal: { parameters: ["i32", "pointer"], result: "pointer" },
  // int prctl(int option, unsigned long arg2, arg3, arg4, arg5)
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  // pid_t waitpid(pid_t pid, int *status, int options)
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
  //                  const posix_spawnattr_t *attributes, char *const argv[], char *const envp[])
  posix_spawnp: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  // int flock(int fd, int operation)
  flock: { parameters: ["i32", "i32"], result: "i32" },
  // ssize_t readlink(const char *path, char *buf, size_t size): no NUL added
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int setsockopt(int fd, int level, int name, const void *value, socklen_t length)
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // int bind(int fd, const struct sockaddr *address, socklen_t length)
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int listen(int fd, int backlog)
  listen: { parameters: ["i32", "i32"], result: "i32" },
  // int getsockname(int fd, struct sockaddr *address, socklen_t *length)
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags)
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  // int inet_pton(int family, const char *text, void *address): 1, or 0 for a bad address
  inet_pton: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int unlink(const char *path)
  unlink: { parameters: ["buffer"], result: "i32" },
  // int rmdir(const char *path)
  rmdir: { parameters: ["buffer"], result: "i32" },
  // DIR *opendir(const char *path)
  opendir: { parameters: ["buffer"], result: "pointer" },
  // struct dirent *readdir(DIR *dir): NULL at the end, or on an error (errno set)
  readdir: { parameters: ["pointer"], result: "pointer" },
  // int closedir(DIR *dir)
  closedir: { parameters: ["pointer"], result: "i32" },
});

/**
 * This thread's errno, mapped once: JavaScript runs on one thread (a Worker loads this module on
 * its own), so the errno a failed call left is read from memory at once, with no second call that
 * could change it.
 */
const errnoCell = (() => {
  const p = lib.symbols.__errno_location();
  if (p === null) throw new Error("__errno_location returned NULL");
  return new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4));
})();

/** The errno the last failed synchronous call on this thread left. */
export function lastErrno(): number {
  return errnoCell[0];
}

/** Sets errno to 0 (to tell "end of directory" from an error after readdir). */
export function clearErrno(): void {
  errnoCell[0] = 0;
}

function describeErrno(errno: number): string {
  const p = lib.symbols.strerror(errno);
  return p === null ? "unknown error" : Deno.UnsafePointerView.getCString(p);
}

/** The error of a failed `call` on `object`, with the errno it left. */
export function sysCallError(call: string, object: string, errno: number): SysCallError {
  return new SysCallError(call, object, errno, describeErrno(errno));
}

/** Throws the error of the synchronous `call` on `object` that just failed. */
export function fail(call: string, object: string): never {
  throw sysCallError(call, object, lastErrno());
}

const encoder = new TextEncoder();

/** Encodes a string as a NUL-terminated C string; refuses strings holding NUL. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) {
    throw new TypeError(`a C string cannot hold a NUL byte: ${JSON.stringify(s)}`);
  }
  return encoder.encode(`${s}\0`);
}
