/**
 * The cleanup checks: a SIGTERM to the system's first process, then whether it stopped within
 * a bound and with exit status 0, whether every child was reaped (no zombie lasting while its
 * parent ran, none left behind when the first process exited), whether any process of its tree
 * still runs, and what it left of what it held: named pipes, shared objects, its runtime
 * directory. And, after every run, the checker's own cleanup: it removes what the system left
 * (only what it saw the system hold, or a directory the system made).
 *
 * @module
 */

import {
  describeExit,
  listDirectory,
  NoSuchProcessError,
  pathInfo,
  type ProcessInfo,
  removeDirectory,
  sendSignal,
  SysCallError,
  unlink,
  userId,
} from "../ipc/mod.ts";
import { count, sleep } from "../roles/mod.ts";
import { basename, dirname } from "node:path";
import type { Holdings } from "./architecture.ts";
import type { Target } from "./target.ts";
import { type CheckResult, verdictOf } from "./verdict.ts";

/** How long the system may take to stop on SIGTERM. */
export const STOP_BOUND_MS = 10_000;

/** Directories many programs share: never a system's own runtime directory. */
function sharedDirectories(): string[] {
  const env = (name: string) => Deno.env.get(name) ?? "";
  return [
    "/",
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/run",
    `/run/user/${userId()}`,
    env("XDG_RUNTIME_DIR"),
    env("TMPDIR"),
    env("HOME"),
    Deno.cwd(),
  ].filter((d) => d !== "").map((d) => d.replace(/\/+$/, "") || "/");
}

/**
 * What the shared directories held before the system started: a directory in one of them that
 * was not there before is the system's (its runtime directory), and may be removed after it.
 */
export class DirectorySnapshot {
  readonly #before = new Map<string, Set<string>>();

  /** Lists the shared directories now. */
  constructor() {
    for (const dir of sharedDirectories()) {
      try {
        this.#before.set(dir, new Set(listDirectory(dir)));
      } catch (e) {
        // Not there, or not readable: nothing of it is known.
        if (!(e instanceof SysCallError)) throw e;
      }
    }
  }

  /** Whether `path` is new in a shared directory: made since the snapshot. */
  isNew(path: string): boolean {
    const listed = this.#before.get(dirname(path));
    return listed !== undefined && !listed.has(basename(path));
  }

  /** The system's own directories among those holding `paths`: new in a shared directory. */
  runtimeDirectories(paths: Iterable<string>): string[] {
    return [...new Set([...paths].map((p) => dirname(p)))].filter((d) => this.isNew(d));
  }

  /** Whether `path` is the system's own: new in a shared directory, or in a directory that is. */
  isSystems(path: string): boolean {
    return this.isNew(path) || this.isNew(dirname(path));
  }
}

function exists(path: string): boolean {
  return pathInfo(path) !== null;
}

/** The paths of `holdings` that are the system's own (see {@link DirectorySnapshot.isSystems}). */
function ownPaths(holdings: Holdings, snapshot: DirectorySnapshot): string[] {
  return [...holdings.pipes, ...holdings.objects].filter((p) => snapshot.isSystems(p));
}

/** What of the system's own pipes, objects and runtime directories still exists. */
export function leftovers(holdings: Holdings, snapshot: DirectorySnapshot): string[] {
  const own = ownPaths(holdings, snapshot);
  return [
    ...own.filter(exists),
    ...snapshot.runtimeDirectories(own).filter(exists).map((d) => `${d}/`),
  ];
}

/**
 * Removes what the system left of its own: its pipes and objects, then its runtime directories
 * with the files of this user they hold. Returns what it could not remove.
 */
export function removeLeftovers(holdings: Holdings, snapshot: DirectorySnapshot): string[] {
  const failed: string[] = [];
  const S_IFMT = 0o170000, S_IFDIR = 0o040000;
  const remove = (path: string) => {
    try {
      const info = pathInfo(path);
      if (info === null || info.uid !== userId() || (info.mode & S_IFMT) === S_IFDIR) return;
      unlink(path);
    } catch (e) {
      if (!(e instanceof SysCallError)) throw e;
      failed.push(path);
    }
  };
  const own = ownPaths(holdings, snapshot);
  for (const p of own) remove(p);
  for (const dir of snapshot.runtimeDirectories(own)) {
    if (!exists(dir)) continue;
    try {
      for (const name of listDirectory(dir)) remove(`${dir}/${name}`);
      removeDirectory(dir);
    } catch (e) {
      if (!(e instanceof SysCallError)) throw e;
      failed.push(dir);
    }
  }
  return failed;
}

/** Zombies seen while their parent ran, by pid: when first seen. */
class ZombieSightings {
  readonly #first = new Map<number, number>();
  /** Zombies seen in two samples at least 100 ms apart: a reap that did not happen. */
  readonly lasting = new Set<number>();

  sample(tree: ProcessInfo[]): void {
    const now = performance.now();
    for (const p of tree) {
      if (p.state !== "Z" || p.ppid === Deno.pid) continue;
      const first = this.#first.get(p.pid);
      if (first === undefined) this.#first.set(p.pid, now);
      else if (now - first >= 100) this.lasting.add(p.pid);
    }
  }
}

/**
 * Sends SIGTERM to `target`'s first process and checks its stop; then removes what it left.
 * `holdings`: what the architecture saw the system hold.
 */
export async function runCleanup(
  target: Target,
  holdings: Holdings,
  snapshot: DirectorySnapshot,
  stopBoundMs = STOP_BOUND_MS,
): Promise<CheckResult[]> {
  const check = (name: string, ok: boolean, detail: string) =>
    verdictOf("cleanup", name, ok, detail);
  const zombies = new ZombieSightings();
  const t0 = performance.now();
  // A system whose first process ended already runs in the background: its topmost processes
  // get the SIGTERM, and it has stopped when none of its processes runs.
  const background = target.exit !== null;
  const stopped = () => (background ? target.running().length === 0 : target.exit !== null);
  if (background) {
    const tree = target.running();
    for (const p of tree.filter((p) => !tree.some((q) => q.pid === p.ppid))) {
      try {
        sendSignal(p.pid, "SIGTERM");
      } catch (e) {
        // Gone meanwhile.
        if (!(e instanceof NoSuchProcessError)) throw e;
      }
    }
  } else {
    target.signalRoot("SIGTERM");
  }
  while (!stopped() && performance.now() - t0 < stopBoundMs) {
    zombies.sample(target.processes());
    await sleep(20);
  }
  const stopMs = performance.now() - t0;
  const results: CheckResult[] = [];
  const exit = target.exit;
  const done = stopped();
  results.push(check(
    `stops on SIGTERM within ${stopBoundMs / 1000} s`,
    done,
    done ? `in ${stopMs.toFixed(0)} ms` : `still running after ${stopBoundMs / 1000} s`,
  ));
  if (background) {
    results.push(check(
      "exit status 0",
      false,
      `its first process had ${describeExit(exit!)} before: no exit status of the system to read`,
    ));
  } else if (exit === null) {
    const killed = await target.killAll();
    results.push(
      check("exit status 0", false, `killed (${count(killed.length, "process", "processes")})`),
    );
  } else {
    results.push(check("exit status 0", exit.code === 0, describeExit(exit)));
  }
  // What its first process did not reap came to the checker, the subreaper: zombies.
  const left = target.processes();
  const unreaped = left.filter((p) => p.state === "Z" && p.ppid === Deno.pid);
  const lasting = [...zombies.lasting];
  results.push(check(
    "every child reaped",
    unreaped.length === 0 && lasting.length === 0,
    unreaped.length
      ? `${count(unreaped.length, "child", "children")} not reaped when it exited (pids ${
        unreaped.map((p) => p.pid).join(", ")
      })`
      : lasting.length
      ? `zombies for over 100 ms while their parent ran (pids ${lasting.join(", ")})`
      : "no zombie",
  ));
  let running = target.running();
  for (const until = performance.now() + 2000; running.length && performance.now() < until;) {
    await sleep(50);
    running = target.running();
  }
  results.push(check(
    "no process left running",
    running.length === 0,
    running.length
      ? `still running 2 s after the stop: ${running.map((p) => `${p.pid} (${p.comm})`).join(", ")}`
      : "none",
  ));
  await target.killAll();
  const remains = leftovers(holdings, snapshot);
  results.push(check(
    "nothing left behind (pipes, segments, runtime directory)",
    remains.length === 0,
    remains.length
      ? `left: ${remains.join(", ")}`
      : `none of the ${count(ownPaths(holdings, snapshot).length, "object")} it made`,
  ));
  return results;
}
