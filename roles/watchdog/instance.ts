/**
 * A system instance on the machine: where it lives (a private directory with its pipes and lock
 * file, a shared segment), how a watchdog takes it over (the lock; what a dead predecessor left),
 * creates its segment and pipes, and its one teardown. Two instances of one name never run at once, and one stopping never removes
 * what one starting has created.
 *
 * @module
 */

import {
  hasOption,
  InstanceLock,
  InstanceLockedError,
  isRunning,
  makePrivateDirectory,
  monotonicMs,
  processInfo,
  processOwner,
  ROLE_STATE,
  RuntimeDir,
  RuntimeDirError,
  SegmentNotFoundError,
  sendSignal,
  SharedSegment,
  SysCallError,
  userId as getUid,
  WATCHDOG_SLOT,
} from "../../ipc/mod.ts";
import { sleep, withTimeout } from "../timers.ts";

/** Where an instance lives. */
export interface InstancePaths {
  /** The instance's name. */
  name: string;
  /** Its private directory (pipes, lock). */
  dir: string;
  /** Its lock file. */
  lock: string;
  /** Its shared segment's name. */
  segment: string;
}

/** The paths of instance `name` under `base`. */
export function instancePaths(name: string, base: string): InstancePaths {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new TypeError(`bad instance name ${JSON.stringify(name)}: 1-64 of A-Z a-z 0-9 _ -`);
  }
  const dir = `${base}/osps-${name}`;
  return { name, dir, lock: `${dir}/osps.lock`, segment: `/osps-${name}` };
}

/**
 * Whether `pid` is a role (or the standby) of the instance whose segment is `segment`, as a dead
 * instance leaves them: a process of this user started with exactly `--segment <segment>`. It
 * returns the process's start time, which names it for good (null: not one).
 */
function roleOf(pid: number, segment: string): number | null {
  if (pid <= 0 || pid === Deno.pid || !isRunning(pid)) return null;
  if (!hasOption(pid, "--segment", segment) || processOwner(pid) !== getUid()) return null;
  return processInfo(pid)?.startTicks ?? null;
}

/** The segment `name`, opened read-only and checked (see `SharedSegment.open`); null if none. */
function openIfThere(name: string): SharedSegment | null {
  try {
    return SharedSegment.open(name, { readOnly: true });
  } catch (e) {
    if (e instanceof SegmentNotFoundError) return null;
    throw e;
  }
}

/**
 * Takes over what a dead instance left (its lock must be free): waits briefly for its roles to
 * leave, SIGKILLs those still there that are really its roles (their command line has exactly
 * `--segment <name>`, and each is checked again, by its start time, just before the signal: a pid
 * is used again), removes its segment and pipes. A segment of that name that is not this user's
 * (mode 0600) or not an osps segment is refused, not removed, and nobody it names is signalled.
 */
export async function clearLeftovers(paths: InstancePaths): Promise<string[]> {
  const cleared: string[] = [];
  const old = openIfThere(paths.segment);
  if (old !== null) {
    try {
      for (let i = 0; i < old.layout.slots; i++) {
        const pid = old.slot(i).get("pid");
        const started = roleOf(pid, paths.segment);
        if (started === null) continue;
        const left = await withTimeout(
          (async () => {
            while (isRunning(pid)) await sleep(20);
            return true;
          })(),
          1500,
        );
        if (left === null && roleOf(pid, paths.segment) === started) {
          sendSignal(pid, "SIGKILL");
          cleared.push(`killed leftover role pid ${pid}`);
        }
      }
    } finally {
      old.close();
    }
    SharedSegment.unlink(paths.segment);
    cleared.push(`removed segment ${paths.segment}`);
  }
  for (const entry of Deno.readDirSync(paths.dir)) {
    if (entry.name === "osps.lock") continue;
    Deno.removeSync(`${paths.dir}/${entry.name}`);
    cleared.push(`removed ${paths.dir}/${entry.name}`);
  }
  return cleared;
}

/** An instance's directory and lock, as long as it runs. */
export interface InstanceHold {
  /** Its private directory (0700). */
  dir: RuntimeDir;
  /** Its lock, held for the instance's life. */
  lock: InstanceLock;
}

/**
 * Opens (or creates, 0700) the instance directory and takes the instance lock; throws
 * `InstanceLockedError` naming the holder if another instance runs. A stopping instance removes
 * its directory, lock file included, while it still holds its lock: when the directory vanishes
 * between the two steps, it is created again.
 */
export function openInstance(paths: InstancePaths): InstanceHold {
  for (let attempt = 1;; attempt++) {
    let created = false;
    try {
      makePrivateDirectory(paths.dir);
      created = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    try {
      const dir = RuntimeDir.open(paths.dir);
      return { dir, lock: InstanceLock.acquire(paths.lock) };
    } catch (e) {
      const gone = e instanceof RuntimeDirError && !created ||
        (e instanceof SysCallError && e.code === "ENOENT");
      if (gone && attempt < 100) continue;
      // What this attempt made (the directory, the lock file it could not write to: a full file
      // system) is removed; a directory that was there before is left as it was.
      if (created && !(e instanceof InstanceLockedError)) {
        Deno.removeSync(paths.dir, { recursive: true });
      }
      throw e;
    }
  }
}

/**
 * The one teardown of an instance: its segment unmapped and unlinked (if it was created), its
 * pipes and files removed while the lock keeps other instances out, then its lock file, then its
 * directory, then the lock released. An instance that starts once the lock file is gone creates its
 * own in the directory, which then stays: nothing of its is removed, and it never runs beside this
 * one (it locks a new file; this one holds the old).
 */
export function closeInstance(
  paths: InstancePaths,
  hold: InstanceHold,
  segment: SharedSegment | null,
): void {
  try {
    if (segment !== null) {
      segment.close();
      SharedSegment.unlink(paths.segment);
    }
  } finally {
    const lockName = paths.lock.slice(paths.lock.lastIndexOf("/") + 1);
    for (const entry of Deno.readDirSync(paths.dir)) {
      if (entry.name !== lockName) {
        Deno.removeSync(`${paths.dir}/${entry.name}`, { recursive: true });
      }
    }
    hold.lock.release(() => {
      try {
        Deno.removeSync(paths.dir);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (!(e instanceof Deno.errors.NotFound) && code !== "ENOTEMPTY") throw e;
      }
    });
  }
}

/** A running instance's resources: its directory and lock, its segment. */
export interface OpenInstance {
  /** Its paths. */
  paths: InstancePaths;
  /** Its directory and lock. */
  hold: InstanceHold;
  /** Its segment, the watchdog's slot filled in. */
  segment: SharedSegment;
}

/**
 * Takes instance `paths` over and creates what it runs on: the lock and the directory
 * ({@link openInstance}), what a dead predecessor left removed (each removal told to `warn`), the
 * segment with room for `capacity` workers labelled `label` (the stage), and the two pipes of each
 * of the first `workers` workers. If any step fails, what was done is undone before the error is
 * thrown.
 */
export async function startInstance(
  paths: InstancePaths,
  options: { workers: number; capacity: number; label: string },
  warn: (leftover: string) => void,
): Promise<OpenInstance> {
  const hold = openInstance(paths);
  let segment: SharedSegment | null = null;
  try {
    for (const line of await clearLeftovers(paths)) warn(line);
    segment = SharedSegment.create(paths.segment, {
      workers: options.capacity,
      label: options.label,
    });
    const own = segment.slot(WATCHDOG_SLOT);
    own.set("pid", Deno.pid);
    own.set("startedAt", Date.now());
    own.set("heartbeat", monotonicMs());
    own.set("state", ROLE_STATE.ready);
    for (let k = 1; k <= options.workers; k++) {
      hold.dir.fifo(`dwtube${k}`);
      hold.dir.fifo(`wdtube${k}`);
    }
    return { paths, hold, segment };
  } catch (e) {
    closeInstance(paths, hold, segment);
    throw e;
  }
}
