/**
 * A /proc/<pid>/stat line read: the fields the toolkit uses, and what makes a zombie reapable.
 * Pure: `process.ts` reads the files.
 *
 * @module
 */

/** One line of /proc/<pid>/stat, the fields the toolkit uses. */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Parent's pid. */
  ppid: number;
  /** Its session's id (the pid of the session's leader); a zombie keeps it. */
  session: number;
  /** State letter: R running, S sleeping, D disk, T stopped, Z zombie, X dead… */
  state: string;
  /** Command name (at most 15 characters, as the kernel keeps it). */
  comm: string;
  /** Threads not yet gone: 1 for a zombie that can be reaped, more while its threads exit. */
  threads: number;
  /** CPU time in user mode so far, every thread included, in clock ticks. */
  userTicks: number;
  /** CPU time in the kernel on its behalf so far, every thread included, in clock ticks. */
  systemTicks: number;
  /** CPU time, user and kernel, of its children it has waited for, in clock ticks. */
  reapedChildrenTicks: number;
  /**
   * When it started, in clock ticks since boot: with its pid, what names one process for good (a
   * pid is used again once its process is gone, by a process that started later).
   */
  startTicks: number;
}

/** The fields of a /proc/<pid>/stat line the toolkit uses. */
export function parseProcStat(pid: number, text: string): ProcessInfo {
  // "pid (comm) S ppid …": comm may itself hold spaces and parentheses. After it, field 3 (the
  // state) is rest[0], field 6 (session) rest[3]; fields 14 and 15 (utime, stime) are rest[11] and rest[12], 16 and 17
  // (cutime, cstime) rest[13] and rest[14]; field 20
  // (num_threads) is rest[17]; field 22 (starttime) is rest[19].
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const rest = text.slice(close + 2).split(" ");
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    session: Number(rest[3]),
    threads: Number(rest[17]),
    userTicks: Number(rest[11]),
    systemTicks: Number(rest[12]),
    reapedChildrenTicks: Number(rest[13]) + Number(rest[14]),
    startTicks: Number(rest[19]),
  };
}

/**
 * Whether a process is a zombie its parent could reap now: exited (state Z) with every thread
 * gone. A multi-threaded process killed by a signal shows its main thread as Z at once, while its
 * other threads still exit (tens of ms for a Deno process, more on a loaded machine): until they
 * have, the kernel tells its parent nothing and wait() cannot take it.
 */
export function isReapableZombie(info: ProcessInfo): boolean {
  return info.state === "Z" && info.threads <= 1;
}
