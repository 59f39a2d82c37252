/**
 * Experiments that back the answers of `docs/questions.md` (the course project's questions). Each
 * observes real processes, pipes and signals, reports what it saw, and fails if the observation
 * does not hold.
 *
 * - `zombie`: a child that exits while its parent does not reap it is in state Z in /proc;
 *   reaping removes it; an orphan is adopted (re-parented) and reaped by its adopter.
 * - `pipe-buffering`: bytes sitting in a writer's buffer do not reach the reader until flushed,
 *   direct writes do; messages of at most PIPE_BUF bytes from concurrent writers stay whole,
 *   larger ones interleave.
 * - `sigchld`: a parent is told of its child's death by SIGCHLD.
 * - `frozen-pipe`: an order written to a frozen worker's pipe does nothing, and a third writer's
 *   messages interleave with the dispatcher's; the watchdog's heartbeat-and-signal path restarts
 *   the worker.
 *
 * @module
 */

import {
  becomeSubreaper,
  FifoWriter,
  processInfo,
  reapAdopted,
  RuntimeDir,
  SignalQueue,
  workerSlot,
} from "../ipc/mod.ts";
import { freshTraceFile, ROLE_PERMISSIONS, roleCommand, withTimeout } from "../roles/mod.ts";
import { runClients, startSystem } from "./harness.ts";
import { type TracedEvent, waitForTrace } from "./timeline.ts";

/** The experiments. */
export const EXPERIMENTS = ["zombie", "pipe-buffering", "sigchld", "frozen-pipe"] as const;

/** One experiment's name. */
export type ExperimentName = typeof EXPERIMENTS[number];

/** One observation: what was expected, whether it held, what was seen. */
export interface Observation {
  /** What should be seen. */
  what: string;
  /** Whether it was. */
  ok: boolean;
  /** What was seen. */
  seen: string;
}

/** An experiment's result. */
export interface ExperimentReport {
  /** The experiment. */
  name: ExperimentName;
  /** The question of the seed it backs. */
  question: string;
  /** What it observed, in order. */
  observations: Observation[];
  /** Whether every observation held. */
  passed: boolean;
}

const HELPER = new URL("./experiment_helper.ts", import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function helper(args: string[], stdin: "piped" | "null" = "null"): Deno.ChildProcess {
  return roleCommand(HELPER, args, { stdin, stdout: "piped", stderr: "inherit" }, [
    ...ROLE_PERMISSIONS,
    "--allow-run",
  ]).spawn();
}

/** Reads a process's stdout line by line. */
function lines(child: Deno.ChildProcess): () => Promise<string | null> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return async () => {
    while (!buffer.includes("\n")) {
      const r = await withTimeout(reader.read(), 10_000);
      if (r === null || r.done) return null;
      buffer += r.value;
    }
    const at = buffer.indexOf("\n");
    const line = buffer.slice(0, at);
    buffer = buffer.slice(at + 1);
    return line;
  };
}

/** Polls `read` every 5 ms until `until` holds of its value, at most `ms`; returns the last value. */
async function watchFor<T>(read: () => T, until: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = performance.now() + ms;
  let value = read();
  while (!until(value) && performance.now() < deadline) {
    await sleep(5);
    value = read();
  }
  return value;
}

async function zombie(): Promise<Observation[]> {
  const seen: Observation[] = [];
  const parent = helper(["zombie-parent", "1500"]);
  const next = lines(parent);
  const child = Number((await next())?.split(" ")[1]);
  const state = await watchFor(() => processInfo(child)?.state ?? "gone", (s) => s === "Z", 1000);
  seen.push({
    what: "a child that exited, not yet reaped by its busy parent, is a zombie (state Z)",
    ok: state === "Z",
    seen: `pid ${child}: state ${state}, parent ${processInfo(child)?.ppid ?? "-"}`,
  });
  const reaped = await next();
  const after = processInfo(child);
  seen.push({
    what: "once the parent reaps it (waitpid), the zombie is gone from /proc",
    ok: reaped === "reaped" && after === null,
    seen: after === null
      ? `pid ${child} gone after "${reaped}"`
      : `pid ${child} still ${after.state}`,
  });
  await parent.status;

  // Orphans are adopted by init, or by the nearest "subreaper": this process, so that it can show
  // the adoption and do the reaping itself, leaving no zombie on a machine whose init may not.
  becomeSubreaper();
  const orphanParent = helper(["orphan-parent", "0.4"]);
  const orphan = Number((await lines(orphanParent)())?.split(" ")[1]);
  await orphanParent.status;
  const adopted = await watchFor(() => processInfo(orphan)?.ppid ?? 0, (p) => p === Deno.pid, 1000);
  seen.push({
    what: "when its parent exits first, the child is orphaned and adopted (re-parented)",
    ok: adopted === Deno.pid,
    seen:
      `pid ${orphan}: parent ${orphanParent.pid} exited, new parent ${adopted} (this process, the subreaper)`,
  });
  const exited = await watchFor(() => processInfo(orphan)?.state ?? "gone", (s) => s === "Z", 3000);
  let gone = false;
  for (
    const deadline = performance.now() + 3000;
    !gone && performance.now() < deadline;
    await sleep(5)
  ) {
    gone = reapAdopted(orphan);
  }
  seen.push({
    what: "the adopter reaps the orphan when it exits: nothing is left",
    ok: exited === "Z" && gone && processInfo(orphan) === null,
    seen: `state ${exited} after its exit, then reaped: ${
      processInfo(orphan) === null ? "gone" : "still there"
    }`,
  });
  return seen;
}

async function pipeBuffering(): Promise<Observation[]> {
  const seen: Observation[] = [];
  const dir = RuntimeDir.create({ prefix: "osps-experiment-" });
  try {
    const path = dir.fifo("tube");
    const writer = helper(["corked-writer", path], "piped");
    const next = lines(writer);
    // A FIFO's blocking open waits for the other end: the writer's open and this one meet.
    const opening = Deno.open(path, { read: true });
    await next(); // "written": the message is in the writer's buffer
    const raw = await opening;
    // One read, kept across the timeout: whatever arrives, it is this read that gets it.
    const pending = readRaw(raw);
    const early = await withTimeout(pending, 300);
    seen.push({
      what: "a buffered (corked) write stays in the writer: the reader gets nothing",
      ok: early === null,
      seen: early === null ? "nothing within 300 ms" : `got ${JSON.stringify(early)}`,
    });
    const stdin = writer.stdin.getWriter();
    await stdin.write(new TextEncoder().encode("flush\n"));
    await stdin.close();
    const late = early ?? await withTimeout(pending, 2000);
    seen.push({
      what: "after the flush (uncork), the reader gets it at once",
      ok: late?.includes("hello through a buffered writer") ?? false,
      seen: JSON.stringify(late),
    });
    await next();
    await writer.status;
    raw.close();

    for (const [size, expectWhole] of [[4096, true], [131072, false]] as const) {
      const bulk = dir.fifo(`bulk-${size}`);
      const count = size === 4096 ? 200 : 40;
      const writers = ["A", "B"].map((l) =>
        helper(["bulk-writer", bulk, l, String(size), String(count)], "piped")
      );
      // A FIFO's blocking open waits for the other end: open it now that the writers open theirs.
      const r = await Deno.open(bulk, { read: true });
      // Both writers hold the pipe open before either writes: the reader sees EOF only after
      // both have written everything (a writer that finished before the other opened would end
      // the reading early, and leave the late one blocked on a full pipe).
      for (const w of writers) await lines(w)();
      for (const w of writers) {
        const stdin = w.stdin.getWriter();
        await stdin.write(new TextEncoder().encode("go\n"));
        await stdin.close();
      }
      const runs = await readRuns(r, 2 * size * count);
      await Promise.all(writers.map((w) => w.status));
      r.close();
      const whole = runs.every((run) => run.length % size === 0);
      seen.push({
        what: expectWhole
          ? `messages of ${size} bytes (= PIPE_BUF) from 2 concurrent writers stay whole`
          : `messages of ${size} bytes (> PIPE_BUF) from 2 concurrent writers interleave`,
        ok: whole === expectWhole,
        seen: `${runs.length} runs of one writer's bytes; ` +
          (whole
            ? "every run a whole number of messages"
            : `e.g. a run of ${runs.find((x) => x.length % size)?.length} bytes`),
      });
    }
  } finally {
    dir.remove();
  }
  return seen;
}

/** One read from a raw descriptor of the FIFO, as text. */
async function readRaw(f: Deno.FsFile): Promise<string | null> {
  const buf = new Uint8Array(4096);
  const n = await f.read(buf);
  return n === null ? null : new TextDecoder().decode(buf.subarray(0, n));
}

/** Reads `total` bytes slowly and returns the runs of identical letters (who wrote what, in order). */
async function readRuns(
  f: Deno.FsFile,
  total: number,
): Promise<{ letter: string; length: number }[]> {
  const runs: { letter: string; length: number }[] = [];
  const buf = new Uint8Array(4096);
  for (let got = 0; got < total;) {
    const n = await f.read(buf);
    if (n === null) break;
    for (let i = 0; i < n; i++) {
      const letter = String.fromCharCode(buf[i]);
      const last = runs.at(-1);
      if (last?.letter === letter) last.length++;
      else runs.push({ letter, length: 1 });
    }
    got += n;
    if (runs.length % 7 === 0) await sleep(1); // a slow reader lets the pipe fill
  }
  return runs;
}

async function sigchld(): Promise<Observation[]> {
  using signals = new SignalQueue(["SIGCHLD"]);
  const child = new Deno.Command("sleep", { args: ["0.2"], stdout: "null" }).spawn();
  const start = performance.now();
  const signal = await withTimeout(signals.next(), 3000);
  const after = performance.now() - start;
  const status = await child.status;
  return [{
    what: "the parent is told of its child's death by SIGCHLD",
    ok: signal === "SIGCHLD" && status.success,
    seen:
      `${signal ?? "no signal"} ${
        after.toFixed(0)
      } ms after spawning a child that sleeps 200 ms; ` +
      `then its exit status: code ${status.code}`,
  }];
}

async function frozenPipe(): Promise<Observation[]> {
  const seen: Observation[] = [];
  const out = Deno.makeTempDirSync({ prefix: "osps-experiment-" });
  try {
    // A watchdog that would take a minute to notice a freeze: the pipe is all there is.
    const tracePath = freshTraceFile(`${out}/trace.jsonl`);
    const slow = await startSystem({
      stage: "relay",
      workers: 1,
      heartbeatTimeoutMs: 60_000,
      tracePath,
    });
    try {
      const pid = slow.signal("worker 1", "SIGSTOP");
      const third = FifoWriter.openNow(`${slow.runtimeDir}/dwtube1`);
      third.send("restart");
      const clients = runClients(slow.port, 1, () => ["requetetype1 during the freeze"]);
      await sleep(300);
      third.send("restart");
      await sleep(700);
      const state = processInfo(pid)?.state;
      seen.push({
        what: "an order sent to a frozen worker through its own pipe does nothing",
        ok: state === "T" && slow.role("worker 1").pid === pid,
        seen:
          `1 s later worker 1 is still pid ${pid}, state ${state} (stopped); the orders wait in the pipe`,
      });
      slow.signal("worker 1", "SIGCONT");
      await clients;
      third.close();
      const ping = (e: TracedEvent) => e.role === "worker 1" && e.event === "ping";
      // The worker writes its trace events within 100 ms: wait for its ping of the request.
      const events = await waitForTrace(
        tracePath,
        (all) => all.some((e) => ping(e) && e.detail?.startsWith("job")),
      ) ?? slow.trace();
      const frames = events.filter(ping).map((e) => e.detail);
      const between = frames.indexOf("restart") < frames.findIndex((f) => f?.startsWith("job")) &&
        frames.lastIndexOf("restart") > frames.findIndex((f) => f?.startsWith("job"));
      seen.push({
        what: "a third writer's messages interleave with the dispatcher's on the same pipe",
        ok: between,
        seen: `worker 1 read, in order: ${frames.join(", ")}`,
      });
    } finally {
      await slow.stop();
    }
    const fast = await startSystem({ stage: "relay", workers: 1, heartbeatTimeoutMs: 1000 });
    try {
      const pid = fast.signal("worker 1", "SIGSTOP");
      const t = performance.now();
      const slot = fast.segment.slot(workerSlot(1));
      const generation = slot.get("generation");
      await fast.waitFor(
        "worker 1 restarted",
        () => slot.get("generation") > generation && slot.get("state") === 2,
        5000,
      )
        .catch(() => {});
      const restarted = fast.role("worker 1").pid;
      seen.push({
        what:
          "the watchdog's path — a stale heartbeat, then SIGTERM/SIGKILL — restarts the frozen worker",
        ok: restarted !== pid && processInfo(pid) === null,
        seen: `pid ${pid} → ${restarted} in ${
          (performance.now() - t).toFixed(0)
        } ms (heartbeat timeout 1000 ms)`,
      });
    } finally {
      await fast.stop();
    }
  } finally {
    Deno.removeSync(out, { recursive: true });
  }
  return seen;
}

const QUESTIONS: Record<ExperimentName, string> = {
  "zombie": "2.b — what is a zombie, who must stop first, who reaps whom",
  "pipe-buffering": "notes — buffered writes in pipes, flush; atomic writes up to PIPE_BUF",
  "sigchld": "3.c — is a parent told by a signal that its child stopped?",
  "frozen-pipe": "3.b — ordering a frozen worker to restart through its pipe",
};

/** Runs one experiment. */
export async function runExperiment(name: ExperimentName): Promise<ExperimentReport> {
  const run = { zombie, "pipe-buffering": pipeBuffering, sigchld, "frozen-pipe": frozenPipe }[name];
  const observations = await run();
  return { name, question: QUESTIONS[name], observations, passed: observations.every((o) => o.ok) };
}
