/**
 * Helpers shared by the tests: run fixture programs as real child processes, read their output
 * line by line, wait (bounded) for real events, and name test objects so they cannot collide.
 *
 * @module
 */

import * as libc from "../ipc/libc.ts";
import { defaultRuntimeBase, SharedSegment } from "../ipc/mod.ts";
import {
  closeQuietly,
  LineReader,
  ROLE_PERMISSIONS,
  roleCommand,
  signalChild,
  TcpLineReader,
} from "../roles/mod.ts";
import { withTimeout } from "../roles/timers.ts";

export { LineReader } from "../roles/mod.ts";
export { waitUntil } from "../roles/timers.ts";

/** A unique shared segment name for one test. */
export function testSegmentName(label: string): string {
  return `/osps-test-${label}-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Spawns `tests/fixtures/<name>` with the role permissions plus --allow-run (some fixtures spawn
 * a child of their own); stdout piped, stderr inherited.
 */
export function spawnFixture(name: string, args: string[] = []): Deno.ChildProcess {
  return roleCommand(
    new URL(`./fixtures/${name}`, import.meta.url),
    args,
    { stdin: "null", stdout: "piped", stderr: "inherit" },
    [...ROLE_PERMISSIONS, "--allow-run"],
  ).spawn();
}

/**
 * Stops a `main.ts up` child as a user would (SIGTERM: its graceful stop, at most 10 s), then
 * SIGKILL; reaps it, and removes what a killed one left of its instance (`instance`, by default
 * the name `up` gives a port-0 instance): its segment and its directory. For a test's `finally`.
 */
export async function stopUp(child: Deno.ChildProcess, instance = `p${child.pid}`): Promise<void> {
  signalChild(child, "SIGTERM");
  await withTimeout(child.status, 10_000);
  await killAndReap(child);
  await child.stderr.cancel().catch(() => {});
  if (SharedSegment.exists(`/osps-${instance}`)) SharedSegment.unlink(`/osps-${instance}`);
  try {
    Deno.removeSync(`${defaultRuntimeBase()}/osps-${instance}`, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** SIGKILLs a child (if it still runs) and reaps it; its stdout is released. For cleanup paths. */
export async function killAndReap(child: Deno.ChildProcess): Promise<void> {
  signalChild(child, "SIGKILL");
  await child.status;
  try {
    await child.stdout.cancel();
  } catch (e) {
    // Not piped, or being read by its reader.
    if (!(e instanceof TypeError)) throw e;
  }
}

/**
 * Raw access to a POSIX shared memory object, bypassing SharedSegment: what a foreign process of
 * the same user could do (Deno's own file API wants --allow-all for /dev/shm).
 */
export class RawShm implements Disposable {
  readonly #fd: number;
  readonly #name: string;
  /** The object's size when opened. */
  readonly size: number;
  #ptr: Deno.PointerObject | null = null;

  private constructor(name: string, fd: number) {
    this.#name = name;
    this.#fd = fd;
    this.size = libc.fileSize(fd, name);
  }

  /** Opens (creating it with `mode` if `createSize` is given) the object `name`. */
  static open(name: string, createSize?: number, mode = 0o600): RawShm {
    const flags = libc.O.RDWR | libc.O.CLOEXEC |
      (createSize === undefined ? 0 : libc.O.CREAT | libc.O.EXCL);
    const fd = libc.shmOpen(name, flags, mode);
    if (createSize !== undefined) libc.ftruncate(fd, createSize, name);
    return new RawShm(name, fd);
  }

  /** The object's bytes, mapped shared. */
  bytes(): Uint8Array {
    this.#ptr ??= libc.mmapShared(this.#fd, this.size, this.#name);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#ptr, this.size));
  }

  /** Resizes the object. */
  truncate(size: number): void {
    libc.ftruncate(this.#fd, size, this.#name);
  }

  /** Unmaps and closes. */
  [Symbol.dispose](): void {
    if (this.#ptr !== null) libc.munmap(this.#ptr, this.size, this.#name);
    libc.close(this.#fd, this.#name);
  }
}

/** Removes a shared memory object if it exists. */
export function removeShm(name: string): void {
  try {
    libc.shmUnlink(name);
  } catch (e) {
    if (!(e instanceof libc.SysCallError && e.code === "ENOENT")) throw e;
  }
}

/** A raw TCP connection speaking lines, as netcat would: for testing the wire contract. */
export class RawConn implements Disposable {
  readonly conn: Deno.Conn;
  readonly #lines: TcpLineReader;

  private constructor(conn: Deno.Conn) {
    this.conn = conn;
    this.#lines = new TcpLineReader(conn);
  }

  /** Wraps an accepted connection. */
  static wrap(conn: Deno.Conn): RawConn {
    return new RawConn(conn);
  }

  /** Connects to 127.0.0.1:`port`. */
  static async open(port: number): Promise<RawConn> {
    return new RawConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Writes text (UTF-8) or bytes as they are: add the "\n" yourself. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let at = 0; at < bytes.length;) at += await this.conn.write(bytes.subarray(at));
  }

  /** The next line; null at EOF (or reset); throws if none comes within `timeoutMs`. */
  async line(timeoutMs = 5000): Promise<string | null> {
    const r = await this.#lines.next(timeoutMs);
    if (r.kind === "timeout") throw new Error(`no line within ${timeoutMs} ms`);
    if (r.kind === "too-long") throw new Error("line too long");
    return r.kind === "eof" ? null : new TextDecoder().decode(r.bytes);
  }

  /** Sends one line and returns the one reply line. */
  async ask(line: string, timeoutMs = 5000): Promise<string | null> {
    await this.send(`${line}\n`);
    return await this.line(timeoutMs);
  }

  /** Closes (ignoring a connection already closed by the peer). */
  [Symbol.dispose](): void {
    closeQuietly(this.conn);
  }
}

/** The permissions the deno tasks give main.ts: the `--allow-*` flags of the `osps` task. */
export const CLI_PERMISSIONS: string[] = (JSON.parse(
  Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
).tasks.osps as string).split(" ").filter((word) => word.startsWith("--allow-"));

/** `main.ts <args>` as the tasks run it, with `env` added; stdout and stderr piped. */
export function cliCommand(args: string[], env?: Record<string, string>): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: cliArgs(args),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** The arguments of Deno's command line that runs `main.ts <args>` as the tasks do. */
export function cliArgs(args: string[]): string[] {
  return ["run", "--quiet", ...CLI_PERMISSIONS, new URL("../main.ts", import.meta.url).pathname]
    .concat(args);
}

/** A `main.ts up --observe` child: its observer's page address, token and origin. */
export interface ObservedUp {
  /** The `up` process. */
  up: Deno.ChildProcess;
  /** Its stdout, after the lines read so far. */
  lines: LineReader;
  /** The page's address, token included, as `up` printed it. */
  url: string;
  /** The token. */
  token: string;
  /** `http://host:port` of the observer. */
  origin: string;
  /** The dispatcher's port. */
  port: number;
  /** The instance's segment. */
  segment: string;
}

/**
 * Starts `main.ts up --port 0 --observe <observe>` (default 127.0.0.1:0) with `args`, and reads
 * the lines it prints until the observer's address. Stop it with {@link stopUp}.
 */
export async function upObserved(
  args: string[],
  observe = "127.0.0.1:0",
): Promise<ObservedUp> {
  const up = cliCommand(["up", "--port", "0", "--observe", observe, ...args]).spawn();
  const lines = new LineReader(up.stdout);
  try {
    const [, port] = await lines.until(/^osps up: .* dispatcher 127\.0\.0\.1:(\d+) /);
    const [, segment] = await lines.until(/^ {2}segment (\/osps-[^,]+),/);
    const [, url] = await lines.until(/^observe: (http:\/\/\S+)$/);
    await lines.until(/^Ctrl-C to stop/);
    const parsed = new URL(url);
    return {
      up,
      lines,
      url,
      token: parsed.searchParams.get("token")!,
      origin: parsed.origin,
      port: Number(port),
      segment,
    };
  } catch (e) {
    await stopUp(up);
    throw e;
  }
}
