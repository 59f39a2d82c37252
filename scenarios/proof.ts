/**
 * What a run must leave behind: nothing. Checks /proc for zombie children and surviving pids, the
 * file system for pipes and directories, and /dev/shm for segments.
 *
 * @module
 */

import {
  hasOption,
  isRunning,
  listProcesses,
  processInfo,
  readCommandLine,
  SharedSegment,
  zombieChildrenOf,
} from "../ipc/mod.ts";

/** What to look for after a run. */
export interface LeftoverQuery {
  /** Pids that must be gone (not running, not zombies). */
  pids?: number[];
  /** Paths (pipes, directories) that must not exist. */
  paths?: string[];
  /** Shared segment names that must not exist. */
  segments?: string[];
}

/** The result of {@link checkLeftovers}: each list empty when the run cleaned up. */
export interface LeftoverReport {
  /** This process's children in state Z (exited, not reaped). */
  zombies: { pid: number; comm: string }[];
  /** Queried pids that still run or were never reaped. */
  survivors: { pid: number; state: string }[];
  /** Queried paths that still exist. */
  paths: string[];
  /** Queried segments that still exist. */
  segments: string[];
}

/** Looks for zombies of this process and for the queried leftovers. */
export function checkLeftovers(query: LeftoverQuery): LeftoverReport {
  const survivors = (query.pids ?? []).flatMap((pid) => {
    const info = processInfo(pid);
    return info === null ? [] : [{ pid, state: isRunning(pid) ? info.state : "Z (not reaped)" }];
  });
  const paths = (query.paths ?? []).filter((p) => {
    try {
      Deno.lstatSync(p);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  });
  return {
    zombies: zombieChildrenOf(Deno.pid).map(({ pid, comm }) => ({ pid, comm })),
    survivors,
    paths,
    segments: (query.segments ?? []).filter((s) => SharedSegment.exists(s)),
  };
}

/** Whether a report found nothing. */
export function isClean(report: LeftoverReport): boolean {
  return report.zombies.length + report.survivors.length + report.paths.length +
      report.segments.length === 0;
}

/** The report as lines of text, one per check. */
export function formatLeftovers(report: LeftoverReport): string[] {
  const list = (xs: unknown[]) =>
    xs.length === 0 ? "none" : xs.map((x) => JSON.stringify(x)).join(", ");
  return [
    `zombie children: ${list(report.zombies)}`,
    `processes still there: ${list(report.survivors)}`,
    `pipes and directories left: ${list(report.paths)}`,
    `shared segments left: ${list(report.segments)}`,
  ];
}

/**
 * The running processes of the instance whose segment is `segment`: every role and the standby
 * is started with exactly `--segment <segment>` (a name inside another argument is not it).
 */
export function processesOfSegment(segment: string): { pid: number; state: string }[] {
  return listProcesses().flatMap((p) =>
    p.pid !== Deno.pid && p.state !== "Z" && hasOption(p.pid, "--segment", segment)
      ? [{ pid: p.pid, state: p.state }]
      : []
  );
}

/**
 * Running processes (other than this one) whose command line contains `text` anywhere, e.g. a
 * prefix of instance names: for what a test started, not to decide whom to signal.
 */
export function processesMentioning(text: string): { pid: number; state: string }[] {
  return listProcesses().flatMap((p) =>
    p.pid !== Deno.pid && p.state !== "Z" && readCommandLine(p.pid).includes(text)
      ? [{ pid: p.pid, state: p.state }]
      : []
  );
}
