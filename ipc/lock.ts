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
      // O_NOFOLLOW: a symbolic link planted at the lock's name is refused (ELOOP), never
      // followed, or its target would be written with this pid.
      const fd = libc.open(
        path,
        libc.O.RDWR | libc.O.CREAT | libc.O.NOFOLLOW | libc.O.CLOEXEC,
        0o600,
      );
      try {
        if (!libc.tryLockExclusive(fd, path)) {
          throw new InstanceLockedError(path, lockHolderPid(path));
        }
        if (!libc.isOpenAt(fd, path)) {
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

  /**
   * The pid of the process holding the lock at `path` right now, or null: read from the kernel's
   * table of locks (/proc/locks), so that looking never takes the lock itself — an `up` started at
   * that moment is not refused because a `status --watch` was looking.
   */
  static holder(path: string): number | null {
    let id;
    try {
      id = libc.fileId(path);
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENOENT) return null;
      throw e;
    }
    const hex = (n: number) => n.toString(16).padStart(2, "0");
    const file = `${hex(id.major)}:${hex(id.minor)}:${id.inode}`;
    const table = new TextDecoder().decode(libc.readWholeFile("/proc/locks") ?? new Uint8Array());
    for (const line of table.split("\n")) {
      // "1: FLOCK  ADVISORY  WRITE 27280 fe:00:2146524 0 EOF"; a waiter's line has "->".
      const f = line.trim().split(/\s+/);
      if (f[1] === "FLOCK" && f[3] === "WRITE" && f[5] === file) return Number(f[4]);
    }
    return null;
  }

  /** Whether a live process holds the lock at `path` right now (see {@link holder}). */
  static isHeld(path: string): boolean {
    return InstanceLock.holder(path) !== null;
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
