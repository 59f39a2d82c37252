/**
 * The experiments on pipes: `pipe-buffering` (buffered writes, flush, PIPE_BUF), `pipe-capacity`
 * (PIPE_BUF versus capacity, a full pipe blocking a writer), `fifo-open` (the blocking open, EOF
 * when the last writer leaves).
 *
 * @module
 */

import { RuntimeDir, threadsWaitingIn } from "../ipc/mod.ts";
import { withTimeout } from "../roles/mod.ts";
import { sleep } from "../roles/timers.ts";
import type { ExperimentRun, Observation } from "./experiment_run.ts";

/** The notes: a buffered write waits in the writer until flushed; PIPE_BUF writes stay whole. */
export async function pipeBuffering(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const dir = RuntimeDir.create({ prefix: "osps-experiment-" });
  run.defer(() => dir.remove());
  {
    const path = dir.fifo("tube");
    const writer = run.helper(["buffered-writer", path], "piped");
    const next = run.lines(writer, "the buffered writer's lines");
    // A FIFO's blocking open waits for the other end: the writer's open and this one meet.
    const opening = Deno.open(path, { read: true });
    // An abort kills the writer, and its end of the pipe with it: the open returns or fails.
    run.defer(() => opening.then((f) => f.close(), () => {}));
    await next(); // "written": the message is in the writer's buffer
    const raw = await run.wait("opening the pipe", opening);
    // One read, kept across the timeout: whatever arrives, it is this read that gets it.
    const pending = readRaw(raw);
    const me = String(Deno.pid);
    run.picture.lane(me, `this process ${Deno.pid} (the reader)`);
    const early = await run.wait("the early read", withTimeout(pending, 300));
    run.picture.mark(me, early === null ? "read: nothing for 300 ms" : "read: got it");
    seen.push({
      what: "a buffered write stays in the writer: the reader gets nothing",
      ok: early === null,
      seen: early === null ? "nothing within 300 ms" : `got ${JSON.stringify(early)}`,
    });
    const stdin = writer.stdin.getWriter();
    await run.wait("telling the writer to flush", stdin.write(new TextEncoder().encode("flush\n")));
    await run.wait("closing the writer's stdin", stdin.close());
    const late = early ?? await run.wait("the late read", withTimeout(pending, 2000));
    if (early === null && late !== null) run.picture.mark(me, "read: got it, once flushed");
    seen.push({
      what: "after the flush, the reader gets it at once",
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
      // Reading starts once both writers are in their writes, asleep on the full pipe (bounded:
      // 3 s): then each drained room goes to whichever the kernel wakes, as under real load — a
      // writer not yet scheduled on a busy machine would otherwise write all it has alone.
      await run.watchFor(
        `the bulk writers of bulk-${size} waiting on the full pipe`,
        () => writers.filter((w) => asleepWriting(w.pid)).length,
        (n) => n === writers.length,
        3000,
      );
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

/** Whether a thread of `pid` sleeps writing to a full pipe (anon_pipe_write since Linux 6.14). */
function asleepWriting(pid: number): boolean {
  return threadsWaitingIn(pid, "pipe_write") + threadsWaitingIn(pid, "anon_pipe_write") > 0;
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

/** A line that comes within `ms`, or null; the line read meanwhile is kept for the next call. */
function lineSource(run: ExperimentRun, child: Deno.ChildProcess, step: string) {
  const next = run.lines(child, step);
  let pending: Promise<string | null> | null = null;
  return (ms: number) => {
    pending ??= next();
    const line = pending;
    return run.wait(step, withTimeout(line, ms)).then((got) => {
      if (got !== null) pending = null;
      return got;
    });
  };
}

/** The notes: a FIFO's open waits for the other end; EOF once the last writer has left. */
export async function fifoOpen(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const dir = RuntimeDir.create({ prefix: "osps-experiment-" });
  run.defer(() => dir.remove());
  const path = dir.fifo("tube");
  run.picture.lane("fifo", "the named pipe", "exists");
  const reader = run.helper(["fifo-reader", path]);
  const read = lineSource(run, reader, "the reader's lines");
  const opening = await read(5000);
  run.picture.state(String(reader.pid), "asleep", "open() waits for a writer");
  const t = performance.now();
  const early = await read(300);
  const waiting = threadsWaitingIn(reader.pid, "wait_for_partner");
  const writers = ["one", "two"].map((text) => {
    const w = run.helper(["fifo-writer", path, text], "piped");
    return { w, lines: lineSource(run, w, `writer "${text}"'s lines`), stdin: w.stdin.getWriter() };
  });
  const opened = await read(5000);
  run.picture.state(String(reader.pid), "running", "holds the read end");
  const blockedMs = performance.now() - t;
  seen.push({
    what: "opening a FIFO to read blocks until a writer opens the other end",
    ok: opening === "opening" && early === null && waiting > 0 && opened === "opened",
    seen: `the reader said "${opening}", then nothing for 300 ms ` +
      `(${waiting} thread asleep in wait_for_partner); "${opened}" ${
        blockedMs.toFixed(0)
      } ms later, once a writer opened`,
  });
  for (const { lines } of writers) {
    await lines(5000); // "opening"
    await lines(5000); // "opened"
  }
  const leave = async (i: number) => {
    await run.wait(
      "telling a writer to write",
      writers[i].stdin.write(new TextEncoder().encode("go\n")),
    );
    await run.wait("closing a writer's stdin", writers[i].stdin.close());
    await run.wait("a writer's exit", writers[i].w.status);
    run.picture.link(String(writers[i].w.pid), String(reader.pid), "a line, then close");
  };
  await leave(0);
  const first = await read(5000);
  const afterFirst = await read(300);
  await leave(1);
  const second = await read(5000);
  const end = await read(5000);
  seen.push({
    what: "the reader sees EOF only when the last writer has closed its end",
    ok: first === "read one" && afterFirst === null && second === "read two" && end === "EOF",
    seen: `first writer gone: "${first}", then ${
      afterFirst === null ? "no EOF for 300 ms" : `"${afterFirst}"`
    }; last writer gone: "${second}", "${end}"`,
  });
  await run.wait("the reader's exit", reader.status);
  return seen;
}

/** The notes and 3.b: PIPE_BUF is not the capacity; a full pipe blocks its writer. */
export async function pipeCapacity(run: ExperimentRun): Promise<Observation[]> {
  const dir = RuntimeDir.create({ prefix: "osps-experiment-" });
  run.defer(() => dir.remove());
  const path = dir.fifo("tube");
  const size = 100_000;
  const writer = run.helper(["full-writer", path, String(size)]);
  const said = lineSource(run, writer, "the writer's lines");
  const pipe = await run.wait("opening the pipe", Deno.open(path, { read: true }));
  run.defer(() => pipe.close());
  const atomic = Number((await said(5000))?.split(" ")[1]);
  const capacity = Number((await said(5000))?.split(" ")[1]);
  const blocked = await run.watchFor(
    "the writer blocking",
    () => asleepWriting(writer.pid),
    (asleep) => asleep,
    3000,
  );
  const w = String(writer.pid), me = String(Deno.pid);
  if (blocked) run.picture.state(w, "asleep", `write() of ${size} bytes: the pipe is full`);
  run.picture.lane(me, `this process ${Deno.pid} (the reader)`);
  const early = await said(300);
  // One read takes everything the pipe holds: what the writer got in before it blocked.
  const buf = new Uint8Array(1 << 20);
  const first = await run.wait("the first read", pipe.read(buf)) ?? 0;
  run.picture.mark(me, `read ${first} bytes`);
  let total = first;
  while (total < size) {
    const n = await run.wait("reading the rest", pipe.read(buf));
    if (n === null) break;
    total += n;
  }
  run.picture.mark(me, `read ${total} in all`);
  const wrote = await said(5000);
  run.picture.state(w, "running");
  await run.wait("the writer's exit", writer.status);
  return [{
    what: "PIPE_BUF (atomic writes) and a pipe's capacity (what it holds) are two sizes",
    ok: atomic === 4096 && capacity === 65536 && first === capacity,
    seen: `PIPE_BUF ${atomic}, capacity ${capacity} (${capacity / atomic} × PIPE_BUF); ` +
      `the first read took ${first} bytes: all the blocked writer had put in`,
  }, {
    what: "a writer to a full pipe blocks until the reader makes room",
    ok: blocked && early === null && wrote === `wrote ${size}` && total === size,
    seen: `one write of ${size} bytes: the writer ${blocked ? "asleep" : "never seen asleep"} ` +
      `writing to the pipe, nothing ` +
      `said for ${early === null ? "300 ms" : `less than 300 ms ("${early}")`}; once ${total} ` +
      `bytes were read: "${wrote}"`,
  }];
}
