/**
 * libc's calls on processes, time and limits, checked: signals, reaping, prctl, the monotonic
 * clock, the open-file limit, and the waits (poll, eventfd) the pipe reader blocks in.
 *
 * @module
 */

import { cString, fail, lib, O, sysCallError, WNOHANG } from "./libc_ffi.ts";

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

/** signal(2) with SIG_IGN: the signal `signum` is ignored from now on. */
export function ignoreSignal(signum: number, what: string): void {
  const SIG_IGN = Deno.UnsafePointer.create(1n), SIG_ERR = -1n;
  const previous = lib.symbols.signal(signum, SIG_IGN);
  if (previous !== null && BigInt.asIntN(64, Deno.UnsafePointer.value(previous)) === SIG_ERR) {
    fail("signal", what);
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
  const r = lib.symbols.waitpid(pid, new Uint8Array(status.buffer), WNOHANG);
  if (r < 0) fail("waitpid", `pid ${pid}`);
  return r === 0 ? null : status[0];
}

/** The address of `bytes`, as an element of a C array of pointers. */
function addressOf(bytes: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/**
 * posix_spawnp(3): starts `argv[0]` (looked up in PATH) with the arguments `argv` and an empty
 * environment, as a child Deno does not know of — nothing waits for it but the caller
 * ({@link waitpidNoHang}). Returns its pid.
 */
export function spawnUnwaited(argv: string[]): number {
  if (argv.length === 0) throw new TypeError("posix_spawnp needs a program to start");
  const strings = argv.map(cString);
  // char *argv[] and char *envp[], each ended by NULL.
  const vector = new BigUint64Array([...strings.map(addressOf), 0n]);
  const environment = new BigUint64Array([0n]);
  const pid = new Int32Array(1);
  const error = lib.symbols.posix_spawnp(
    new Uint8Array(pid.buffer),
    strings[0],
    null,
    null,
    new Uint8Array(vector.buffer),
    new Uint8Array(environment.buffer),
  );
  // posix_spawnp returns the error number itself, leaving errno alone.
  if (error !== 0) throw sysCallError("posix_spawnp", argv[0], error);
  return pid[0];
}
