/**
 * The watchdog's standby: role processes started ahead of need (`roles/standby/main.ts`), their
 * imports evaluated and `node:net` loaded, waiting on their stdin. When a role must start again,
 * the watchdog hands a standby that role's command line instead of spawning a process: the role is
 * back within a few milliseconds instead of the ~40 ms a Deno process takes to start. A new
 * standby is started after each hand-over. One waits, or, where a crash restarts several roles at
 * once (the strategies one-for-all and rest-for-one), one per role.
 *
 * A standby is a child of the watchdog like any role: it leaves when the watchdog dies (end of its
 * stdin, and the parent-death signal), and the stop ends and reaps it.
 *
 * @module
 */

import {
  describeExit,
  isRunning,
  type ListenSocket,
  type ProcessExit,
  waitExit,
} from "../../ipc/mod.ts";
import { isStopped } from "./supervised.ts";
import {
  LineReader,
  reapChild,
  roleCommand,
  signalChild,
  SYSTEM_ROLE_PERMISSIONS,
} from "../spawn.ts";
import { STANDBY_LOADED, type StandbyOrder, standbyOrderLine } from "../standby/order.ts";

const PROGRAM = new URL("../standby/main.ts", import.meta.url);

/** Where a standby's life is reported. */
export interface StandbyEvents {
  /** A standby was spawned. */
  spawned(pid: number): void;
  /** The waiting standby has loaded everything: a hand-over now takes a few ms. */
  loaded(pid: number): void;
  /** A standby exited before it was handed anything (pid null: never started); `how` says how. */
  exited(pid: number | null, how: string): void;
}

/** A standby handed a role: its process, and its stdout's lines (its loaded line already read). */
export interface TakenStandby {
  /** The process, now the role's. */
  child: Deno.ChildProcess;
  /** Its stdout: the role's ready line comes next. */
  lines: LineReader;
  /** Whether it had loaded everything: then the role is ready within milliseconds. */
  loaded: boolean;
}

/** One standby process, waiting. */
class Waiting {
  loaded = false;
  readonly stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly lines: LineReader;

  constructor(readonly child: Deno.ChildProcess) {
    this.stdin = child.stdin.getWriter();
    this.lines = new LineReader(child.stdout);
  }
}

/** The instance's standby processes: up to `size()` wait at a time. */
export class Standby {
  #waiting: Waiting[] = [];

  /**
   * Standbys of the instance whose segment is `segment`, their watchdog this process; they inherit
   * the dispatcher's listening socket `listener` (one may become the dispatcher). `size()` wait
   * at once (at least 1; it may change, with scaling).
   */
  constructor(
    readonly segment: string,
    readonly listener: ListenSocket,
    readonly events: StandbyEvents,
    readonly size: () => number = () => 1,
  ) {}

  /** The pid of the standby to be handed the next role, or null. */
  get pid(): number | null {
    return this.#waiting[0]?.child.pid ?? null;
  }

  /** The process of the standby to be handed the next role, or null. */
  get child(): Deno.ChildProcess | null {
    return this.#waiting[0]?.child ?? null;
  }

  /** Whether the standby to be handed the next role waits, everything loaded. */
  get loaded(): boolean {
    return this.#waiting[0]?.loaded ?? false;
  }

  /**
   * Ends the waiting standbys and starts new ones, which load the code as it is on disk now (a
   * reload). Resolves once the old ones are reaped.
   */
  renew(): Promise<ProcessExit[]> {
    const old = this.stop();
    this.ensure();
    return old;
  }

  /**
   * Starts standbys until `size()` wait. One that cannot be spawned is reported as exited:
   * the instance goes on without it, its restarts spawning processes.
   */
  ensure(): void {
    while (this.#waiting.length < this.size()) {
      if (!this.#spawn()) return;
    }
  }

  #spawn(): boolean {
    let child: Deno.ChildProcess;
    try {
      child = this.listener.inheritedBy(() =>
        roleCommand(
          PROGRAM,
          [
            "--segment",
            this.segment,
            "--parent-pid",
            String(Deno.pid),
            "--listen-fd",
            String(this.listener.fd),
          ],
          { stdin: "piped", stdout: "piped", stderr: "inherit" },
          SYSTEM_ROLE_PERMISSIONS,
        ).spawn()
      );
    } catch (e) {
      this.events.exited(null, `could not be started: ${(e as Error).message}`);
      return false;
    }
    const waiting = new Waiting(child);
    this.#waiting.push(waiting);
    this.events.spawned(child.pid);
    waiting.lines.next().then(
      (line) => {
        if (line !== STANDBY_LOADED || !this.#waiting.includes(waiting)) return;
        waiting.loaded = true;
        this.events.loaded(child.pid);
      },
      // Its stdout failed: its exit (or the role's, if taken) says what happened.
      () => {},
    );
    const exited = (how: string) => {
      if (!this.#forget(waiting)) return;
      this.events.exited(child.pid, how);
    };
    waitExit(child).then(
      (s) => exited(describeExit(s)),
      (error) => exited(`could not be waited for: ${error}`),
    );
    return true;
  }

  /**
   * Hands `order` to a waiting standby (a loaded one first) and returns its process, now the
   * role's; null if none is waiting. One stopped by a signal or gone is ended instead, and the
   * next is tried (a stopped standby would keep the role down until its start timeout). A standby
   * that died unseen meanwhile fails the write: its exit is then the role's, restarted like any
   * other.
   */
  take(order: StandbyOrder): TakenStandby | null {
    while (this.#waiting.length > 0) {
      const waiting = this.#waiting.find((w) => w.loaded) ?? this.#waiting[0];
      const { child, stdin, lines, loaded } = waiting;
      this.#forget(waiting);
      if (!isRunning(child.pid) || isStopped(child.pid)) {
        this.#discard(waiting);
        continue;
      }
      stdin.write(new TextEncoder().encode(standbyOrderLine(order))).then(() => stdin.close())
        .catch(
          (e) => {
            // Its stdin closed under the write: it died, and its exit is now the role's.
            if (!(e instanceof Deno.errors.BrokenPipe || e instanceof TypeError)) throw e;
          },
        );
      return { child, lines, loaded };
    }
    return null;
  }

  /** Ends a standby that cannot be handed a role (stopped, or gone): SIGKILL, then reaped. */
  #discard({ child, stdin, lines }: Waiting): void {
    const stopped = isStopped(child.pid);
    this.events.exited(
      child.pid,
      stopped ? "was stopped by a signal: ended, not handed the role" : "was gone",
    );
    if (stopped) signalChild(child, "SIGKILL");
    stdin.close().catch((e) => {
      if (!(e instanceof Deno.errors.BrokenPipe || e instanceof TypeError)) throw e;
    });
    lines.release().then(() => reapChild(child, { graceMs: 1000, termMs: 300 }));
  }

  /**
   * Ends every waiting standby (its stdin closes; signals if it does not leave) and reaps it;
   * returns how each ended.
   */
  stop(): Promise<ProcessExit[]> {
    const all = this.#waiting.splice(0);
    return Promise.all(all.map(async ({ child, stdin, lines }) => {
      await stdin.close().catch((e) => {
        if (!(e instanceof Deno.errors.BrokenPipe || e instanceof TypeError)) throw e;
      });
      await lines.release();
      return await reapChild(child, { graceMs: 300, termMs: 300 });
    }));
  }

  /** Takes `waiting` out of the pool; false if it was not in it. */
  #forget(waiting: Waiting): boolean {
    const at = this.#waiting.indexOf(waiting);
    if (at < 0) return false;
    this.#waiting.splice(at, 1);
    return true;
  }
}
