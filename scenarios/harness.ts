/**
 * A small harness to run the system in experiments and tests: start an instance's watchdog as a
 * process (it starts the dispatcher and N workers in a stage), wait until every role is ready,
 * watch and break the roles through the registry, stop the instance, and check what was left.
 *
 * @example
 * ```ts
 * import { startSystem } from "./harness.ts";
 * import { OspsClient } from "../roles/client.ts";
 * await using system = await startSystem({ stage: "client-calls-worker", workers: 3 });
 * await using client = await OspsClient.connect({ port: system.port });
 * console.log(await client.request("requetetype1 hello"));
 * ```
 *
 * @module
 */

import {
  type ProcessExit,
  ROLE_STATE,
  type RoleKind,
  sendSignal,
  SharedSegment,
  WATCHDOG_SLOT,
} from "../ipc/mod.ts";
import {
  crashAtStartFile,
  readReadyLine,
  reapChild,
  RELOAD_SIGNAL,
  roleCommand,
  scaleBySignals,
  signalChild,
  type Stage,
  SYSTEM_ROLE_PERMISSIONS,
  type SystemValues,
  waitUntil,
  watchdogArgs,
} from "../roles/mod.ts";
import { defaultRuntimeBase } from "../ipc/mod.ts";
import { checkLeftovers, type LeftoverReport, processesOfSegment } from "./proof.ts";
import type { TracedEvent } from "../roles/mod.ts";
import { readTrace } from "./timeline.ts";

const WATCHDOG = new URL("../roles/watchdog/main.ts", import.meta.url);

/**
 * How to start a system: the stage, and any system option (`roles/options.ts`, the one table: the
 * others take its defaults, but the port, 0 here: any free ports), and what only the harness has.
 */
export type SystemOptions =
  & Pick<SystemValues, "stage">
  & Partial<Omit<SystemValues, "stage" | "trace">>
  & {
    /** The trace file every role appends its events to (default: none). */
    tracePath?: string;
    /** How long the instance may take to be ready, in ms (default 15000). */
    readyTimeoutMs?: number;
  };

/** A role of the running system, as its slot in the registry shows it now. */
export interface RoleView {
  /** `dispatcher` or `worker k`. */
  name: string;
  /** Which program it is. */
  kind: RoleKind;
  /** Its current pid. */
  pid: number;
  /** Its slot index. */
  slot: number;
}

/** How one role ended, as the watchdog recorded it in the registry. */
export interface RoleOutcome {
  /** Its last process's exit: the code, or minus the signal number. */
  exit: number;
  /** How many times the watchdog restarted it. */
  restarts: number;
  /** Whether it was marked failed (crash loop). */
  failed: boolean;
}

/** How the instance ended. */
export interface StopReport {
  /** How the watchdog ended. */
  watchdog: ProcessExit;
  /** Each role's outcome, by name. */
  roles: Record<string, RoleOutcome>;
  /** What the run left behind: every list empty when it cleaned up. */
  leftovers: LeftoverReport;
  /** The last 2000 bytes the watchdog wrote on its stderr (its last words, if it failed). */
  stderr: string;
}

/** The instance did not start. Everything started was stopped and removed before this was thrown. */
export class SystemStartError extends Error {
  /** A start error saying `message` (with the watchdog's last words). */
  constructor(message: string) {
    super(message);
    this.name = "SystemStartError";
  }
}

/** Keeps the last bytes of the watchdog's stderr (and passes everything through to ours). */
class StderrTail {
  #tail = "";
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        Deno.stderr.writeSync(chunk);
        this.#tail = (this.#tail + decoder.decode(chunk, { stream: true })).slice(-2000);
      }
    })();
  }
  get text(): string {
    return this.#tail.trim();
  }
}

/**
 * A running system: its watchdog process and, read-only, its registry. Stop it (or `await using`
 * it) to have the watchdog stop every role and remove its resources, and to check nothing is left.
 */
export class RunningSystem implements AsyncDisposable {
  /** The stage. */
  readonly stage: Stage;
  /** The dispatcher's address. */
  readonly host: string;
  /** The dispatcher's port. */
  readonly port: number;
  /** The instance's name. */
  readonly instance: string;
  /** The instance's directory (pipes, lock). */
  readonly runtimeDir: string;
  /** The shared segment's name. */
  readonly segmentName: string;
  /** The trace file, or null. */
  readonly tracePath: string | null;
  /** The watchdog process. */
  readonly watchdog: Deno.ChildProcess;
  readonly #segment: SharedSegment;
  readonly #stderr: StderrTail;
  readonly #seen = new Set<number>();
  #stopping: Promise<StopReport> | null = null;

  /** @internal Use {@link startSystem}. */
  constructor(
    init: {
      stage: Stage;
      host: string;
      port: number;
      instance: string;
      runtimeDir: string;
      tracePath: string | null;
      watchdog: Deno.ChildProcess;
      stderr: StderrTail;
    },
  ) {
    this.stage = init.stage;
    this.host = init.host;
    this.port = init.port;
    this.instance = init.instance;
    this.runtimeDir = init.runtimeDir;
    this.segmentName = `/osps-${init.instance}`;
    this.tracePath = init.tracePath;
    this.watchdog = init.watchdog;
    this.#stderr = init.stderr;
    this.#segment = SharedSegment.open(this.segmentName, { readOnly: true });
    // Every role pid read from the registry is remembered (see `roles`): the stop checks that
    // none of them is left. The first ones are read now.
    void this.roles;
  }

  /** The registry, mapped read-only. */
  get segment(): SharedSegment {
    return this.#segment;
  }

  /**
   * The dispatcher and the workers as the registry shows them now (their pids are remembered):
   * the worker slots in use (the segment has room for --max-workers).
   */
  get roles(): RoleView[] {
    // The watchdog's slot is its own: the roles are the others.
    return this.#segment.rolesInUse().slice(1).map((v) => {
      const pid = this.#segment.slot(v.slot).get("pid");
      if (pid > 0) this.#seen.add(pid);
      return { name: v.name, kind: v.kind, pid, slot: v.slot };
    });
  }

  /** The role `name`'s current view; throws for an unknown name. */
  role(name: string): RoleView {
    const role = this.roles.find((r) => r.name === name);
    if (role === undefined) throw new RangeError(`no role ${JSON.stringify(name)} in this system`);
    return role;
  }

  /** The standby's pid, as the watchdog records it (null when none waits). */
  standbyPid(): number | null {
    const pid = this.#segment.slot(WATCHDOG_SLOT).get("standby");
    if (pid > 0) this.#seen.add(pid);
    return pid > 0 ? pid : null;
  }

  /** Restarts so far, by role. */
  restarts(): Record<string, number> {
    return Object.fromEntries(
      this.roles.map((r) => [r.name, this.#segment.slot(r.slot).get("restarts")]),
    );
  }

  /** Roles that were restarted or marked failed during the run (empty in a quiet run). */
  get unexpectedExits(): { name: string; restarts: number; failed: boolean }[] {
    return this.roles.flatMap((r) => {
      const slot = this.#segment.slot(r.slot);
      const failed = slot.get("state") === ROLE_STATE.failed;
      return slot.get("restarts") > 0 || failed
        ? [{ name: r.name, restarts: slot.get("restarts"), failed }]
        : [];
    });
  }

  /** Injects a fault: sends `signal` to the role `name`'s current process (`dispatcher`, `worker 2`). */
  signal(name: string, signal: Deno.Signal): number {
    const { pid } = this.role(name);
    sendSignal(pid, signal);
    return pid;
  }

  /** Asks the watchdog for a rolling reload (SIGHUP; see `roles/watchdog/operations.ts`). */
  reload(): void {
    sendSignal(this.watchdog.pid, RELOAD_SIGNAL);
  }

  /**
   * Scales to `workers` workers, one signal at a time (SIGTTIN, SIGTTOU), each acknowledged by
   * the watchdog; resolves once that many workers are ready (bounded by `timeoutMs`).
   */
  async scale(workers: number, timeoutMs = 10_000): Promise<void> {
    const reached = await scaleBySignals(
      this.#segment,
      workers,
      (s) => sendSignal(this.watchdog.pid, s),
    );
    if (reached !== workers) throw new Error(`the watchdog stopped at ${reached} workers`);
    await this.waitFor(`${workers} workers ready`, () => {
      const w = this.roles.filter((r) => r.kind === "worker");
      return w.length === workers &&
        w.every((r) => this.#segment.slot(r.slot).get("state") === ROLE_STATE.ready);
    }, timeoutMs);
  }

  /** Makes role `name` crash right after each start (`on`), or stops doing so: a crash loop. */
  crashAtStart(name: string, on: boolean): void {
    const path = crashAtStartFile(this.runtimeDir, this.role(name).name.replace(" ", "-"));
    if (on) Deno.writeTextFileSync(path, "", { mode: 0o600 });
    else Deno.removeSync(path);
  }

  /**
   * The pids of every process of the instance but the watchdog: its roles (as the registry shows
   * them) and its standby, which, like every role, names the segment on its command line.
   */
  processes(): number[] {
    const mentioning = processesOfSegment(this.segmentName).map((p) => p.pid);
    return [...new Set([...this.roles.map((r) => r.pid), ...mentioning])].filter((pid) =>
      pid !== this.watchdog.pid
    );
  }

  /**
   * Waits (bounded) until `condition` holds on the registry; returns the ms it took. Aborting
   * `signal` ends the wait at once with its reason.
   */
  async waitFor(
    what: string,
    condition: (system: RunningSystem) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number> {
    return await waitUntil(what, () => condition(this), timeoutMs, signal);
  }

  /** The trace events so far, in time order (empty without a trace file). */
  trace(): TracedEvent[] {
    return this.tracePath === null ? [] : readTrace(this.tracePath);
  }

  /**
   * Stops the instance: SIGTERM to the watchdog, which stops the dispatcher (it drains in-flight
   * requests), then the workers, reaps them all and removes pipes, segment, lock and directory.
   * SIGKILL if it takes longer than `graceMs` + 10 s. Then checks that nothing is left. Calling it
   * again returns the same report.
   */
  stop(graceMs = 5000): Promise<StopReport> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<StopReport> {
    const failed = new Set(this.unexpectedExits.filter((e) => e.failed).map((e) => e.name));
    const processes = this.processes();
    const status = await reapChild(this.watchdog, { graceMs: 0, termMs: graceMs + 10_000 });
    await this.#stderr.done;
    // The mapping outlives the unlinked segment: the watchdog's last words are still there.
    const roles = Object.fromEntries(this.roles.map((r) => {
      const slot = this.#segment.slot(r.slot);
      return [r.name, {
        exit: slot.get("exitStatus"),
        restarts: slot.get("restarts"),
        failed: failed.has(r.name),
      }];
    }));
    this.#segment.close();
    return {
      watchdog: status,
      stderr: this.#stderr.text,
      roles,
      leftovers: checkLeftovers({
        pids: [this.watchdog.pid, ...this.#seen, ...processes],
        paths: [this.runtimeDir],
        segments: [this.segmentName],
      }),
    };
  }

  /** Same as {@link stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** The watchdog's command line for `options`, its instance named `instance` under `base`. */
function systemArgs(options: SystemOptions, instance: string, base: string): string[] {
  const { tracePath, readyTimeoutMs: _, ...given } = options;
  return [
    ...watchdogArgs({
      ...given,
      port: options.port ?? 0,
      instance,
      runtimeBase: base,
      trace: tracePath,
    }),
    // If this process dies, the instance stops rather than run on as an orphan.
    "--parent-pid",
    String(Deno.pid),
  ];
}

/** Starts a system under its watchdog and waits until every role is ready; throws if it cannot. */
export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const instance = options.instance ?? `t${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const base = defaultRuntimeBase();
  const watchdog = roleCommand(WATCHDOG, systemArgs(options, instance, base), {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }, [...SYSTEM_ROLE_PERMISSIONS, "--allow-run"]).spawn();
  const stderr = new StderrTail(watchdog.stderr);
  const ready = await readReadyLine(watchdog, options.readyTimeoutMs ?? 15_000);
  if (typeof ready === "string") {
    // If it exited, its status and messages tell why.
    signalChild(watchdog, "SIGTERM");
    const status = await watchdog.status;
    await stderr.done;
    throw new SystemStartError(
      `the instance did not start (watchdog ${
        status.signal ?? `exit code ${status.code}`
      }): ${stderr.text}`,
    );
  }
  return new RunningSystem({
    stage: options.stage,
    host: options.host ?? "127.0.0.1",
    port: ready.port,
    instance,
    runtimeDir: `${base}/osps-${instance}`,
    tracePath: options.tracePath ?? null,
    watchdog,
    stderr,
  });
}
