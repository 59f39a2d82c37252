/**
 * The sockets the toolkit makes itself, through libc: a listening TCP socket a watchdog holds
 * and hands to each dispatcher it starts, and accept4(2) on it.
 *
 * @module
 */

import { Errno } from "./errno.ts";
import { cString, fail, lastErrno, lib, O, sysCallError } from "./libc_ffi.ts";

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
  const SOCK_NONBLOCK = O.NONBLOCK, SOCK_CLOEXEC = O.CLOEXEC;
  while (true) {
    const conn = lib.symbols.accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn >= 0) return conn;
    const errno = lastErrno();
    if (errno === Errno.EAGAIN) return null;
    if (errno !== Errno.ECONNABORTED && errno !== Errno.EINTR) {
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
