/**
 * Hostile input against a running system: thousands of generated inputs to the dispatcher and
 * the workers — random bytes, invalid UTF-8, NUL bytes, lines at and just over 4096 bytes, endless
 * lines, slowloris, hundreds of idle connections, half-closed sockets, LISTEN with ports that
 * refuse, REDIRECTs never followed — while a canary checks every 100 ms that right answers keep
 * coming. Every input must get a line of the protocol or a clean close; no role may crash; memory
 * stays bounded.
 *
 * @module
 */

import { peakRssKib } from "../ipc/mod.ts";
import { ignoreGone, isServerLine, OspsClient, type Stage, TcpLineReader } from "../roles/mod.ts";
import { startSystem } from "./harness.ts";
import { seeded } from "./load.ts";
import { expectedAnswer } from "./stages.ts";
import { sleep } from "../roles/timers.ts";

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** The stage. */
  stage: Stage;
  /** Generated inputs, at least (default 10000). */
  inputs?: number;
  /** Idle connections held open during the run (default 500). */
  idleConnections?: number;
  /** How long the slowloris connections dribble, s (default 5). */
  slowlorisSeconds?: number;
  /** The generator's seed (default 1). */
  seed?: number;
  /** Aborting it ends the fuzz after the inputs in flight; the system is stopped and checked. */
  signal?: AbortSignal;
}

/** What the fuzz saw. */
export interface FuzzReport {
  /** The stage. */
  stage: Stage;
  /** Inputs sent, by kind. */
  byKind: Record<string, number>;
  /** Inputs sent in all. */
  inputs: number;
  /** Answers that are not a line of the protocol, or connections reset instead of closed. */
  bad: string[];
  /** Canary requests, and the ones not answered right. */
  canary: { sent: number; failed: string[] };
  /** Peak resident memory of each role, MiB. */
  peakRssMib: Record<string, number>;
  /** Restarts of each role during the run (a crash would be one). */
  restarts: Record<string, number>;
  /** Whether it was interrupted (its signal aborted) before every input was sent. */
  interrupted: boolean;
  /** Whether it passed. */
  passed: boolean;
}

const enc = new TextEncoder();
const LF = new Uint8Array([0x0a]);
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** The inputs that keep a connection open, one line each (terminator included). */
function lineInput(random: () => number, closedPort: number): { kind: string; bytes: Uint8Array } {
  const r = random();
  const bytes = (n: number) =>
    Uint8Array.from({ length: n }, () => Math.floor(random() * 256)).map((b) => b === 10 ? 32 : b);
  if (r < 0.25) {
    return { kind: "random bytes", bytes: cat(bytes(1 + Math.floor(random() * 300)), LF) };
  }
  if (r < 0.35) {
    return {
      kind: "invalid UTF-8",
      bytes: cat(enc.encode("requetetype1 "), new Uint8Array([0xc3, 0x28, 0xff]), LF),
    };
  }
  if (r < 0.45) {
    return {
      kind: "NUL bytes",
      bytes: cat(enc.encode("requetetype1 a"), new Uint8Array([0, 0, 98]), LF),
    };
  }
  if (r < 0.55) {
    const prefix = "requetetype1 ";
    return {
      kind: "line of 4096 bytes",
      bytes: enc.encode(`${prefix}${"x".repeat(4095 - prefix.length)}\n`),
    };
  }
  if (r < 0.7) {
    const bad = ["-1", "1e9", "99999999999", "12 3", "", "0x10", "٣"][Math.floor(random() * 7)];
    return { kind: "bad n", bytes: enc.encode(`requetetype2 ${bad}\n`) };
  }
  if (r < 0.8) {
    return {
      kind: "unknown type",
      bytes: enc.encode(
        `${["GET / HTTP/1.1", "HELO", "quit", "\t", ""][Math.floor(random() * 5)]}\n`,
      ),
    };
  }
  if (r < 0.88) {
    return { kind: "LISTEN to a refusing port", bytes: enc.encode(`LISTEN ${closedPort}\n`) };
  }
  return {
    kind: "valid request",
    bytes: enc.encode(`requetetype1 fuzz ${Math.floor(random() * 1e6)}\n`),
  };
}

/** Sends `inputs` on one connection, reading one reply line after each; returns the bad replies. */
async function lineSession(port: number, inputs: Uint8Array[]): Promise<string[]> {
  const bad: string[] = [];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = new TcpLineReader(conn);
  try {
    for (const input of inputs) {
      await conn.write(input);
      const r = await lines.next(15_000);
      if (r.kind !== "line") {
        bad.push(
          `no reply line (${r.kind}) to ${
            JSON.stringify(new TextDecoder().decode(input).slice(0, 40))
          }`,
        );
        return bad;
      }
      const text = new TextDecoder().decode(r.bytes);
      if (!isServerLine(text)) {
        bad.push(`not a protocol line: ${JSON.stringify(text.slice(0, 60))}`);
      }
    }
  } finally {
    conn.close();
  }
  return bad;
}

/** Sends bytes that must end in `ERR line-too-long` and a clean close (EOF, not a reset). */
async function tooLong(port: number, bytes: Uint8Array): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // The write may not finish: the dispatcher closes once it has seen too much. Its end is the
    // point, not an error.
    conn.write(bytes).catch(ignoreGone);
    const lines = new TcpLineReader(conn);
    const r = await lines.next(5000);
    const text = r.kind === "line" ? new TextDecoder().decode(r.bytes) : r.kind;
    if (!text.startsWith("ERR line-too-long")) return [`expected ERR line-too-long, got ${text}`];
    const end = await lines.next(5000);
    return end.kind === "eof" ? [] : [`expected a close after line-too-long, got ${end.kind}`];
  } finally {
    conn.close();
  }
}

/** A request, then the write side closed: the answer must still come, then a close. */
async function halfClosed(port: number): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode("requetetype2 100\n"));
    await conn.closeWrite();
    const lines = new TcpLineReader(conn);
    const r = await lines.next(5000);
    const text = r.kind === "line" ? new TextDecoder().decode(r.bytes) : r.kind;
    return isServerLine(text) ? [] : [`half-closed: got ${text}`];
  } finally {
    conn.close();
  }
}

/** One byte a second of a valid request, then its end: it must still be answered. */
async function slowloris(port: number, seconds: number): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const line = "requetetype1 slow";
    for (let i = 0; i < seconds && i < line.length; i++) {
      await conn.write(enc.encode(line[i]));
      await sleep(1000);
    }
    await conn.write(enc.encode(`${line.slice(Math.min(seconds, line.length))}\n`));
    const r = await new TcpLineReader(conn).next(5000);
    const text = r.kind === "line" ? new TextDecoder().decode(r.bytes) : r.kind;
    return isServerLine(text) ? [] : [`slowloris: got ${text}`];
  } finally {
    conn.close();
  }
}

/** Runs the fuzz against a fresh system of the stage; it is stopped whatever happens. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const random = seeded(options.seed ?? 1);
  const total = options.inputs ?? 10_000;
  const system = await startSystem({
    stage: options.stage,
    workers: 3,
    claimTimeoutMs: 100, // REDIRECTs never followed (part of the fuzz) free their worker fast
    logLevel: "fatal",
  });
  const refusing = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = refusing.addr.port;
  refusing.close();
  const byKind: Record<string, number> = {};
  const bad: string[] = [];
  const canary = { sent: 0, failed: [] as string[] };
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const r of system.roles) {
      const kib = peakRssKib(r.pid);
      if (kib !== null) peak[r.name] = Math.max(peak[r.name] ?? 0, kib / 1024);
    }
  };
  let canaryRunning = true;
  const canaryLoop = (async () => {
    while (canaryRunning) {
      const line = `requetetype2 ${1000 + canary.sent % 50}`;
      canary.sent++;
      try {
        await using client = await OspsClient.connect({
          port: system.port,
          retries: 2,
          name: "canary",
        });
        const r = await client.request(line);
        const got = r.ok ? `OK ${r.result}` : `ERR ${r.code}`;
        if (got !== expectedAnswer(line)) canary.failed.push(`${line} → ${got}`);
      } catch (e) {
        canary.failed.push(`${line} → ${e}`);
      }
      sample();
      await sleep(100);
    }
  })();
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < (options.idleConnections ?? 500); i++) {
      idle.push(await Deno.connect({ hostname: "127.0.0.1", port: system.port }));
    }
    byKind["idle connection"] = idle.length;
    const slow = Array.from(
      { length: 3 },
      () => slowloris(system.port, options.slowlorisSeconds ?? 5),
    );
    byKind["slowloris"] = 3;
    // Most inputs: sessions of 25 lines each, 16 sessions at a time.
    const sessions: Uint8Array[][] = [];
    let lineCount = Math.max(0, total - 40);
    while (lineCount > 0) {
      const session: Uint8Array[] = [];
      for (let j = 0; j < 25 && lineCount > 0; j++, lineCount--) {
        const { kind, bytes } = lineInput(random, closedPort);
        byKind[kind] = (byKind[kind] ?? 0) + 1;
        session.push(bytes);
      }
      sessions.push(session);
    }
    for (let i = 0; i < sessions.length && !options.signal?.aborted; i += 16) {
      const results = await Promise.all(
        sessions.slice(i, i + 16).map((s) => lineSession(system.port, s)),
      );
      bad.push(...results.flat());
    }
    // Inputs that end their connection.
    const closing: Promise<string[]>[] = [];
    for (let i = 0; i < 10; i++) {
      closing.push(tooLong(system.port, enc.encode(`requetetype1 ${"y".repeat(4084)}\n`)));
    }
    for (let i = 0; i < 10; i++) {
      closing.push(tooLong(system.port, new Uint8Array(64 * 1024).fill(0x7a)));
    }
    for (let i = 0; i < 20; i++) closing.push(halfClosed(system.port));
    // The workers' own ports (client-calls-worker): lines that are not a reserved request.
    const workerPorts = system.roles.filter((r) => r.kind === "worker")
      .map((r) => system.segment.slot(r.slot).get("port")).filter((p) => p > 0);
    for (const port of workerPorts) {
      for (let i = 0; i < 10; i++) {
        closing.push(lineSession(port, [lineInput(random, closedPort).bytes]));
      }
    }
    if (workerPorts.length) byKind["line to a worker's port"] = 10 * workerPorts.length;
    byKind["line of 4097 bytes"] = 10;
    byKind["endless line"] = 10;
    byKind["half-closed socket"] = 20;
    bad.push(...(await Promise.all(closing)).flat(), ...(await Promise.all(slow)).flat());
  } finally {
    for (const c of idle) c.close();
    canaryRunning = false;
    await canaryLoop;
    sample();
  }
  const restarts = system.restarts();
  const report = await system.stop();
  const inputs = Object.values(byKind).reduce((a, b) => a + b, 0);
  return {
    stage: options.stage,
    byKind,
    inputs,
    bad,
    canary,
    peakRssMib: peak,
    restarts,
    interrupted: options.signal?.aborted ?? false,
    passed: !options.signal?.aborted && bad.length === 0 && canary.failed.length === 0 &&
      canary.sent > 0 &&
      Object.values(restarts).every((n) => n === 0) && Object.values(peak).every((m) => m < 300) &&
      report.watchdog.success,
  };
}

/** A fuzz report as lines of text. */
export function formatFuzz(r: FuzzReport): string[] {
  return [
    `fuzz ${r.stage}: ${r.inputs} inputs (${
      Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(", ")
    })`,
    `  answers not of the protocol, or resets: ${r.bad.length}${
      r.bad.length ? ` (${r.bad.slice(0, 3).join("; ")})` : ""
    }`,
    `  canary: ${r.canary.sent} requests every 100 ms, ${r.canary.failed.length} not answered right`,
    `  peak RSS (MiB): ${
      Object.entries(r.peakRssMib).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")
    }`,
    `  restarts: ${Object.entries(r.restarts).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `  ${r.interrupted ? "INTERRUPTED" : r.passed ? "PASS" : "FAIL"}`,
  ];
}
