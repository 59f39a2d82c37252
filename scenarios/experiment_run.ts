/**
 * One run of an experiment, bounded and cleaned up: an overall time bound, the step it is at (said
 * when the bound is passed), and everything it started — helper processes, adopted orphans,
 * directories, systems — killed, reaped and removed on every path: success, failure, the bound
 * passed, or SIGINT/SIGTERM (an abort of the caller's signal).
 *
 * @module
 */

import {
  childrenOf,
  defaultRuntimeBase,
  NoSuchProcessError,
  processInfo,
  reapAdopted,
  sendSignal,
  SharedSegment,
} from "../ipc/mod.ts";
import { LineReader, ROLE_PERMISSIONS, roleCommand, signalChild } from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";
import { Picture } from "./experiment_picture.ts";

const HELPER = new URL("./experiment_helper.ts", import.meta.url);
const PYTHON_HELPERS = new URL("../examples/python/experiments/", import.meta.url);

/** The language of an experiment's helper programs: Deno's, or the course's (Python). */
export type ExperimentLanguage = "deno" | "python";

/** Which Python program of `examples/python/experiments/` plays each helper mode. */
const PYTHON_PROGRAM: Record<string, string> = {
  "zombie-parent": "zombie.py",
  "orphan-parent": "zombie.py",
  "buffered-writer": "pipe_buffering.py",
  "bulk-writer": "pipe_buffering.py",
  "sigchld-parent": "sigchld.py",
  "watchdog": "frozen_pipe.py",
  "writer": "frozen_pipe.py",
  "fifo-reader": "fifo_open.py",
  "fifo-writer": "fifo_open.py",
  "full-writer": "pipe_capacity.py",
  "stop-continue": "sigchld_variants.py",
  "merged": "sigchld_variants.py",
  "ignored": "sigchld_variants.py",
  "default": "sigchld_variants.py",
  "shm-create": "shared_memory.py",
  "shm-read": "shared_memory.py",
};

/** One observation: what was expected, whether it held, what was seen. */
export interface Observation {
  /** What should be seen. */
  what: string;
  /** Whether it was. */
  ok: boolean;
  /** What was seen. */
  seen: string;
}

/** An experiment passed its time bound; says at which step. */
export class ExperimentTimeoutError extends Error {
  /** The error for `step`, which did not end within `boundMs`. */
  constructor(step: string, boundMs: number) {
    super(`the experiment passed its ${boundMs} ms bound at step: ${step}`);
    this.name = "ExperimentTimeoutError";
  }
}

/** What an experiment run is allowed, and who may interrupt it. */
export interface ExperimentRunOptions {
  /** The overall bound, ms (default 30000). */
  timeoutMs?: number;
  /** Aborting it (SIGINT, SIGTERM) ends the run as the bound does. */
  signal?: AbortSignal;
  /** The helpers' language (default `deno`): the same modes, the same observations. */
  language?: ExperimentLanguage;
}

/** The resources and the bound of one experiment run. */
export class ExperimentRun implements AsyncDisposable {
  /** Aborted when the bound passes or the caller interrupts. */
  readonly signal: AbortSignal;
  /** The step the run is at. */
  step = "start";
  /** The helpers' language. */
  readonly language: ExperimentLanguage;
  /** What happened, drawn: a lane per helper from its spawn to its exit, and what the run adds. */
  readonly picture: Picture = new Picture();
  readonly #abort = new AbortController();
  readonly #children = new Set<Deno.ChildProcess>();
  readonly #adopted = new Set<number>();
  /** This process's children when the run began: never taken for orphans it adopted. */
  readonly #childrenBefore = new Set(childrenOf(Deno.pid).map((c) => c.pid));
  readonly #cleanups: (() => unknown)[] = [];
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #onCallerAbort: () => void;
  readonly #callerSignal: AbortSignal | undefined;

  /** Starts the clock. */
  constructor(options: ExperimentRunOptions = {}) {
    const bound = options.timeoutMs ?? 30_000;
    this.language = options.language ?? "deno";
    this.signal = this.#abort.signal;
    this.#timer = setTimeout(
      () => this.#abort.abort(new ExperimentTimeoutError(this.step, bound)),
      bound,
    );
    this.#callerSignal = options.signal;
    this.#onCallerAbort = () => this.#abort.abort(options.signal!.reason);
    options.signal?.addEventListener("abort", this.#onCallerAbort, { once: true });
    if (options.signal?.aborted) this.#onCallerAbort();
    // Whatever the run waits on, its processes are what it waits on: killing them ends the waits.
    this.signal.addEventListener("abort", () => this.#killAll(), { once: true });
  }

  /**
   * Spawns a helper process (killed and reaped at the end): mode `args[0]` of
   * `experiment_helper.ts`, or of its Python program in `examples/python/experiments/`.
   */
  helper(args: string[], stdin: "piped" | "null" = "null"): Deno.ChildProcess {
    const io = { stdin, stdout: "piped", stderr: "inherit" } as const;
    let child: Deno.ChildProcess;
    if (this.language === "python") {
      const program = PYTHON_PROGRAM[args[0]];
      if (program === undefined) throw new TypeError(`no Python helper for mode ${args[0]}`);
      const path = new URL(program, PYTHON_HELPERS).pathname;
      child = new Deno.Command("python3", { args: ["-u", path, ...args], ...io }).spawn();
    } else {
      const permissions = [...ROLE_PERMISSIONS, "--allow-run"];
      child = roleCommand(HELPER, args, io, permissions).spawn();
    }
    const lane = String(child.pid);
    this.picture.lane(lane, `${args[0]} ${child.pid}`);
    child.status.then((status) => {
      this.picture.mark(lane, status.signal ? `killed by ${status.signal}` : `exit ${status.code}`);
      this.picture.state(lane, null);
    });
    return this.track(child);
  }

  /** A child started otherwise: killed and reaped at the end like the helpers. */
  track(child: Deno.ChildProcess): Deno.ChildProcess {
    this.#children.add(child);
    if (this.signal.aborted) this.#killAll();
    return child;
  }

  /** A process this one adopted (as a subreaper): killed and reaped at the end if still there. */
  adopt(pid: number): void {
    this.#adopted.add(pid);
  }

  /** Something to undo at the end (the last added runs first). */
  defer(cleanup: () => unknown): void {
    this.#cleanups.push(cleanup);
  }

  /** Waits for `promise` as step `step`: rejects as soon as the run is aborted. */
  wait<T>(step: string, promise: Promise<T>): Promise<T> {
    this.step = step;
    this.signal.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.signal.reason);
      this.signal.addEventListener("abort", onAbort, { once: true });
      promise.then(resolve, reject).finally(() =>
        this.signal.removeEventListener("abort", onAbort)
      );
    });
  }

  /** Sleeps `ms` as step `step`, unless the run is aborted first. */
  sleep(step: string, ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return this.wait(step, new Promise<void>((r) => timer = setTimeout(r, ms)))
      .finally(() => clearTimeout(timer));
  }

  /** A child's stdout, line by line; each line waited for as step `step`, and marked on its lane. */
  lines(child: Deno.ChildProcess, step: string): () => Promise<string | null> {
    const reader = new LineReader(child.stdout);
    return () =>
      this.wait(step, reader.next()).then((line) => {
        if (line !== null) this.picture.mark(String(child.pid), `"${line}"`);
        return line;
      });
  }

  /** Polls `read` every 5 ms until `until` holds of its value or `ms` pass; returns the last value. */
  async watchFor<T>(step: string, read: () => T, until: (v: T) => boolean, ms: number): Promise<T> {
    const deadline = performance.now() + ms;
    let value = read();
    while (!until(value) && performance.now() < deadline) {
      await this.sleep(step, 5);
      value = read();
    }
    return value;
  }

  #killAll(): void {
    for (const child of this.#children) signalChild(child, "SIGKILL");
    for (const pid of this.#adopted) {
      // Only while it is still this process's adopted child: a reaped pid may be someone else's.
      if (processInfo(pid)?.ppid !== Deno.pid) continue;
      try {
        sendSignal(pid, "SIGKILL");
      } catch (e) {
        // Gone already.
        if (!(e instanceof NoSuchProcessError)) throw e;
      }
    }
  }

  /** Kills and reaps every process, then undoes every deferred step: on every path. */
  async [Symbol.asyncDispose](): Promise<void> {
    clearTimeout(this.#timer);
    this.#callerSignal?.removeEventListener("abort", this.#onCallerAbort);
    this.#killAll();
    await Promise.all([...this.#children].map((c) => c.status));
    for (const child of this.#children) {
      try {
        await child.stdout.cancel();
      } catch (e) {
        // Not piped, or being read by its reader.
        if (!(e instanceof TypeError)) throw e;
      }
    }
    for (const pid of this.#adopted) {
      for (const end = performance.now() + 2000; performance.now() < end;) {
        if (reapAdopted(pid)) break;
        await sleep(5);
      }
    }
    for (const cleanup of this.#cleanups.reverse()) {
      try {
        await cleanup();
      } catch (e) {
        console.error(`experiment cleanup: ${e instanceof Error ? e.message : e}`);
      }
    }
    await this.#reapStrays();
  }

  /**
   * Orphans this process adopted as a subreaper without being told (a Python helper's resource
   * tracker, left when the helper exits): given 2 s to end on their own, then killed; reaped.
   */
  async #reapStrays(): Promise<void> {
    const spawned = new Set([...this.#children].map((c) => c.pid));
    const strays = () =>
      childrenOf(Deno.pid).filter((c) => !this.#childrenBefore.has(c.pid) && !spawned.has(c.pid));
    for (const end = performance.now() + 2000; performance.now() < end;) {
      for (const c of strays()) if (c.state === "Z") reapAdopted(c.pid);
      if (strays().length === 0) return;
      await sleep(10);
    }
    for (const c of strays()) {
      try {
        sendSignal(c.pid, "SIGKILL");
      } catch (e) {
        // Ended meanwhile: reaped below.
        if (!(e instanceof NoSuchProcessError)) throw e;
      }
    }
    for (const end = performance.now() + 2000; strays().length > 0 && performance.now() < end;) {
      for (const c of strays()) reapAdopted(c.pid);
      await sleep(5);
    }
  }
}

/** What experiments create on the machine, looked at before and after a run. */
export interface ExperimentTraces {
  /** Directories named `osps-experiment-*` in the temporary and runtime folders. */
  dirs: string[];
  /** Shared segments of systems this process started (`/dev/shm/osps-t<pid>-*`). */
  segments: string[];
  /** This process's children (none must outlive a run), with their state. */
  children: string[];
}

/** What experiments have left on the machine now (see {@link ExperimentTraces}). */
export function experimentTraces(): ExperimentTraces {
  const list = (dir: string, keep: (name: string) => boolean) => {
    try {
      return [...Deno.readDirSync(dir)].map((e) => e.name).filter(keep).map((n) => `${dir}/${n}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  };
  const folders = [...new Set([defaultRuntimeBase(), Deno.env.get("TMPDIR") || "/tmp"])];
  return {
    dirs: folders.flatMap((f) => list(f, (n) => n.startsWith("osps-experiment-"))).sort(),
    segments: SharedSegment.list(`/osps-t${Deno.pid}-`),
    children: childrenOf(Deno.pid).map((c) => `pid ${c.pid} (${c.comm}, state ${c.state})`),
  };
}

/** What a run left that was not there before it: empty lists when it cleaned up. */
export function newTraces(before: ExperimentTraces, after: ExperimentTraces): string[] {
  const added = (a: string[], b: string[]) => b.filter((x) => !a.includes(x));
  return [
    ...added(before.dirs, after.dirs),
    ...added(before.segments, after.segments),
    ...after.children,
  ];
}
