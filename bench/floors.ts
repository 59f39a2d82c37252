/**
 * `bench floors`: what the least TCP server costs in Deno and in Python, measured in the same run,
 * so that osps's roles can be held against a floor of their own runtime rather than a figure from
 * another day. Two servers each (`floor_server.ts`, `floor_server.py`): `connection` accepts, reads
 * one line, writes one line and closes (a worker's part in client-calls-worker), `kept` answers a
 * line for every line on connections that stay open (the dispatcher's part with its clients). This
 * process drives them in alternating rounds with the same clients; the CPU counted is the
 * server's (every thread, from /proc).
 *
 * @module
 */

import { cpuTime } from "../ipc/mod.ts";
import { readReadyLine, reapChild, roleCommand, SYSTEM_ROLE_PERMISSIONS } from "../roles/mod.ts";

const DENO_SERVER = new URL("./floor_server.ts", import.meta.url);
const PYTHON_SERVER = new URL("./floor_server.py", import.meta.url).pathname;

/** The two kinds of floor. */
export const FLOOR_MODES = ["connection", "kept"] as const;

/** One of {@link FLOOR_MODES}. */
export type FloorMode = typeof FLOOR_MODES[number];

/** Options of {@link runFloorsBench}. */
export interface FloorsBenchOptions {
  /** Requests per round and server (default 4000). */
  requests?: number;
  /** Concurrent clients (default 4). */
  clients?: number;
  /** Rounds, the order of the two servers reversed each round (default 3). */
  rounds?: number;
}

/** What one kind of floor cost in each runtime: server CPU per request, µs. */
export interface Floor {
  /** `connection` or `kept`. */
  mode: FloorMode;
  /** The Deno server's. */
  denoUs: number;
  /** The Python server's. */
  pythonUs: number;
}

const LINE = new TextEncoder().encode("requetetype1 floor\n");

/** A floor server, started and ready. */
class FloorServer {
  private constructor(readonly child: Deno.ChildProcess, readonly port: number) {}

  static async start(runtime: "deno" | "python", mode: FloorMode): Promise<FloorServer> {
    const io = { stdin: "null", stdout: "piped" } as const;
    const child = runtime === "deno"
      ? roleCommand(DENO_SERVER, [mode], io, SYSTEM_ROLE_PERMISSIONS).spawn()
      : new Deno.Command("python3", { args: [PYTHON_SERVER, mode], ...io }).spawn();
    const ready = await readReadyLine(child, 10_000);
    if (typeof ready === "string") {
      await reapChild(child, { graceMs: 0 });
      throw new Error(`the ${runtime} floor server (${mode}) did not start: ${ready}`);
    }
    return new FloorServer(child, ready.port);
  }

  /** The server's CPU so far, ms. */
  cpuMs(): number {
    const t = cpuTime(this.child.pid);
    if (t === null) throw new Error(`the floor server ${this.child.pid} is gone`);
    return t.userMs + t.systemMs;
  }

  stop(): Promise<unknown> {
    return reapChild(this.child, { graceMs: 0 });
  }
}

/** One request on a new connection: connect, a line, its reply, close. */
async function onNewConnection(port: number, buf: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(LINE);
    await conn.read(buf);
  } finally {
    conn.close();
  }
}

/** `requests` requests from `clients` clients; server CPU per request, µs. */
async function drive(
  server: FloorServer,
  mode: FloorMode,
  requests: number,
  clients: number,
): Promise<number> {
  const share = Math.ceil(requests / clients);
  const before = server.cpuMs();
  await Promise.all(Array.from({ length: clients }, async () => {
    const buf = new Uint8Array(64);
    if (mode === "connection") {
      for (let i = 0; i < share; i++) await onNewConnection(server.port, buf);
      return;
    }
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      for (let i = 0; i < share; i++) {
        await conn.write(LINE);
        await conn.read(buf);
      }
    } finally {
      conn.close();
    }
  }));
  return ((server.cpuMs() - before) * 1000) / (share * clients);
}

/**
 * Starts a Deno and a Python server of each kind, warms each, then drives them in alternating
 * rounds; every server is stopped at the end.
 */
export async function runFloorsBench(options: FloorsBenchOptions = {}): Promise<Floor[]> {
  const requests = options.requests ?? 4000;
  const clients = options.clients ?? 4;
  const rounds = options.rounds ?? 3;
  const floors: Floor[] = [];
  for (const mode of FLOOR_MODES) {
    const servers: FloorServer[] = [];
    try {
      servers.push(await FloorServer.start("deno", mode));
      servers.push(await FloorServer.start("python", mode));
      for (const s of servers) await drive(s, mode, Math.min(1000, requests), clients);
      const spent = [0, 0];
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) spent[i] += await drive(servers[i], mode, requests, clients);
      }
      floors.push({ mode, denoUs: spent[0] / rounds, pythonUs: spent[1] / rounds });
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }
  return floors;
}
