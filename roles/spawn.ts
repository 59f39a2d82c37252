/**
 * How a role's process is started: the same Deno binary, this project's config and lock, and
 * explicit permission flags (never -A).
 *
 * @module
 */

import { type ProcessExit, waitExit } from "../ipc/mod.ts";
import { withTimeout } from "./timers.ts";

/** Permissions every role process gets: libc through FFI, its runtime files, its environment. */
export const ROLE_PERMISSIONS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env",
];

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/**
 * A `Deno.Command` that runs the module `script` with `args` and `permissions`, in a session of
 * its own (setsid) unless `options.detached` says otherwise: the signals a terminal sends to its
 * foreground process group (Ctrl-C) reach only the process the user started, which stops its
 * children in its own order, never the children directly.
 */
export function roleCommand(
  script: URL,
  args: string[],
  options: Omit<Deno.CommandOptions, "args"> = {},
  permissions: readonly string[] = ROLE_PERMISSIONS,
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    detached: true,
    ...options,
    args: ["run", "--quiet", "--config", CONFIG, ...permissions, script.pathname, ...args],
  });
}

/** Sends `signal` to `child`, unless it has exited and been reaped already (then nothing). */
export function signalChild(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch (e) {
    // "Child process has already terminated": its status is ready, or about to be.
    if (!(e instanceof TypeError)) throw e;
  }
}

/**
 * Stops a child in phases and reaps it: wait `graceMs` for it to exit on its own, then SIGTERM
 * and wait `termMs`, then SIGKILL. Returns how it ended once reaped: no zombie is left.
 */
export async function reapChild(
  child: Deno.ChildProcess,
  options: { graceMs?: number; termMs?: number } = {},
): Promise<ProcessExit> {
  const ended = waitExit(child);
  const exited = await withTimeout(ended, options.graceMs ?? 2000);
  if (exited !== null) return exited;
  for (
    const [signal, wait] of [["SIGTERM", options.termMs ?? 2000], ["SIGKILL", 10_000]] as const
  ) {
    signalChild(child, signal);
    const status = await withTimeout(ended, wait);
    if (status !== null) return status;
  }
  throw new Error(`child ${child.pid} survived SIGKILL for 10 s (stuck in the kernel?)`);
}

/** Permissions of the system's roles: the role permissions plus TCP. */
export const SYSTEM_ROLE_PERMISSIONS: readonly string[] = [...ROLE_PERMISSIONS, "--allow-net"];

/** What came of waiting for a role's ready line: its port, its stdout closing, or nothing in time. */
export type ReadyOutcome = { port: number } | "closed" | "late";

/**
 * Reads a role's first stdout line (the next one of `lines`), `ready <port> [more]`, then lets go
 * of its stdout (roles print nothing else there). `closed` if stdout ended (or said something else)
 * first: the role exited or is exiting; `late` if nothing came within `timeoutMs`.
 */
export async function readReadyLine(
  child: Deno.ChildProcess,
  timeoutMs: number,
  lines: LineReader = new LineReader(child.stdout),
): Promise<ReadyOutcome> {
  const read = async (): Promise<ReadyOutcome> => {
    const m = /^ready (\d+)\b/.exec(await lines.next() ?? "");
    return m ? { port: Number(m[1]) } : "closed";
  };
  const outcome = await withTimeout(read(), timeoutMs) ?? "late";
  await lines.release();
  return outcome;
}

/** Reads a byte stream (a child's stdout) line by line; calls to {@link next} are served in turn. */
export class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";
  #turn: Promise<unknown> = Promise.resolve();

  /** Wraps a byte stream. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next line (without its newline), or null at end of stream. */
  next(): Promise<string | null> {
    const line = this.#turn.then(() => this.#next());
    // The next call waits for this one to end, however it ends: its caller gets the error.
    this.#turn = line.then(() => {}, () => {});
    return line;
  }

  async #next(): Promise<string | null> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) {
        const rest = this.#buffer;
        this.#buffer = "";
        return rest === "" ? null : rest;
      }
      this.#buffer += value;
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }

  /** Reads lines until one matches `pattern`; throws at end of stream or after `timeoutMs`. */
  async until(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
    const search = async () => {
      for (let line = await this.next(); line !== null; line = await this.next()) {
        const m = pattern.exec(line);
        if (m) return m;
      }
      throw new Error(`stream ended before a line matching ${pattern}`);
    };
    const found = await withTimeout(search(), timeoutMs);
    if (found === null) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms`);
    return found;
  }

  /** Lets go of the stream: what comes after is discarded. */
  async release(): Promise<void> {
    // A stream that failed rejects its cancel with the failure its read already gave the caller.
    await this.#reader.cancel().then(() => {}, () => {});
  }

  /** Reads to the end and releases the stream. */
  async rest(): Promise<string> {
    let all = this.#buffer;
    this.#buffer = "";
    for (let r = await this.#reader.read(); !r.done; r = await this.#reader.read()) all += r.value;
    return all;
  }
}
