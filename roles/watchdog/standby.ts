/**
 * The watchdog's standby: one role process started ahead of need (`roles/standby/main.ts`), its
 * imports evaluated and `node:net` loaded, waiting on its stdin. When a role must start again, the
 * watchdog hands the standby that role's command line instead of spawning a process: the role is
 * back within a few milliseconds instead of the ~40 ms a Deno process takes to start. A new
 * standby is started after each hand-over.
 *
 * A standby is a child of the watchdog like any role: it leaves when the watchdog dies (end of its
 * stdin, and the parent-death signal), and the stop ends and reaps it.
 *
 * @module
 */

import { describeExit, isRunning, type ProcessExit, waitExit } from "../../ipc/mod.ts";
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

/** The instance's standby process: at most one waits at a time. */
export class Standby {
  #child: Deno.ChildProcess | null = null;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | null = null;
  #lines: LineReader | null = null;
  #loaded = false;

  /** A standby of the instance whose segment is `segment`, its watchdog this process. */
  constructor(readonly segment: string, readonly events: StandbyEvents) {}

  /** The waiting standby's pid, or null. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /**
   * Starts a standby unless one is waiting. One that cannot be spawned is reported as exited:
   * the instance goes on without it, its restarts spawning processes.
   */
  ensure(): void {
    if (this.#child !== null) return;
    let child: Deno.ChildProcess;
    try {
      child = roleCommand(
        PROGRAM,
        ["--segment", this.segment, "--parent-pid", String(Deno.pid)],
        { stdin: "piped", stdout: "piped", stderr: "inherit" },
        SYSTEM_ROLE_PERMISSIONS,
      ).spawn();
    } catch (e) {
      this.events.exited(null, `could not be started: ${(e as Error).message}`);
      return;
    }
    this.#child = child;
    this.#stdin = child.stdin.getWriter();
    this.#lines = new LineReader(child.stdout);
    this.events.spawned(child.pid);
    this.#lines.next().then(
      (line) => {
        if (line !== STANDBY_LOADED || this.#child !== child) return;
        this.#loaded = true;
        this.events.loaded(child.pid);
      },
      // Its stdout failed: its exit (or the role's, if taken) says what happened.
      () => {},
    );
    const exited = (how: string) => {
      if (this.#child !== child) return;
      this.#forget();
      this.events.exited(child.pid, how);
    };
    waitExit(child).then(
      (s) => exited(describeExit(s)),
      (error) => exited(`could not be waited for: ${error}`),
    );
  }

  /**
   * Hands `order` to the waiting standby and returns its process, now the role's; null if none
   * is waiting, or if the one waiting is stopped by a signal or gone (it is then ended, and the
   * caller spawns a process instead: a stopped standby would keep the role down until its start
   * timeout). A standby that died unseen meanwhile fails the write: its exit is then the role's,
   * restarted like any other.
   */
  take(order: StandbyOrder): TakenStandby | null {
    const child = this.#child;
    const stdin = this.#stdin;
    const lines = this.#lines;
    if (child === null || stdin === null || lines === null) return null;
    if (!isRunning(child.pid) || isStopped(child.pid)) {
      this.#discard(child, stdin, lines);
      return null;
    }
    const loaded = this.#loaded;
    this.#forget();
    stdin.write(new TextEncoder().encode(standbyOrderLine(order))).then(() => stdin.close()).catch(
      (e) => {
        // Its stdin closed under the write: it died, and its exit is now the role's.
        if (!(e instanceof Deno.errors.BrokenPipe || e instanceof TypeError)) throw e;
      },
    );
    return { child, lines, loaded };
  }

  /** Ends a standby that cannot be handed a role (stopped, or gone): SIGKILL, then reaped. */
  #discard(
    child: Deno.ChildProcess,
    stdin: WritableStreamDefaultWriter<Uint8Array>,
    lines: LineReader,
  ): void {
    this.#forget();
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
   * Ends the waiting standby (its stdin closes; signals if it does not leave) and reaps it;
   * returns how it ended, null if none was waiting.
   */
  async stop(): Promise<ProcessExit | null> {
    const child = this.#child;
    const stdin = this.#stdin;
    const lines = this.#lines;
    if (child === null || stdin === null) return null;
    this.#forget();
    await stdin.close().catch(() => {});
    await lines?.release();
    return await reapChild(child, { graceMs: 300, termMs: 300 });
  }

  #forget(): void {
    this.#child = null;
    this.#stdin = null;
    this.#lines = null;
    this.#loaded = false;
  }
}
