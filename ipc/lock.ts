/**
 * The lock file of a system instance: an exclusive flock(2) held by the running watchdog for its
 * whole life, with its pid written inside. The kernel drops the lock when the holder dies, even by
 * SIGKILL, so a lock that can be taken proves the previous holder is gone; children do not inherit
 * it (close-on-exec).
 *
 * @module
 */

import * as libc from "./libc.ts";

/** Another live process holds the instance lock. */
export class InstanceLockedError extends Error {
  /** The lock file. */
  readonly path: string;
  /** The holder's pid, as written in the file (0 if unreadable). */
  readonly pid: number;
  /** The lock `path` is held by process `pid`. */
  constructor(path: string, pid: number) {
    super(
      `another osps instance is running (pid ${pid || "unknown"}, lock ${path}); ` +
        `stop it first (kill -TERM ${pid || "<pid>"}), or use another --port or --instance`,
    );
    this.name = "InstanceLockedError";
    this.path = path;
    this.pid = pid;
  }
}

/** Whether `fd` has open the very file that `path` names now (false if the path is gone). */
function sameFile(path: string, fd: number): boolean {
  try {
    return libc.inodeOf(path) === libc.inodeOfFd(fd, path);
  } catch (e) {
    if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENOENT) return false;
    throw e;
  }
}

/** Reads the pid written in a lock file; 0 if missing or unreadable. */
export function lockHolderPid(path: string): number {
  const raw = libc.readWholeFile(path);
  const pid = raw === null ? NaN : Number(new TextDecoder().decode(raw).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/** The exclusive lock of one instance, held until {@link release}. */
export class InstanceLock implements Disposable {
  /** The lock file. */
  readonly path: string;
  #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Takes the lock at `path` (created 0600) without waiting and writes this pid into it; throws
   * {@link InstanceLockedError} naming the holder if a live process has it. Nothing is written
   * when the lock is not ours.
   *
   * A stopping holder removes the lock file while it still holds the lock (see {@link release}):
   * a lock taken on the file it just removed would prove nothing, so the file locked must still be
   * the one at `path` (same inode), else this tries again with the new one. A `SysCallError` with
   * ENOENT means the file's directory went too: the caller creates it again and retries.
   */
  static acquire(path: string): InstanceLock {
    for (let attempt = 1;; attempt++) {
      const fd = libc.open(path, libc.O.RDWR | libc.O.CREAT | libc.O.CLOEXEC, 0o600);
      try {
        if (!libc.tryLockExclusive(fd, path)) {
          throw new InstanceLockedError(path, lockHolderPid(path));
        }
        if (!sameFile(path, fd)) {
          if (attempt < 100) {
            libc.close(fd, path);
            continue;
          }
          throw new Error(`the lock file ${path} keeps being replaced while it is taken`);
        }
        libc.ftruncate(fd, 0, path);
        libc.write(fd, new TextEncoder().encode(`${Deno.pid}\n`), path);
        return new InstanceLock(path, fd);
      } catch (e) {
        libc.close(fd, path);
        throw e;
      }
    }
  }

  /** Whether a live process holds the lock at `path` right now (the file is not modified). */
  static isHeld(path: string): boolean {
    let fd: number;
    try {
      fd = libc.open(path, libc.O.RDONLY | libc.O.CLOEXEC);
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENOENT) return false;
      throw e;
    }
    try {
      return !libc.tryLockExclusive(fd, path);
    } finally {
      libc.close(fd, path);
    }
  }

  /**
   * Removes the lock file, then runs `whileHeld` (removing what the lock protects: another
   * instance can take the lock only after it), then releases the lock.
   */
  release(whileHeld: () => void = () => {}): void {
    if (this.#fd < 0) return;
    try {
      try {
        Deno.removeSync(this.path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      whileHeld();
    } finally {
      libc.close(this.#fd, this.path);
      this.#fd = -1;
    }
  }

  /** Same as {@link release}. */
  [Symbol.dispose](): void {
    this.release();
  }
}
