import assert from "node:assert/strict";
import { buildDiagram, LoadGenerator, readTrace, startSystem } from "../scenarios/mod.ts";
import { closeTrace, setupLogging, TraceFile, traceFiles } from "../roles/mod.ts";
import { killAndReap, spawnFixture, waitUntil } from "./helpers.ts";

// Several processes append to one bounded trace: it is rotated once per bound, never torn, and
// readers get both files.
Deno.test("4 processes x 5000 events into a trace bounded at 256 KiB: rotated, bounded, whole lines", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-trace-" });
  const path = `${dir}/trace.jsonl`;
  const bound = 256 * 1024;
  const writers = [0, 1, 2, 3].map((id) =>
    spawnFixture("trace_writer.ts", [path, String(id), "5000", String(bound)])
  );
  try {
    for (const w of writers) assert.equal((await w.status).code, 0);
    assert.deepEqual(traceFiles(path), [`${path}.1`, path]);
    // A batch is at most 64 KiB, and each of the 4 writers may append one to the file it had open
    // while another rotated it.
    for (const f of traceFiles(path)) {
      const size = Deno.statSync(f).size;
      assert.ok(size <= bound + 4 * 64 * 1024, `${f}: ${size} bytes`);
    }
    const lines = traceFiles(path).flatMap((f) => Deno.readTextFileSync(f).split("\n"))
      .filter((l) => l !== "");
    for (const line of lines) JSON.parse(line); // no torn line
    const older = Deno.statSync(`${path}.1`).size;
    assert.ok(older >= bound - 64 * 1024, `${path}.1 was rotated full: ${older} bytes`);
    const events = readTrace(path);
    assert.equal(events.length, lines.length);
    // Each writer's events that were kept are in its order: a writer follows a rotation forward.
    for (const id of [0, 1, 2, 3]) {
      const mine = events.filter((e) => e.role === `writer ${id}`).map((e) => e.req!);
      assert.deepEqual(mine, [...mine].sort((a, b) => a - b), `writer ${id} in order`);
    }
    // What is appended last is kept, and read last.
    const last = new TraceFile(path, { maxBytes: bound });
    last.append(
      `${
        JSON.stringify({
          ts: Date.now() + 1000,
          pid: 0,
          role: "last",
          event: "send",
          channel: "fifo",
        })
      }\n`,
    );
    last.close();
    assert.equal(readTrace(path).at(-1)?.role, "last");
  } finally {
    await Promise.all(writers.map(killAndReap));
    Deno.removeSync(dir, { recursive: true });
  }
});

// A bounded trace under load is rotated many times over: the faults, the starts and who the
// clients are must still be there for the diagram (they are kept in the lifecycle file).
Deno.test("a bounded trace rotated many times over still shows the start, the fault and the clients", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-trace-" });
  const path = `${dir}/trace.jsonl`;
  const system = await startSystem({
    stage: "relay",
    workers: 2,
    tracePath: path,
    traceMaxBytes: 64 * 1024,
  });
  // This process's clients trace into the run's trace, as a scenario's do.
  setupLogging("error", { path, role: "test", maxBytes: 64 * 1024 });
  let load: LoadGenerator | null = null;
  try {
    load = new LoadGenerator(system.port, 2);
    await waitUntil("the first answers", () => load!.records.length > 20, 5000);
    const fault = performance.timeOrigin + performance.now();
    system.signal("worker 1", "SIGKILL");
    // The load goes on until the older file starts after the fault: the fault is rotated out.
    await waitUntil("two rotations after the fault", () => {
      const older = traceFiles(path).find((f) => f === `${path}.1`);
      const first = older && Deno.readTextFileSync(older).split("\n", 1)[0];
      return first !== undefined && first !== "" && JSON.parse(first).ts > fault + 50;
    }, 20_000);
    const records = await load.stop();
    load = null;
    assert.ok(records.every((r) => r.got !== null), "every request answered");
    await system.stop();
    const d = buildDiagram(readTrace(path));
    const has = (p: (s: (typeof d.steps)[number]) => boolean) => d.steps.some(p);
    assert.ok(has((s) => s.kind === "arrow" && s.label.startsWith("spawn")), "the start");
    assert.ok(
      has((s) => s.kind === "arrow" && s.from === "worker 1" && /killed by SIGKILL/.test(s.label)),
      "the fault",
    );
    assert.ok(has((s) => s.kind === "arrow" && s.label.startsWith("restart")), "the restart");
    assert.deepEqual(d.lifelines.filter((l) => l.startsWith("client")), ["client 1", "client 2"]);
    // Two files of 64 KiB hold a few hundred steps: drawn whole, or around the fault; never only
    // the first steps, which is what a diagram that found no fault shows.
    assert.notEqual(d.shown, "first");
  } finally {
    await load?.stop();
    await system.stop();
    closeTrace();
    Deno.removeSync(dir, { recursive: true });
  }
});
