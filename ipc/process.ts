/**
 * Processes: how one ended, arm the parent-death signal in a child, reap adopted orphans, check
 * liveness, and read process states from /proc. Signals themselves are in `signals.ts`.
 *
 * @module
 */

import * as libc from "./libc.ts";
import { isReapableZombie, parseProcStat, type ProcessInfo } from "./proc_stat.ts";
import { knownSignalNumber, signalName, signalNumber } from "./signals.ts";

export { isReapableZombie, parseProcStat, type ProcessInfo } from "./proc_stat.ts";

/** A /proc file as text, through libc (Deno's file API wants --allow-all there); null if gone. */
function procText(path: string): string | null {
  const raw = libc.readWholeFile(path);
  return raw === null ? null : new TextDecoder().decode(raw);
}

/** The parent this process was started by is already gone, so no parent-death signal will come. */
export class ParentGoneError extends Error {
  /** The parent is `actual`, not `expected` any more. */
  constructor(expected: number, actual: number) {
    super(`parent pid ${expected} is gone (parent is now ${actual}); exiting rather than orphaned`);
    this.name = "ParentGoneError";
  }
}

/**
 * How a child process ended, whatever the signal: Deno's own status names only the signals it
 * knows, and rejects for the others (real-time signals), which this keeps as a number.
 */
export interface ProcessExit {
  /** Exit code 0. */
  success: boolean;
  /** The exit code; 128 + n for a process killed by signal n, as a shell shows it. */
  code: number;
  /** The killing signal's name (`SIGABRT`), null if it exited or its signal has no name. */
  signal: string | null;
  /** The killing signal's number, null if it exited. */
  signalNumber: number | null;
}

/** A process's end from Deno's status. */
export function processExit(status: Deno.CommandStatus): ProcessExit {
  const n = status.signal === null ? null : knownSignalNumber(status.signal) ?? status.code - 128;
  return { success: status.success, code: status.code, signal: status.signal, signalNumber: n };
}

/**
 * Waits for `child`'s end. Deno rejects a child's status with `Invalid signal: N` when a signal
 * it has no name for killed it (the child is reaped all the same): that becomes an end by signal
 * N. Any other failure of the wait rejects.
 */
export async function waitExit(child: Deno.ChildProcess): Promise<ProcessExit> {
  try {
    return processExit(await child.status);
  } catch (e) {
    const m = /^Invalid signal: (\d+)$/.exec((e as Error)?.message ?? "");
    if (m === null) throw e;
    const n = Number(m[1]);
    return { success: false, code: 128 + n, signal: signalName(n), signalNumber: n };
  }
}

/** How a process ended, in words: `exited with code 1`, `killed by SIGABRT (6)`, `signal 40`. */
export function describeExit(exit: ProcessExit): string {
  if (exit.signalNumber === null) return `exited with code ${exit.code}`;
  return exit.signal === null
    ? `killed by signal ${exit.signalNumber}`
    : `killed by ${exit.signal} (${exit.signalNumber})`;
}

/** The i32 a registry slot records for an end: the exit code, or minus the signal number. */
export function exitStatusField(exit: ProcessExit): number {
  return exit.signalNumber === null ? exit.code : -exit.signalNumber;
}

/** An end recorded in a registry slot ({@link exitStatusField}), in words. */
export function describeExitField(field: number): string {
  if (field >= 0) return `exited with code ${field}`;
  const name = signalName(-field);
  return name === null ? `killed by signal ${-field}` : `killed by ${name} (${-field})`;
}

/** Whether a process with this pid exists (kill(pid, 0)); a zombie still exists. */
export function processExists(pid: number): boolean {
  try {
    libc.kill(pid, 0);
    return true;
  } catch (e) {
    if (e instanceof libc.SysCallError && e.errno === libc.Errno.ESRCH) return false;
    if (e instanceof libc.SysCallError && e.code === "EPERM") return true;
    throw e;
  }
}

/** Reads /proc/<pid>/stat; `null` if the process is gone. */
export function processInfo(pid: number): ProcessInfo | null {
  const text = procText(`/proc/${pid}/stat`);
  return text === null ? null : parseProcStat(pid, text);
}

/**
 * Raises this process's soft limit on open descriptors to its hard limit (a server holds one per
 * connection), and returns the limit now in force. Never lowers it.
 */
export function raiseOpenFileLimit(): number {
  const { soft, hard } = libc.openFileLimit();
  try {
    if (soft < hard) libc.setOpenFileLimit(hard, hard);
  } catch (e) {
    // A hard limit the kernel will not grant as a soft one (over fs.nr_open): keep the soft one.
    if (!(e instanceof libc.SysCallError)) throw e;
  }
  return libc.openFileLimit().soft;
}

let ticksPerSecond = 0;

/** CPU time a process has used, ms: user and system, all its threads (/proc/<pid>/stat). */
export interface CpuTime {
  /** In user mode. */
  userMs: number;
  /** In the kernel, on the process's behalf. */
  systemMs: number;
}

/**
 * The CPU time `pid` has used so far, every thread included (utime and stime of
 * /proc/<pid>/stat, at the clock-tick resolution: 10 ms); `null` if the process is gone.
 */
export function cpuTime(pid: number): CpuTime | null {
  const info = processInfo(pid);
  if (info === null) return null;
  ticksPerSecond ||= libc.clockTicksPerSecond();
  const ms = (ticks: number) => (ticks * 1000) / ticksPerSecond;
  return { userMs: ms(info.userTicks), systemMs: ms(info.systemTicks) };
}

/** Milliseconds of CPU in `ticks` clock ticks (/proc's unit: 10 ms). */
export function ticksToMs(ticks: number): number {
  ticksPerSecond ||= libc.clockTicksPerSecond();
  return (ticks * 1000) / ticksPerSecond;
}

/** Whether `pid` runs: it exists and is neither a zombie nor dead. */
export function isRunning(pid: number): boolean {
  const info = processInfo(pid);
  return info !== null && info.state !== "Z" && info.state !== "X";
}

/** Every process on the machine, read from /proc. */
export function listProcesses(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const name of libc.listDirectory("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = processInfo(Number(name));
    if (info !== null) found.push(info);
  }
  return found;
}

/** Every process whose parent is `ppid`, read from /proc. */
export function childrenOf(ppid: number): ProcessInfo[] {
  return listProcesses().filter((p) => p.ppid === ppid);
}

/**
 * The children of `ppid` that are zombies: exited, every thread gone, not yet reaped (see
 * {@link isReapableZombie}; a child still dying is not one).
 */
export function zombieChildrenOf(ppid: number): ProcessInfo[] {
  return childrenOf(ppid).filter(isReapableZombie);
}

const PR_SET_PDEATHSIG = 1;
const PR_SET_CHILD_SUBREAPER = 36;

/**
 * Asks the kernel to send `signal` to this process when its parent dies (prctl PR_SET_PDEATHSIG),
 * then checks the parent is still `expectedParent`: if the parent died before the call, no signal
 * would ever come, so this throws {@link ParentGoneError} and the caller should exit.
 */
export function setParentDeathSignal(signal: Deno.Signal, expectedParent: number): void {
  libc.prctl(PR_SET_PDEATHSIG, signalNumber(signal), "PR_SET_PDEATHSIG");
  const actual = libc.getppid();
  if (actual !== expectedParent) throw new ParentGoneError(expectedParent, actual);
}

/** The parent's pid (getppid). */
export function parentPid(): number {
  return libc.getppid();
}

/**
 * Makes this process the reaper of its orphaned descendants (prctl PR_SET_CHILD_SUBREAPER): they
 * are re-parented here instead of to init, and must be reaped with {@link reapAdopted}.
 */
export function becomeSubreaper(): void {
  libc.prctl(PR_SET_CHILD_SUBREAPER, 1, "PR_SET_CHILD_SUBREAPER");
}

/**
 * Reaps an adopted (not spawned by Deno) child if it has exited: returns true once it is reaped or
 * already gone, false while it runs. Never use it on a child Deno spawned; await its status.
 */
export function reapAdopted(pid: number): boolean {
  return collectChild(pid) !== "running";
}

/**
 * What waitpid(WNOHANG) says of a child Deno does not wait for (adopted, or started by
 * {@link spawnUnwaited}): `status` (it had exited: reaped now), `running`, or `ECHILD` (nothing to
 * wait for: not a child of this process, or reaped already — by the kernel when SIGCHLD is
 * ignored).
 */
export function collectChild(pid: number): "status" | "running" | "ECHILD" {
  try {
    return libc.waitpidNoHang(pid) === null ? "running" : "status";
  } catch (e) {
    if (e instanceof libc.SysCallError && e.errno === libc.Errno.ECHILD) return "ECHILD";
    throw e;
  }
}

/**
 * Starts `argv` (the program looked up in PATH, an empty environment) as a child Deno does not know
 * of (posix_spawnp): Deno never reaps it, so once it exits it is a zombie until
 * {@link collectChild} — unless SIGCHLD is ignored ({@link ignoreChildExits}). For experiments.
 */
export function spawnUnwaited(argv: string[]): number {
  return libc.spawnUnwaited(argv);
}

/** The running kernel's release (/proc/sys/kernel/osrelease), for reports. */
export function kernelRelease(): string {
  return procText("/proc/sys/kernel/osrelease")?.trim() ?? "unknown";
}

/** A process's command line (/proc/<pid>/cmdline, arguments joined by spaces); "" if gone. */
export function readCommandLine(pid: number): string {
  return readArguments(pid).join(" ");
}

/** A process's arguments, each as given (/proc/<pid>/cmdline); empty if gone. */
export function readArguments(pid: number): string[] {
  return (procText(`/proc/${pid}/cmdline`) ?? "").split("\0").filter((a) => a !== "");
}

/**
 * Whether `pid`'s environment (/proc/<pid>/environ, as it was at its exec) holds `entry`
 * (`NAME=value`); false if it is gone or not this user's to read.
 */
export function hasEnvironmentEntry(pid: number, entry: string): boolean {
  try {
    return (procText(`/proc/${pid}/environ`) ?? "").split("\0").includes(entry);
  } catch (e) {
    if (e instanceof libc.SysCallError && e.code === "EACCES") return false;
    throw e;
  }
}

/**
 * Whether `pid`'s command line has the option `name` with exactly `value` (`--segment
 * /osps-2222`, as two arguments): `/osps-2222` written inside `/osps-22220`, or inside a file
 * name, is not it.
 */
export function hasOption(pid: number, name: string, value: string): boolean {
  const args = readArguments(pid);
  return args.some((a, i) => (a === name && args[i + 1] === value) || a === `${name}=${value}`);
}

/**
 * Sets this process's OOM score adjustment (/proc/self/oom_score_adj, -1000 to 1000): how much
 * sooner (positive) or later (negative) the kernel's OOM killer picks it. Raising it is always
 * allowed; lowering it below its value needs CAP_SYS_RESOURCE: then false, and nothing changes.
 */
export function setOomScoreAdj(value: number): boolean {
  const path = "/proc/self/oom_score_adj";
  const fd = libc.open(path, libc.O.WRONLY | libc.O.CLOEXEC);
  try {
    libc.write(fd, new TextEncoder().encode(`${value}\n`), path);
    return true;
  } catch (e) {
    if (e instanceof libc.SysCallError && (e.code === "EACCES" || e.code === "EPERM")) return false;
    throw e;
  } finally {
    libc.close(fd, path);
  }
}

/** A process's OOM score adjustment (/proc/<pid>/oom_score_adj); null if gone. */
export function oomScoreAdj(pid: number): number | null {
  const text = procText(`/proc/${pid}/oom_score_adj`);
  return text === null ? null : Number(text.trim());
}

/** The real uid `pid` runs as (Uid of /proc/<pid>/status), null if gone. */
export function processOwner(pid: number): number | null {
  const m = /^Uid:\s+(\d+)/m.exec(procText(`/proc/${pid}/status`) ?? "");
  return m ? Number(m[1]) : null;
}

/** This process's real uid (getuid). */
export function userId(): number {
  return libc.getuid();
}

/** Whether `pid` has a handler for `signal` (SigCgt of /proc/<pid>/status); false if gone. */
export function catchesSignal(pid: number, signal: Deno.Signal): boolean {
  const m = /^SigCgt:\s+([0-9a-f]+)$/m.exec(procText(`/proc/${pid}/status`) ?? "");
  return m !== null && (BigInt(`0x${m[1]}`) >> BigInt(signalNumber(signal) - 1) & 1n) === 1n;
}

/** A process's peak resident memory (VmHWM in /proc/<pid>/status), KiB; null if gone. */
export function peakRssKib(pid: number): number | null {
  return statusKib(pid, "VmHWM");
}

/** A process's resident memory now (VmRSS in /proc/<pid>/status), KiB; null if gone. */
export function rssKib(pid: number): number | null {
  return statusKib(pid, "VmRSS");
}

function statusKib(pid: number, field: "VmHWM" | "VmRSS"): number | null {
  const text = procText(`/proc/${pid}/status`);
  if (text === null) return null;
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * How many processes the kernel's OOM killer has killed since boot, in any cgroup (`oom_kill` of
 * /proc/vmstat, Linux 4.13 and later); null where the kernel does not count them.
 */
export function oomKillCount(): number | null {
  const m = /^oom_kill (\d+)$/m.exec(procText("/proc/vmstat") ?? "");
  return m ? Number(m[1]) : null;
}

/** The CPU model (/proc/cpuinfo "model name"), for reports. */
export function cpuModel(): string {
  const m = /^model name\s*:\s*(.+)$/m.exec(procText("/proc/cpuinfo") ?? "");
  return m ? m[1].trim() : "unknown";
}

/**
 * Sets SIGCHLD to SIG_IGN: from now on the kernel reaps this process's children itself as they
 * exit (no zombie, and no exit status: waitpid fails with ECHILD). For experiments only: Deno
 * learns its children's statuses from SIGCHLD, so their `status` never resolves after this.
 */
export function ignoreChildExits(): void {
  libc.ignoreSignal(signalNumber("SIGCHLD"), "SIGCHLD");
}

/**
 * How many threads of process `pid` sleep in the kernel function `wchan` (`wait_for_partner`: a
 * FIFO's open, waiting for the other end; `pipe_write`, `anon_pipe_write` since Linux 6.14: a
 * write to a full pipe), as
 * /proc/PID/task/TID/wchan says.
 */
export function threadsWaitingIn(pid: number, wchan: string): number {
  return libc.listDirectory(`/proc/${pid}/task`).filter((tid) => {
    const text = libc.readWholeFile(`/proc/${pid}/task/${tid}/wchan`);
    return text !== null && new TextDecoder().decode(text) === wchan;
  }).length;
}
