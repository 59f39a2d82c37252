/**
 * libc's calls on files and descriptors, checked: open, read, write, pipes, shared memory and its
 * mappings, directories, locks. A failure is a {@link SysCallError} naming the call and its object.
 *
 * @module
 */

import { Errno, SysCallError } from "./errno.ts";
import {
  clearErrno,
  cString,
  F,
  fail,
  lastErrno,
  lib,
  O,
  SEEK_END,
  sysCallError,
} from "./libc_ffi.ts";

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
  const n = Number(lib.symbols.lseek(fd, 0n, SEEK_END));
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
  const flags = lib.symbols.fcntl(fd, F.GETFL, 0n);
  if (flags < 0) fail("fcntl", object);
  if (lib.symbols.fcntl(fd, F.SETFL, BigInt(flags | O.NONBLOCK)) < 0) fail("fcntl", object);
}

/** A pipe's capacity in bytes (fcntl F_GETPIPE_SZ): what it holds before a writer blocks. */
export function pipeCapacity(fd: number, object = `fd ${fd}`): number {
  const size = lib.symbols.fcntl(fd, F.GETPIPE_SZ, 0n);
  if (size < 0) fail("fcntl", object);
  return size;
}

/** PIPE_BUF for a pipe (fpathconf _PC_PIPE_BUF): the largest write that is never interleaved. */
export function pipeAtomicSize(fd: number, object = `fd ${fd}`): number {
  const PC_PIPE_BUF = 5;
  const size = Number(lib.symbols.fpathconf(fd, PC_PIPE_BUF));
  if (size < 0) fail("fpathconf", object);
  return size;
}

/** Sets or clears FD_CLOEXEC on `fd` (fcntl F_SETFD): whether a spawned program inherits it. */
export function setCloseOnExec(fd: number, on: boolean, object = `fd ${fd}`): void {
  const FD_CLOEXEC = 1;
  if (lib.symbols.fcntl(fd, F.SETFD, on ? BigInt(FD_CLOEXEC) : 0n) < 0) fail("fcntl", object);
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
