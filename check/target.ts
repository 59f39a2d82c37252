/**
 * The system under check: a command line, started in a session of its own with `{port}`,
 * `{stage}` and `{workers}` replaced, its output kept; its whole process tree followed from /proc
 * (the descendants of its first process, and those the checker adopts as a subreaper once their
 * parent is gone); waited for until its port answers; and killed, tree and all, on every path.
 *
 * @module
 */

import {
  becomeSubreaper,
  hasEnvironmentEntry,
  isRunning,
  listProcesses,
  NoSuchProcessError,
  type ProcessExit,
  type ProcessInfo,
  processInfo,
  reapAdopted,
  sendSignal,
  waitExit,
} from "../ipc/mod.ts";
import { type Stage, withTimeout } from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";

/** What `{…}` in the command's arguments stand for. */
export interface TargetVariables {
  /** The dispatcher's port. */
  port: number;
  /** The stage, by its long name. */
  stage: Stage;
  /** The number of workers. */
  workers: number;
}

/** The command could not be started at all (not found, not executable). */
export class TargetStartError extends Error {
  /** `command` could not be started: `why`. */
  constructor(command: string, why: string) {
    super(`cannot start ${JSON.stringify(command)}: ${why}`);
    this.name = "TargetStartError";
  }
}

/** `args` with `{port}`, `{stage}` and `{workers}` replaced. */
export function substitute(args: string[], v: TargetVariables): string[] {
  return args.map((a) =>
    a.replaceAll("{port}", String(v.port)).replaceAll("{stage}", v.stage)
      .replaceAll("{workers}", String(v.workers))
  );
}

let subreaper = false;

/** Keeps the last bytes of a stream (the command's output), for the report. */
class Tail {
  #text = "";
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>, keep = 4000) {
    this.done = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        this.#text = (this.#text + decoder.decode(chunk, { stream: true })).slice(-keep);
      }
    })().catch((e) => {
      this.#text += `\n(osps check stopped reading here: ${e})`;
    });
  }
  get text(): string {
    return this.#text.trim();
  }
}

/** A running system under check. */
export class Target implements AsyncDisposable {
  /** Its first process (the supervisor, in the course's design). */
  readonly root: Deno.ChildProcess;
  /** The command line, substituted. */
  readonly command: string[];
  /** How its first process ended, once it has. */
  exit: ProcessExit | null = null;
  /** Resolves when its first process has ended. */
  readonly ended: Promise<ProcessExit>;
  readonly #output: Tail;
  readonly #errors: Tail;
  /** Every process seen in its tree, by pid, with its start time (a pid is used again). */
  readonly #seen = new Map<number, number>();
  /** The sessions its processes were seen in (the first one leads its own). */
  readonly #sessions = new Set<number>();
  /** Processes that are the checker's own children, never the system's (its load). */
  readonly #ours: Set<number>;
  /** In the environment of every process the system starts (unless it clears it). */
  readonly #tag: string;

  private constructor(root: Deno.ChildProcess, command: string[], ours: Set<number>, tag: string) {
    this.root = root;
    this.command = command;
    this.#ours = ours;
    this.#tag = tag;
    this.#output = new Tail(root.stdout);
    this.#errors = new Tail(root.stderr);
    this.ended = waitExit(root).then((e) => this.exit = e);
    this.#seen.set(root.pid, processInfo(root.pid)?.startTicks ?? 0);
    this.#sessions.add(root.pid);
  }

  /**
   * Starts `command` (its words, substituted) in a session of its own; the checker becomes a
   * subreaper first, so that what the system leaves when its first process dies comes to it.
   * `ours`: the checker's own children (they are never counted in the system's tree).
   */
  static start(command: string[], vars: TargetVariables, ours: Set<number>): Target {
    if (!subreaper) {
      becomeSubreaper();
      subreaper = true;
    }
    const words = substitute(command, vars);
    const tag = `OSPS_CHECK_TARGET=${Deno.pid}-${crypto.randomUUID()}`;
    let root: Deno.ChildProcess;
    try {
      root = new Deno.Command(words[0], {
        args: words.slice(1),
        env: { OSPS_CHECK_TARGET: tag.slice(tag.indexOf("=") + 1) },
        detached: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      throw new TargetStartError(words.join(" "), (e as Error).message);
    }
    return new Target(root, words, ours, tag);
  }

  /** The last lines the system wrote, stdout then stderr. */
  get output(): string {
    return [this.#output.text, this.#errors.text].filter((t) => t !== "").join("\n");
  }

  /**
   * The processes of its tree now: the descendants of its first process, and what it left that
   * the checker adopted (a process whose parent is now the checker that was seen in the tree
   * before, with the same start time; that is in a session one of its processes was seen in, a
   * zombie included; or that carries this target's tag in its environment: a process that went
   * into the background before it was seen).
   */
  processes(): ProcessInfo[] {
    const all = listProcesses();
    const byParent = new Map<number, ProcessInfo[]>();
    for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
    const tree: ProcessInfo[] = [];
    const visit = (p: ProcessInfo) => {
      tree.push(p);
      for (const child of byParent.get(p.pid) ?? []) visit(child);
    };
    const root = all.find((p) => p.pid === this.root.pid);
    if (root) visit(root);
    for (const p of byParent.get(Deno.pid) ?? []) {
      if (p.pid === this.root.pid || this.#ours.has(p.pid)) continue;
      if (this.#belongs(p)) visit(p);
    }
    for (const p of tree) {
      this.#seen.set(p.pid, p.startTicks);
      this.#sessions.add(p.session);
    }
    return tree.filter((p) => p.state !== "X");
  }

  /** Whether `p`, a process the checker adopted, comes from this system. */
  #belongs(p: ProcessInfo): boolean {
    if (this.#seen.get(p.pid) === p.startTicks) return true;
    const rootStart = this.#seen.get(this.root.pid) ?? 0;
    if (this.#sessions.has(p.session) && p.startTicks >= rootStart) return true;
    return hasEnvironmentEntry(p.pid, this.#tag);
  }

  /** The processes of its tree now that run (not zombies). */
  running(): ProcessInfo[] {
    return this.processes().filter((p) => p.state !== "Z");
  }

  /**
   * Waits until a TCP connection to 127.0.0.1:`port` is accepted, at most `timeoutMs`: `up`; or
   * its first process ended first (and nothing answers); or `timeout`.
   */
  async waitListening(port: number, timeoutMs: number): Promise<"up" | "ended" | "timeout"> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return "up";
      } catch (e) {
        if (!(e instanceof Deno.errors.ConnectionRefused)) throw e;
      }
      if (this.exit !== null && this.running().length === 0) return "ended";
      await sleep(50);
    }
    return "timeout";
  }

  /** Sends `signal` to the first process, if it still runs. */
  signalRoot(signal: Deno.Signal): void {
    if (this.exit === null) sendSignal(this.root.pid, signal);
  }

  /**
   * Kills what is left of the tree (SIGKILL, each process checked again by its start time just
   * before), reaps what the checker adopted, and waits for the first process; nothing the
   * system started is left running. Returns the pids it had to kill.
   */
  async killAll(): Promise<number[]> {
    const killed: number[] = [];
    for (let round = 0; round < 5; round++) {
      const left = this.running();
      if (left.length === 0) break;
      for (const p of left) {
        if (processInfo(p.pid)?.startTicks !== p.startTicks) continue;
        try {
          sendSignal(p.pid, "SIGKILL");
          killed.push(p.pid);
        } catch (e) {
          // Gone meanwhile.
          if (!(e instanceof NoSuchProcessError)) throw e;
        }
      }
      await sleep(50);
    }
    await withTimeout(this.ended, 5000);
    await this.reapAdopted();
    await Promise.all([this.#output.done, this.#errors.done].map((d) => withTimeout(d, 1000)));
    return [...new Set(killed)];
  }

  /** SIGTERM to the first process, `graceMs` for it to end, then {@link killAll}. */
  async stop(graceMs: number): Promise<void> {
    this.signalRoot("SIGTERM");
    await withTimeout(this.ended, graceMs);
    await this.killAll();
  }

  /**
   * Reaps the processes of the tree the checker adopted once they have exited (none is left a
   * zombie), waiting at most `boundMs` for those still exiting; those still running stay.
   */
  async reapAdopted(boundMs = 1000): Promise<void> {
    const deadline = performance.now() + boundMs;
    for (;;) {
      const adopted = this.processes().filter((p) =>
        p.ppid === Deno.pid && p.pid !== this.root.pid
      );
      const exiting = adopted.filter((p) => !reapAdopted(p.pid) && !isRunning(p.pid));
      if (exiting.length === 0 || performance.now() >= deadline) return;
      await sleep(10);
    }
  }

  /** Same as {@link killAll}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.killAll();
  }
}
