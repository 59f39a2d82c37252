/**
 * A small harness to run the system in experiments and tests: start a dispatcher and N workers in
 * a stage, wait until each reports ready, stop them in phases, and check what was left.
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

import { RuntimeDir, sendSignal, SharedSegment, WATCHDOG_SLOT } from "../ipc/mod.ts";
import { reapChild, ROLE_PERMISSIONS, roleCommand, withTimeout } from "../roles/mod.ts";
import type { Stage } from "../roles/protocol.ts";
import { roleArgs, type RoleContext } from "../roles/role_args.ts";
import { checkLeftovers, type LeftoverReport } from "./proof.ts";
import { readTrace, type TracedEvent } from "./timeline.ts";
import { type ClientResult, OspsClient } from "../roles/client.ts";

const WORKER = new URL("../roles/worker.ts", import.meta.url);
const DISPATCHER = new URL("../roles/dispatcher.ts", import.meta.url);

/** Roles listen and connect on TCP, on top of the usual role permissions. */
const SYSTEM_ROLE_PERMISSIONS = [...ROLE_PERMISSIONS, "--allow-net"];

/** How to start a system. */
export interface SystemOptions {
  /** The stage. */
  stage: Stage;
  /** Number of workers (default 3). */
  workers?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Dispatcher port (default 0: any free port, and workers too; else workers use port + k). */
  port?: number;
  /** Dispatcher queue bound (default 64). */
  queueLimit?: number;
  /** Request timeout in ms (default 10000). */
  requestTimeoutMs?: number;
  /** Claim timeout in ms (default 5000). */
  claimTimeoutMs?: number;
  /** Idle connection timeout in ms (default 60000). */
  idleTimeoutMs?: number;
  /** Grace for in-flight requests on stop, in ms (default 5000). */
  graceMs?: number;
  /** Roles' stderr log level (default warning). */
  logLevel?: string;
  /** The trace file every role appends its events to (default: none). */
  tracePath?: string;
  /** How long each role may take to report ready, in ms (default 10000). */
  readyTimeoutMs?: number;
}

/** A role process of the running system. */
export interface RoleProcess {
  /** `dispatcher` or `worker k`. */
  name: string;
  /** Its pid. */
  pid: number;
  /** The child process. */
  child: Deno.ChildProcess;
}

/** How each role ended. */
export interface StopReport {
  /** Exit status of each role, by name. */
  statuses: Record<string, Deno.CommandStatus>;
  /** What the run left behind: every list empty when it cleaned up. */
  leftovers: LeftoverReport;
}

/** A role did not come up. Everything started was stopped and removed before this was thrown. */
export class SystemStartError extends Error {
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "SystemStartError";
  }
}

/** A running system; stop it (or `await using` it) to reap every role and remove its resources. */
export class RunningSystem implements AsyncDisposable {
  /** The stage. */
  readonly stage: Stage;
  /** The dispatcher's address. */
  readonly host: string;
  /** The dispatcher's port. */
  port = 0;
  /** The runtime directory (pipes). */
  readonly runtime: RuntimeDir;
  /** The shared segment's name. */
  readonly segmentName: string;
  /** The trace file, or null. */
  readonly tracePath: string | null;
  /** Every role process: the dispatcher first, then the workers. */
  readonly roles: RoleProcess[] = [];
  /** Roles that exited while the system was running, with their status. */
  readonly unexpectedExits: { name: string; status: Deno.CommandStatus }[] = [];
  #segment: SharedSegment;
  #stopping: Promise<StopReport> | null = null;

  /** @internal Use {@link startSystem}. */
  constructor(
    stage: Stage,
    host: string,
    runtime: RuntimeDir,
    segment: SharedSegment,
    tracePath: string | null,
  ) {
    this.stage = stage;
    this.host = host;
    this.runtime = runtime;
    this.#segment = segment;
    this.segmentName = segment.name;
    this.tracePath = tracePath;
  }

  /** The shared segment (read it, e.g. the role slots). */
  get segment(): SharedSegment {
    return this.#segment;
  }

  /** @internal Adds a spawned role. */
  track(name: string, child: Deno.ChildProcess): RoleProcess {
    const role = { name, pid: child.pid, child };
    this.roles.push(role);
    child.status.then((status) => {
      if (this.#stopping === null) this.unexpectedExits.push({ name, status });
    });
    return role;
  }

  /**
   * Stops in phases: the dispatcher first (SIGTERM: it stops accepting and lets in-flight requests
   * finish), then the workers; each is reaped, SIGKILLed if it outstays its grace. Then the segment
   * and the runtime directory are removed. Calling it again returns the same report.
   */
  stop(graceMs = 5000): Promise<StopReport> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<StopReport> {
    const statuses: Record<string, Deno.CommandStatus> = {};
    const phase = async (roles: RoleProcess[]) => {
      await Promise.all(roles.map(async (role) => {
        try {
          role.child.kill("SIGTERM");
        } catch {
          // Already exited.
        }
        statuses[role.name] = await reapChild(role.child, {
          graceMs: graceMs + 1000,
          termMs: 2000,
        });
      }));
    };
    await phase(this.roles.filter((r) => r.name === "dispatcher"));
    await phase(this.roles.filter((r) => r.name !== "dispatcher"));
    this.#segment.close();
    SharedSegment.unlink(this.segmentName);
    this.runtime.remove();
    const leftovers = checkLeftovers({
      pids: this.roles.map((r) => r.pid),
      paths: [this.runtime.path],
      segments: [this.segmentName],
    });
    return { statuses, leftovers };
  }

  /** Injects a fault: sends `signal` to the role `name` (`dispatcher`, `worker 2`). */
  signal(name: string, signal: Deno.Signal): void {
    const role = this.roles.find((r) => r.name === name);
    if (role === undefined) throw new RangeError(`no role ${JSON.stringify(name)} in this system`);
    sendSignal(role.pid, signal);
  }

  /** The trace events so far, in time order (empty without a trace file). */
  trace(): TracedEvent[] {
    return this.tracePath === null ? [] : readTrace(this.tracePath);
  }

  /** Same as {@link stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Reads a role's first stdout line, `ready <port>`; null if it exits or is late. */
async function readyLine(role: RoleProcess, timeoutMs: number): Promise<number | null> {
  const reader = role.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const read = async () => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return null;
      text += value;
    }
    const m = /^ready (\d+)\n/.exec(text);
    return m ? Number(m[1]) : null;
  };
  const port = await withTimeout(read(), timeoutMs);
  // Roles print nothing after the ready line: let go of the pipe.
  await reader.cancel().catch(() => {});
  return port;
}

/** Starts a system and waits until every role is ready; on failure, cleans up and throws. */
export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const workers = options.workers ?? 3;
  const runtime = RuntimeDir.create({ prefix: "osps-" });
  let segment: SharedSegment;
  try {
    segment = SharedSegment.create(`/osps-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`, {
      workers,
    });
  } catch (e) {
    runtime.remove();
    throw e;
  }
  const system = new RunningSystem(
    options.stage,
    options.host ?? "127.0.0.1",
    runtime,
    segment,
    options.tracePath ?? null,
  );
  try {
    // The harness plays the watchdog's part until the watchdog exists: it owns the resources.
    segment.slot(WATCHDOG_SLOT).set("pid", Deno.pid);
    for (let k = 1; k <= workers; k++) {
      runtime.fifo(`dwtube${k}`);
      runtime.fifo(`wdtube${k}`);
    }
    const context: RoleContext = {
      stage: options.stage,
      segment: segment.name,
      runtimeDir: runtime.path,
      host: system.host,
      port: options.port ?? 0,
      claimTimeoutMs: options.claimTimeoutMs ?? 5000,
      parentPid: Deno.pid,
      logLevel: options.logLevel ?? "warning",
      trace: options.tracePath ?? "",
    };
    const spawn = (script: URL, extra: string[]) =>
      roleCommand(script, [...roleArgs(context), ...extra], {
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }, SYSTEM_ROLE_PERMISSIONS).spawn();
    const dispatcher = system.track(
      "dispatcher",
      spawn(DISPATCHER, [
        "--workers",
        String(workers),
        "--queue-limit",
        String(options.queueLimit ?? 64),
        "--request-timeout",
        String(options.requestTimeoutMs ?? 10_000),
        "--idle-timeout",
        String(options.idleTimeoutMs ?? 60_000),
        "--grace",
        String(options.graceMs ?? 5000),
      ]),
    );
    for (let k = 1; k <= workers; k++) {
      system.track(`worker ${k}`, spawn(WORKER, ["--worker", String(k)]));
    }
    const ports = await Promise.all(
      system.roles.map((r) => readyLine(r, options.readyTimeoutMs ?? 10_000)),
    );
    const late = system.roles.filter((_, i) => ports[i] === null).map((r) => r.name);
    if (late.length > 0) {
      throw new SystemStartError(`not ready in time or exited at start: ${late.join(", ")}`);
    }
    system.port = ports[system.roles.indexOf(dispatcher)]!;
    return system;
  } catch (e) {
    await system.stop(0);
    throw e;
  }
}

/** One request sent by {@link runClients} and what came back. */
export interface RequestRecord {
  /** Client number, from 1. */
  client: number;
  /** The request line. */
  line: string;
  /** What came back (`OK …` or `ERR <code> …`), or null if nothing did. */
  got: string | null;
  /** Why nothing came back. */
  failure?: string;
  /** From send to answer, ms. */
  latencyMs: number;
}

/** An answer as one line, `OK <result>` or `ERR <code> <message>`, as the servers write it. */
export function answerLine(result: ClientResult): string {
  if (result.ok) return result.result === "" ? "OK" : `OK ${result.result}`;
  return `ERR ${result.code}${result.message ? ` ${result.message}` : ""}`;
}

/**
 * Runs `clients` concurrent clients against the system, client `c` sending `lines(c)` one after
 * the other over one dispatcher connection. Returns every request with its answer; a client that
 * loses its connection for good has its remaining requests recorded with `got: null`.
 */
export async function runClients(
  port: number,
  clients: number,
  lines: (c: number) => string[],
): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    const c = i + 1;
    const mine = lines(c);
    let done = 0;
    let client: OspsClient | null = null;
    try {
      client = await OspsClient.connect({ port, name: `client ${c}`, retries: 2 });
      for (const line of mine) {
        const t = performance.now();
        const got = answerLine(await client.request(line));
        records.push({ client: c, line, got, latencyMs: performance.now() - t });
        done++;
      }
    } catch (e) {
      for (const line of mine.slice(done)) {
        records.push({ client: c, line, got: null, failure: String(e), latencyMs: 0 });
      }
    } finally {
      await client?.close().catch(() => {});
    }
  }));
  return records;
}
