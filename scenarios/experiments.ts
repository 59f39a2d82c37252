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
import { freshTraceFile, withTimeout } from "../roles/mod.ts";
import { ExperimentRun, type ExperimentRunOptions } from "./experiment_run.ts";
import { runClients } from "./clients.ts";
import { type RunningSystem, startSystem, type SystemOptions } from "./harness.ts";
import type { TracedEvent } from "../roles/mod.ts";
import { waitForTrace } from "./timeline.ts";
import { sleep, WaitTimeoutError } from "../roles/timers.ts";

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

async function zombie(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const parent = run.helper(["zombie-parent", "1500"]);
  const next = run.lines(parent, "the busy parent's lines");
  const child = Number((await next())?.split(" ")[1]);
  const state = await run.watchFor(
    "the unreaped child's state",
    () => processInfo(child)?.state ?? "gone",
    (s) => s === "Z",
    1000,
  );
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
  await run.wait("the busy parent's exit", parent.status);

  // Orphans are adopted by init, or by the nearest "subreaper": this process, so that it can show
  // the adoption and do the reaping itself, leaving no zombie on a machine whose init may not.
  becomeSubreaper();
  const orphanParent = run.helper(["orphan-parent", "0.4"]);
  const orphan = Number((await run.lines(orphanParent, "the orphan's pid")())?.split(" ")[1]);
  run.adopt(orphan);
  await run.wait("the orphan's parent's exit", orphanParent.status);
  const adopted = await run.watchFor(
    "the orphan's adoption",
    () => processInfo(orphan)?.ppid ?? 0,
    (p) => p === Deno.pid,
    1000,
  );
  seen.push({
    what: "when its parent exits first, the child is orphaned and adopted (re-parented)",
    ok: adopted === Deno.pid,
    seen:
      `pid ${orphan}: parent ${orphanParent.pid} exited, new parent ${adopted} (this process, the subreaper)`,
  });
  const exited = await run.watchFor(
    "the orphan's exit",
    () => processInfo(orphan)?.state ?? "gone",
    (s) => s === "Z",
    3000,
  );
  let gone = false;
  for (
    const deadline = performance.now() + 3000;
    !gone && performance.now() < deadline;
    await run.sleep("reaping the orphan", 5)
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

async function pipeBuffering(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const dir = RuntimeDir.create({ prefix: "osps-experiment-" });
  run.defer(() => dir.remove());
  {
    const path = dir.fifo("tube");
    const writer = run.helper(["corked-writer", path], "piped");
    const next = run.lines(writer, "the corked writer's lines");
    // A FIFO's blocking open waits for the other end: the writer's open and this one meet.
    const opening = Deno.open(path, { read: true });
    // An abort kills the writer, and its end of the pipe with it: the open returns or fails.
    run.defer(() => opening.then((f) => f.close(), () => {}));
    await next(); // "written": the message is in the writer's buffer
    const raw = await run.wait("opening the pipe", opening);
    // One read, kept across the timeout: whatever arrives, it is this read that gets it.
    const pending = readRaw(raw);
    const early = await run.wait("the early read", withTimeout(pending, 300));
    seen.push({
      what: "a buffered (corked) write stays in the writer: the reader gets nothing",
      ok: early === null,
      seen: early === null ? "nothing within 300 ms" : `got ${JSON.stringify(early)}`,
    });
    const stdin = writer.stdin.getWriter();
    await run.wait("telling the writer to flush", stdin.write(new TextEncoder().encode("flush\n")));
    await run.wait("closing the writer's stdin", stdin.close());
    const late = early ?? await run.wait("the late read", withTimeout(pending, 2000));
    seen.push({
      what: "after the flush (uncork), the reader gets it at once",
      ok: late?.includes("hello through a buffered writer") ?? false,
      seen: JSON.stringify(late),
    });
    await next();
    await run.wait("the writer's exit", writer.status);

    for (const [size, expectWhole] of [[4096, true], [131072, false]] as const) {
      const bulk = dir.fifo(`bulk-${size}`);
      const count = size === 4096 ? 200 : 40;
      const writers = ["A", "B"].map((l) =>
        run.helper(["bulk-writer", bulk, l, String(size), String(count)], "piped")
      );
      // A FIFO's blocking open waits for the other end: open it now that the writers open theirs.
      const r = await run.wait(`opening bulk-${size}`, Deno.open(bulk, { read: true }));
      run.defer(() => r.close());
      // Both writers hold the pipe open before either writes: the reader sees EOF only after
      // both have written everything (a writer that finished before the other opened would end
      // the reading early, and leave the late one blocked on a full pipe).
      for (const w of writers) await run.lines(w, `the bulk writers open bulk-${size}`)();
      for (const w of writers) {
        const stdin = w.stdin.getWriter();
        await run.wait("starting the bulk writers", stdin.write(new TextEncoder().encode("go\n")));
        await run.wait("starting the bulk writers", stdin.close());
      }
      const runs = await run.wait(`reading bulk-${size}`, readRuns(r, 2 * size * count));
      await run.wait("the bulk writers' exit", Promise.all(writers.map((w) => w.status)));
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
    // A slow reader lets the pipe fill.
    if (runs.length % 7 === 0) await sleep(1);
  }
  return runs;
}

async function sigchld(run: ExperimentRun): Promise<Observation[]> {
  using signals = new SignalQueue(["SIGCHLD"]);
  const child = run.track(
    new Deno.Command("sleep", { args: ["0.2"], stdin: "null", stdout: "null" }).spawn(),
  );
  const start = performance.now();
  const signal = await run.wait("waiting for SIGCHLD", withTimeout(signals.next(), 3000));
  const after = performance.now() - start;
  const status = await run.wait("the child's exit status", child.status);
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

/** Starts a system for the run: stopped at its end whatever happens, even during its start. */
function system(run: ExperimentRun, options: SystemOptions): Promise<RunningSystem> {
  const starting = startSystem(options);
  // A start that failed has nothing to stop: its failure reaches the run through the wait below.
  run.defer(async () => await (await starting.catch(() => null))?.stop());
  return run.wait("starting a system", starting);
}

async function frozenPipe(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const out = Deno.makeTempDirSync({ prefix: "osps-experiment-" });
  run.defer(() => Deno.removeSync(out, { recursive: true }));
  {
    // A watchdog that would take a minute to notice a freeze: the pipe is all there is.
    const tracePath = freshTraceFile(`${out}/trace.jsonl`);
    const slow = await system(run, {
      stage: "relay",
      workers: 1,
      heartbeatTimeoutMs: 60_000,
      tracePath,
    });
    {
      const pid = slow.signal("worker 1", "SIGSTOP");
      const third = FifoWriter.openNow(`${slow.runtimeDir}/dwtube1`);
      run.defer(() => third.close());
      third.send("restart");
      const clients = runClients(slow.port, 1, () => ["requetetype1 during the freeze"]);
      await run.sleep("the frozen worker, first order", 300);
      third.send("restart");
      await run.sleep("the frozen worker, second order", 700);
      const state = processInfo(pid)?.state;
      seen.push({
        what: "an order sent to a frozen worker through its own pipe does nothing",
        ok: state === "T" && slow.role("worker 1").pid === pid,
        seen:
          `1 s later worker 1 is still pid ${pid}, state ${state} (stopped); the orders wait in the pipe`,
      });
      slow.signal("worker 1", "SIGCONT");
      await run.wait("the request after SIGCONT", clients);
      const ping = (e: TracedEvent) => e.role === "worker 1" && e.event === "order";
      // The worker writes its trace events within 100 ms: wait for its ping of the request.
      const events = await run.wait(
        "the worker's trace",
        waitForTrace(tracePath, (all) => all.some((e) => ping(e) && e.detail?.startsWith("job"))),
      ) ?? slow.trace();
      const frames = events.filter(ping).map((e) => e.detail);
      const between = frames.indexOf("restart") < frames.findIndex((f) => f?.startsWith("job")) &&
        frames.lastIndexOf("restart") > frames.findIndex((f) => f?.startsWith("job"));
      seen.push({
        what: "a third writer's messages interleave with the dispatcher's on the same pipe",
        ok: between,
        seen: `worker 1 read, in order: ${frames.join(", ")}`,
      });
      await run.wait("stopping the first system", slow.stop());
    }
    const fast = await system(run, { stage: "relay", workers: 1, heartbeatTimeoutMs: 1000 });
    {
      const pid = fast.signal("worker 1", "SIGSTOP");
      const t = performance.now();
      const slot = fast.segment.slot(workerSlot(1));
      const generation = slot.get("generation");
      await run.wait(
        "the watchdog restarting worker 1",
        fast.waitFor(
          "worker 1 restarted",
          () => slot.get("generation") > generation && slot.get("state") === 2,
          5000,
        ).catch((e) => {
          // Not restarted in time: the observation below says so.
          if (!(e instanceof WaitTimeoutError)) throw e;
        }),
      );
      const restarted = fast.role("worker 1").pid;
      seen.push({
        what:
          "the watchdog's path — a stale heartbeat, then SIGTERM/SIGKILL — restarts the frozen worker",
        ok: restarted !== pid && processInfo(pid) === null,
        seen: `pid ${pid} → ${restarted} in ${
          (performance.now() - t).toFixed(0)
        } ms (heartbeat timeout 1000 ms)`,
      });
    }
  }
  return seen;
}

const QUESTIONS: Record<ExperimentName, string> = {
  "zombie": "2.b — what is a zombie, who must stop first, who reaps whom",
  "pipe-buffering": "notes — buffered writes in pipes, flush; atomic writes up to PIPE_BUF",
  "sigchld": "3.c — is a parent told by a signal that its child stopped?",
  "frozen-pipe": "3.b — ordering a frozen worker to restart through its pipe",
};

/**
 * Runs one experiment within its time bound (`options.timeoutMs`, default 30 s); aborting
 * `options.signal` (SIGINT, SIGTERM) ends it the same way. On every path, what it started is
 * killed, reaped and removed; a run cut short reports the step it was at as a failed observation.
 */
export async function runExperiment(
  name: ExperimentName,
  options: ExperimentRunOptions = {},
): Promise<ExperimentReport> {
  const experiment =
    { zombie, "pipe-buffering": pipeBuffering, sigchld, "frozen-pipe": frozenPipe }[
      name
    ];
  let observations: Observation[];
  {
    await using run = new ExperimentRun(options);
    try {
      observations = await experiment(run);
    } catch (e) {
      if (!run.signal.aborted) throw e;
      const why = run.signal.reason instanceof Error
        ? run.signal.reason.message
        : run.signal.reason;
      observations = [{ what: "the experiment runs to its end", ok: false, seen: String(why) }];
    }
  }
  return { name, question: QUESTIONS[name], observations, passed: observations.every((o) => o.ok) };
}
