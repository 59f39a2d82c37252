/**
 * stat(2), fstat(2) and lstat(2), read for what the toolkit asks of a path or a descriptor: which
 * file it is, its type and mode, its owner.
 *
 * @module
 */

import { Errno, SysCallError } from "./errno.ts";
import { cString, fail, lastErrno, lib, sysCallError } from "./libc_ffi.ts";

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
