/**
 * The one place that calls `Deno.dlopen`: thin, checked wrappers around the libc calls the toolkit
 * needs. Every wrapper checks the return value and turns a failure into a {@link SysCallError} that
 * names the call, the errno name (ENOENT, EEXIST…) and the object it was acting on.
 *
 * Only `ipc/` imports this module; roles and scenarios use the higher-level modules beside it.
 *
 * @module
 */

import { constants as fs } from "node:fs";
import { Errno, SysCallError } from "./errno.ts";

export { Errno, errnoName, SysCallError } from "./errno.ts";

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

const lib = Deno.dlopen("libc.so.6", {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  open_blocking: {
    name: "open",
    parameters: ["buffer", "i32", "u32"],
    result: "i32",
    nonblocking: true,
  },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  // int posix_fallocate(int fd, off_t offset, off_t len): returns the error number, no errno.
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  // mode_t umask(mode_t mask): the previous mask; never fails
  umask: { parameters: ["u32"], result: "u32" },
  shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  shm_unlink: { parameters: ["buffer"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  poll_blocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  getppid: { parameters: [], result: "i32" },
  getuid: { parameters: [], result: "u32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  stat: { parameters: ["buffer", "buffer"], result: "i32" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  // ssize_t readlink(const char *path, char *buf, size_t size): no NUL added.
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
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
  lstat: { parameters: ["buffer", "buffer"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  rmdir: { parameters: ["buffer"], result: "i32" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
});

function describeErrno(errno: number): string {
  const p = lib.symbols.strerror(errno);
  return p === null ? "unknown error" : Deno.UnsafePointerView.getCString(p);
}

/** The error of a failed `call` on `object`, with the errno it left. */
function sysCallError(call: string, object: string, errno: number): SysCallError {
  return new SysCallError(call, object, errno, describeErrno(errno));
}

/** The calling thread's errno, read right after a failed synchronous call. */
function lastErrno(): number {
  const p = lib.symbols.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** Sets the calling thread's errno (to tell "end of directory" from an error after readdir). */
function clearErrno(): void {
  const p = lib.symbols.__errno_location();
  if (p !== null) new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4))[0] = 0;
}

function fail(call: string, object: string): never {
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

/** open(2); returns the file descriptor. */
export function open(path: string, flags: number, mode = 0): number {
  const fd = lib.symbols.open(cString(path), flags, mode);
  if (fd < 0) fail("open", path);
  return fd;
}

/**
 * open(2) run on Deno's blocking thread pool, for opens that wait for a peer (a FIFO's other end).
 * errno is not readable after such a call, so a failure is classified by retrying the open with
 * O_NONBLOCK, which fails the same way for every error except the missing peer (then ENXIO).
 */
export async function openWaiting(path: string, flags: number, mode = 0): Promise<number> {
  const fd = await lib.symbols.open_blocking(cString(path), flags, mode);
  if (fd >= 0) return fd;
  const probe = lib.symbols.open(cString(path), flags | O.NONBLOCK, mode);
  if (probe >= 0) lib.symbols.close(probe);
  throw sysCallError("open", path, probe < 0 ? lastErrno() : Errno.EINTR);
}

/** close(2). */
export function close(fd: number, object = `fd ${fd}`): void {
  if (lib.symbols.close(fd) < 0) fail("close", object);
}

/** read(2) into `buf`; returns the byte count, 0 at end of file. */
export function read(fd: number, buf: Uint8Array<ArrayBuffer>, object = `fd ${fd}`): number {
  const n = Number(lib.symbols.read(fd, buf, BigInt(buf.byteLength)));
  if (n < 0) fail("read", object);
  return n;
}

/** read(2) that reports "would block" (EAGAIN) as `null` instead of an error. */
export function readNonBlocking(
  fd: number,
  buf: Uint8Array<ArrayBuffer>,
  object = `fd ${fd}`,
): number | null {
  const n = Number(lib.symbols.read(fd, buf, BigInt(buf.byteLength)));
  if (n >= 0) return n;
  const errno = lastErrno();
  if (errno === Errno.EAGAIN) return null;
  throw sysCallError("read", object, errno);
}

/** write(2) of the whole buffer in one call; returns the byte count written. */
export function write(fd: number, buf: Uint8Array<ArrayBuffer>, object = `fd ${fd}`): number {
  const n = Number(lib.symbols.write(fd, buf, BigInt(buf.byteLength)));
  if (n < 0) fail("write", object);
  return n;
}

/** The size of the file behind `fd` (lseek to the end). */
export function fileSize(fd: number, object = `fd ${fd}`): number {
  const n = Number(lib.symbols.lseek(fd, 0n, 2));
  if (n < 0) fail("lseek", object);
  return n;
}

/** ftruncate(2). */
export function ftruncate(fd: number, size: number, object = `fd ${fd}`): void {
  if (lib.symbols.ftruncate(fd, BigInt(size)) < 0) fail("ftruncate", object);
}

/**
 * posix_fallocate(3) of `size` bytes from 0: the blocks are reserved now, so a file system that
 * cannot hold them says so here (ENOSPC) rather than with a SIGBUS when a page is first touched
 * (tmpfs accepts an ftruncate past its size). Interrupted calls are made again.
 */
export function fallocate(fd: number, size: number, object = `fd ${fd}`): void {
  for (;;) {
    const errno = lib.symbols.posix_fallocate(fd, 0n, BigInt(size));
    if (errno === 0) return;
    if (errno !== Errno.EINTR) throw sysCallError("posix_fallocate", object, errno);
  }
}

/** Sets O_NONBLOCK on an open descriptor (fcntl F_GETFL/F_SETFL). */
export function setNonBlocking(fd: number, object = `fd ${fd}`): void {
  const flags = lib.symbols.fcntl(fd, 3, 0n);
  if (flags < 0) fail("fcntl", object);
  if (lib.symbols.fcntl(fd, 4, BigInt(flags | O.NONBLOCK)) < 0) fail("fcntl", object);
}

/**
 * Runs `create` with the file-mode creation mask set to `mask` (umask(2)), then the mask it was:
 * a file or pipe created meanwhile gets exactly the mode asked for, with no chmod by path after
 * it (a window in which the path could be another file).
 */
export function withUmask<T>(mask: number, create: () => T): T {
  const old = lib.symbols.umask(mask);
  try {
    return create();
  } finally {
    lib.symbols.umask(old);
  }
}

/** mkfifo(3). */
export function mkfifo(path: string, mode: number): void {
  if (lib.symbols.mkfifo(cString(path), mode) < 0) fail("mkfifo", path);
}

/** shm_open(3); returns the file descriptor. */
export function shmOpen(name: string, flags: number, mode: number): number {
  const fd = lib.symbols.shm_open(cString(name), flags, mode);
  if (fd < 0) fail("shm_open", name);
  return fd;
}

/** shm_unlink(3). */
export function shmUnlink(name: string): void {
  if (lib.symbols.shm_unlink(cString(name)) < 0) fail("shm_unlink", name);
}

/** A shared mapping of `size` bytes of `fd` (mmap with MAP_SHARED), read-write or read-only. */
export function mmapShared(
  fd: number,
  size: number,
  object: string,
  writable = true,
): Deno.PointerObject {
  const PROT_READ = 0x1, PROT_WRITE = 0x2;
  const MAP_SHARED = 0x1;
  const prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  const p = lib.symbols.mmap(null, BigInt(size), prot, MAP_SHARED, fd, 0n);
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) fail("mmap", object);
  return p;
}

/** munmap(2). */
export function munmap(p: Deno.PointerObject, size: number, object: string): void {
  if (lib.symbols.munmap(p, BigInt(size)) < 0) fail("munmap", object);
}

/**
 * poll(2), run on Deno's blocking thread pool so the event loop keeps turning. `fds` is an array of
 * `struct pollfd` (8 bytes each); `timeoutMs` -1 waits without limit. Returns false when poll was
 * interrupted (the caller polls again); errno is not readable after a call on another thread.
 */
export async function pollWaiting(fds: Uint8Array<ArrayBuffer>, timeoutMs = -1): Promise<boolean> {
  return await lib.symbols.poll_blocking(fds, BigInt(fds.byteLength / 8), timeoutMs) >= 0;
}

/** eventfd(2), non-blocking and close-on-exec; used to wake a pending poll. */
export function eventfd(): number {
  const fd = lib.symbols.eventfd(0, O.NONBLOCK | O.CLOEXEC);
  if (fd < 0) fail("eventfd", "wake-up counter");
  return fd;
}

/**
 * kill(2) of one process with a signal number; `sig` 0 only checks that the process exists. A pid
 * of 0 or below is refused (a RangeError): kill(2) would signal a whole process group, or every
 * process the caller may signal — never what a pid read from a registry or /proc means.
 */
export function kill(pid: number, sig: number): void {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new RangeError(`kill: ${pid} is no process id (a process group or every process)`);
  }
  if (lib.symbols.kill(pid, sig) < 0) fail("kill", `pid ${pid}`);
}

/** getpid(2). */
export function getpid(): number {
  return lib.symbols.getpid();
}

/** getppid(2). */
export function getppid(): number {
  return lib.symbols.getppid();
}

/** getuid(2). */
export function getuid(): number {
  return lib.symbols.getuid();
}

/** sysconf(3) of `_SC_CLK_TCK`: the clock ticks per second of /proc's CPU times. */
export function clockTicksPerSecond(): number {
  const SC_CLK_TCK = 2;
  const n = Number(lib.symbols.sysconf(SC_CLK_TCK));
  if (n <= 0) fail("sysconf", "_SC_CLK_TCK");
  return n;
}

const timespec = new BigInt64Array(2);
const timespecBytes = new Uint8Array(timespec.buffer);

/**
 * clock_gettime(2) of CLOCK_MONOTONIC, in ms (µs precision): the same clock in every process of
 * the machine, never stepped by NTP or by setting the date.
 */
export function monotonicMs(): number {
  const CLOCK_MONOTONIC = 1;
  if (lib.symbols.clock_gettime(CLOCK_MONOTONIC, timespecBytes) < 0) {
    fail("clock_gettime", "CLOCK_MONOTONIC");
  }
  return Number(timespec[0]) * 1000 + Number(timespec[1]) / 1e6;
}

/** struct stat is 144 bytes on x86_64 and 128 on aarch64; st_ino is at offset 8 on both. */
const statBuf = new BigUint64Array(32);
const statBytes = new Uint8Array(statBuf.buffer);

/**
 * stat(2) of `path`: the device it is on (its major and minor numbers, as /proc/locks writes
 * them) and its inode number.
 */
export function fileId(path: string): { major: number; minor: number; inode: bigint } {
  if (lib.symbols.stat(cString(path), statBytes) < 0) fail("stat", path);
  const dev = statBuf[0];
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn)),
    inode: statBuf[1],
  };
}

/** stat(2) of `path`: its inode number (which file the name names now). */
export function inodeOf(path: string): bigint {
  if (lib.symbols.stat(cString(path), statBytes) < 0) fail("stat", path);
  return statBuf[1];
}

/**
 * Where struct stat keeps st_mode and st_uid: x86_64's layout puts st_nlink (8 bytes) before
 * them, the generic one (aarch64) after st_mode, as 4 bytes.
 */
const STAT_MODE_UID = Deno.build.arch === "x86_64" ? [24, 28] : [16, 24];

/** fstat(2) of `fd`: the owner's uid and the mode bits (type and permissions). */
export function ownerOfFd(fd: number, object = `fd ${fd}`): { uid: number; mode: number } {
  if (lib.symbols.fstat(fd, statBytes) < 0) fail("fstat", object);
  const view = new DataView(statBytes.buffer);
  return {
    mode: view.getUint32(STAT_MODE_UID[0], true),
    uid: view.getUint32(STAT_MODE_UID[1], true),
  };
}

/** The file type bits of st_mode: a FIFO's. */
export const S_IFIFO = 0o010000;

/**
 * stat(2) of `path` (following links: for /proc/<pid>/fd/<n>, the file the descriptor has open):
 * its mode bits, type included; null if it is gone.
 */
export function fileMode(path: string): number | null {
  if (lib.symbols.stat(cString(path), statBytes) < 0) {
    const errno = lastErrno();
    if (errno === Errno.ENOENT || errno === Errno.ESRCH) return null;
    throw sysCallError("stat", path, errno);
  }
  return new DataView(statBytes.buffer).getUint32(STAT_MODE_UID[0], true);
}

/**
 * lstat(2) of `path` (a link is not followed): its mode bits and owner; null if it is not there.
 * Through libc, since Deno lets only --allow-all look into /dev/shm.
 */
export function pathInfo(path: string): { mode: number; uid: number } | null {
  if (lib.symbols.lstat(cString(path), statBytes) < 0) {
    const errno = lastErrno();
    if (errno === Errno.ENOENT || errno === Errno.ENOTDIR) return null;
    throw sysCallError("lstat", path, errno);
  }
  const view = new DataView(statBytes.buffer);
  return {
    mode: view.getUint32(STAT_MODE_UID[0], true),
    uid: view.getUint32(STAT_MODE_UID[1], true),
  };
}

/** unlink(2) of `path`; false if it was not there. */
export function unlink(path: string): boolean {
  if (lib.symbols.unlink(cString(path)) === 0) return true;
  if (lastErrno() === Errno.ENOENT) return false;
  fail("unlink", path);
}

/** rmdir(2) of `path` (an empty directory); false if it was not there. */
export function removeDirectory(path: string): boolean {
  if (lib.symbols.rmdir(cString(path)) === 0) return true;
  if (lastErrno() === Errno.ENOENT) return false;
  fail("rmdir", path);
}

/** fstat(2) of `fd`: its inode number (which file the descriptor has open). */
export function inodeOfFd(fd: number, object = `fd ${fd}`): bigint {
  if (lib.symbols.fstat(fd, statBytes) < 0) fail("fstat", object);
  return statBuf[1];
}

/** Whether `fd` has open the very file `path` names now (false if the path is gone). */
export function isOpenAt(fd: number, path: string): boolean {
  try {
    return inodeOf(path) === inodeOfFd(fd, path);
  } catch (e) {
    if (e instanceof SysCallError && e.errno === Errno.ENOENT) return false;
    throw e;
  }
}

/** RLIMIT_NOFILE, the open-file limit (Linux). */
const RLIMIT_NOFILE = 7;

/** getrlimit(2) of RLIMIT_NOFILE: the soft and hard limits on open descriptors. */
export function openFileLimit(): { soft: number; hard: number } {
  const limits = new BigUint64Array(2);
  if (lib.symbols.getrlimit(RLIMIT_NOFILE, new Uint8Array(limits.buffer)) < 0) {
    fail("getrlimit", "RLIMIT_NOFILE");
  }
  const n = (v: bigint) => v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
  return { soft: n(limits[0]), hard: n(limits[1]) };
}

/** setrlimit(2) of RLIMIT_NOFILE's soft limit to `soft` (at most the hard limit). */
export function setOpenFileLimit(soft: number, hard: number): void {
  const limits = new BigUint64Array([
    soft === Infinity ? 0xffffffffffffffffn : BigInt(soft),
    hard === Infinity ? 0xffffffffffffffffn : BigInt(hard),
  ]);
  if (lib.symbols.setrlimit(RLIMIT_NOFILE, new Uint8Array(limits.buffer)) < 0) {
    fail("setrlimit", "RLIMIT_NOFILE");
  }
}

/** prctl(2) with one integer argument. */
export function prctl(option: number, arg: number, what: string): void {
  if (lib.symbols.prctl(option, BigInt(arg), 0n, 0n, 0n) < 0) fail("prctl", what);
}

/**
 * waitpid(2) with WNOHANG: reaps `pid` if it has exited. Returns its raw wait status, or null while
 * it still runs.
 */
export function waitpidNoHang(pid: number): number | null {
  const status = new Int32Array(1);
  const r = lib.symbols.waitpid(pid, new Uint8Array(status.buffer), 1);
  if (r < 0) fail("waitpid", `pid ${pid}`);
  return r === 0 ? null : status[0];
}

/**
 * Reads a whole file through libc. Used for /proc, which Deno's own file API only reads with
 * --allow-all. Returns null if the file does not exist (a process that has gone).
 */
export function readWholeFile(path: string): Uint8Array | null {
  let fd: number;
  try {
    fd = open(path, O.RDONLY | O.CLOEXEC);
  } catch (e) {
    if (e instanceof SysCallError && (e.errno === Errno.ENOENT || e.errno === Errno.ESRCH)) {
      return null;
    }
    throw e;
  }
  try {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (let n = read(fd, buf, path); n > 0; n = read(fd, buf, path)) chunks.push(buf.slice(0, n));
    const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } catch (e) {
    // A process that exits while its /proc file is read makes read fail with ESRCH.
    if (e instanceof SysCallError && e.errno === Errno.ESRCH) return null;
    throw e;
  } finally {
    close(fd, path);
  }
}

const linkBuffer = new Uint8Array(4096);

/**
 * readlink(2): what a symbolic link names (for /proc: a descriptor's file, `socket:[1234]`,
 * `pipe:[5678]`); null if the link is gone (ENOENT: its process or descriptor is).
 */
export function readLink(path: string): string | null {
  const n = Number(lib.symbols.readlink(cString(path), linkBuffer, BigInt(linkBuffer.length)));
  if (n >= 0) return new TextDecoder().decode(linkBuffer.subarray(0, n));
  const errno = lastErrno();
  if (errno === Errno.ENOENT || errno === Errno.ESRCH) return null;
  throw sysCallError("readlink", path, errno);
}

/** socket(2) with SOCK_CLOEXEC: a new socket's descriptor (`what` names it in errors). */
export function socket(domain: number, type: number, protocol: number, what: string): number {
  const SOCK_CLOEXEC = 0o2000000;
  const fd = lib.symbols.socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw sysCallError("socket", what, lastErrno());
  return fd;
}

/** Address families. */
export const AF = { INET: 2, INET6: 10 } as const;

/**
 * A TCP socket listening on `host`:`port` (an IPv4 or IPv6 address; port 0: any free one), with
 * SO_REUSEADDR (as Deno's own listeners: a port whose last holder left sockets in TIME_WAIT binds
 * at once) and close-on-exec. Returns its descriptor and the port it got; a failure names the
 * address (EADDRINUSE, EACCES below 1024, EADDRNOTAVAIL).
 */
export function listenTcp(
  host: string,
  port: number,
  backlog: number,
): { fd: number; port: number } {
  const what = `${host}:${port}`;
  const v6 = host.includes(":");
  const family = v6 ? AF.INET6 : AF.INET;
  // struct sockaddr_in (16 bytes) or sockaddr_in6 (28): family, port (network order), address.
  const address = new Uint8Array(v6 ? 28 : 16);
  const view = new DataView(address.buffer);
  view.setUint16(0, family, true);
  view.setUint16(2, port, false);
  const at = v6 ? address.subarray(8, 24) : address.subarray(4, 8);
  if (lib.symbols.inet_pton(family, cString(host), at) !== 1) {
    throw sysCallError("inet_pton", what, Errno.EINVAL);
  }
  const SOCK_STREAM = 1, SOL_SOCKET = 1, SO_REUSEADDR = 2;
  const fd = socket(family, SOCK_STREAM, 0, what);
  try {
    const one = new Uint8Array(new Int32Array([1]).buffer);
    if (lib.symbols.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4) < 0) fail("setsockopt", what);
    if (lib.symbols.bind(fd, address, address.length) < 0) fail("bind", what);
    if (lib.symbols.listen(fd, backlog) < 0) fail("listen", what);
    return { fd, port: socketPort(fd, what) };
  } catch (e) {
    lib.symbols.close(fd);
    throw e;
  }
}

/**
 * accept4(2) on the listening socket `fd`, without waiting: the new connection's descriptor
 * (non-blocking, close-on-exec), or null if none waits (EAGAIN). A connection reset before it
 * was taken (ECONNABORTED) is skipped.
 */
export function acceptNow(fd: number, object: string): number | null {
  const SOCK_NONBLOCK = O.NONBLOCK, SOCK_CLOEXEC = O.CLOEXEC, ECONNABORTED = 103;
  while (true) {
    const conn = lib.symbols.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn >= 0) return conn;
    const errno = lastErrno();
    if (errno === Errno.EAGAIN) return null;
    if (errno !== ECONNABORTED && errno !== Errno.EINTR) {
      throw sysCallError("accept4", object, errno);
    }
  }
}

/** The port a socket is bound to (getsockname(2); IPv4 or IPv6, the port is at the same place). */
export function socketPort(fd: number, object: string): number {
  const address = new Uint8Array(28);
  const length = new Uint32Array([address.length]);
  if (lib.symbols.getsockname(fd, address, new Uint8Array(length.buffer)) < 0) {
    fail("getsockname", object);
  }
  return new DataView(address.buffer).getUint16(2, false);
}

/** Sets or clears FD_CLOEXEC on `fd` (fcntl F_SETFD): whether a spawned program inherits it. */
export function setCloseOnExec(fd: number, on: boolean, object = `fd ${fd}`): void {
  const F_SETFD = 2, FD_CLOEXEC = 1;
  if (lib.symbols.fcntl(fd, F_SETFD, on ? BigInt(FD_CLOEXEC) : 0n) < 0) fail("fcntl", object);
}

/** Offset of d_name in glibc's struct dirent on 64-bit Linux (d_ino, d_off, d_reclen, d_type). */
const DIRENT_NAME_OFFSET = 19;

/** The entry names of a directory (opendir/readdir), without "." and "..". */
export function listDirectory(path: string): string[] {
  const dir = lib.symbols.opendir(cString(path));
  if (dir === null) fail("opendir", path);
  const names: string[] = [];
  try {
    while (true) {
      clearErrno();
      const entry = lib.symbols.readdir(dir);
      if (entry === null) {
        if (lastErrno() !== 0) fail("readdir", path);
        return names;
      }
      const name = new Deno.UnsafePointerView(entry).getCString(DIRENT_NAME_OFFSET);
      if (name !== "." && name !== "..") names.push(name);
    }
  } finally {
    lib.symbols.closedir(dir);
  }
}

/**
 * flock(2) with LOCK_EX|LOCK_NB: true if this descriptor now holds the exclusive lock, false if
 * another open file holds it (EWOULDBLOCK).
 */
export function tryLockExclusive(fd: number, object: string): boolean {
  const LOCK_EX = 2, LOCK_NB = 4;
  if (lib.symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const errno = lastErrno();
  if (errno === Errno.EAGAIN) return false;
  throw sysCallError("flock", object, errno);
}
