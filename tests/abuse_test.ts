import assert from "node:assert/strict";
import { computeLayout, encodeFrame, ROLE_SLOT, workerSlot } from "../ipc/mod.ts";
import { expectedAnswer, LoadGenerator, runClients, startSystem } from "../scenarios/mod.ts";
import { killAndReap, LineReader, RawConn, RawShm, spawnFixture } from "./helpers.ts";
import { sleep } from "../roles/timers.ts";

/**
 * A foreign writer's write. Scribbled every 20 ms, a worker's slot rarely shows a plausible
 * heartbeat, so the watchdog may restart the worker: its pipe then has no reader for a moment.
 */
function scribble(pipe: Deno.FsFile, bytes: Uint8Array): void {
  try {
    pipe.writeSync(bytes);
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
}

Deno.test("garbage in the mailboxes, the registry and the pipes: no crash, no wrong answer, recovery", async () => {
  const system = await startSystem({
    stage: "relay",
    workers: 2,
    requestTimeoutMs: 3000,
    logLevel: "fatal",
  });
  const layout = computeLayout(2);
  const mailbox1 = layout.mailboxesOffset;
  const slot1 = layout.slotsOffset + workerSlot(1) * ROLE_SLOT.size;
  using raw = RawShm.open(system.segmentName);
  const memory = raw.bytes();
  const toWorker = Deno.openSync(`${system.runtimeDir}/dwtube1`, { write: true });
  const toDispatcher = Deno.openSync(`${system.runtimeDir}/wdtube1`, { write: true });
  const load = new LoadGenerator(system.port, 3);
  let scribbles = 0;
  try {
    const until = performance.now() + 1500;
    while (performance.now() < until) {
      memory.set(crypto.getRandomValues(new Uint8Array(64)), mailbox1);
      memory.set(crypto.getRandomValues(new Uint8Array(ROLE_SLOT.size)), slot1);
      for (const pipe of [toWorker, toDispatcher]) {
        const order = `${pipe === toWorker ? "job" : "done"} ${1 + Math.floor(Math.random() * 50)}`;
        scribble(pipe, crypto.getRandomValues(new Uint8Array(1 + Math.floor(Math.random() * 200))));
        scribble(pipe, encodeFrame("forged", order));
      }
      scribbles++;
      await sleep(20);
    }
    const during = await load.stop();
    const wrong = during.filter((r) =>
      r.got !== null && r.got.startsWith("OK") && r.got !== expectedAnswer(r.line)
    );
    assert.deepEqual(wrong, [], "never a wrong answer passed off as right");
    assert.deepEqual(during.filter((r) => r.got === null), [], "every request answered");
    assert.ok(during.length > 50, `requests kept flowing: ${during.length}`);
    // The abuse stops: the roles rewrite their slots at their next beat, and all is served right.
    await sleep(300);
    const after = await runClients(
      system.port,
      2,
      (c) => Array.from({ length: 10 }, (_, i) => `requetetype1 after ${c}-${i}`),
    );
    assert.deepEqual(after.filter((r) => r.got !== expectedAnswer(r.line)), []);
    const restarts = system.restarts();
    assert.equal(restarts.dispatcher, 0, "the dispatcher never crashed");
  } finally {
    toWorker.close();
    toDispatcher.close();
    await load.stop();
    const report = await system.stop();
    assert.equal(report.watchdog.code, 0);
    assert.ok(scribbles > 20);
  }
});

// A scribbler in a process of its own writes random bytes over the mailboxes and the workers'
// ports as fast as it can: a relay echo used to come back corrupted (the checksum was computed on
// the shared bytes, then they were decoded again), and REDIRECT named port 2525803495.
for (const stage of ["relay", "client-calls-worker"] as const) {
  Deno.test(`random bytes written into the live segment (${stage}): never a wrong answer`, async () => {
    const system = await startSystem({ stage, workers: 2, logLevel: "fatal" });
    const ports = system.roles.filter((r) => r.kind === "worker")
      .map((r) => system.segment.slot(r.slot).get("port"));
    const scribbler = spawnFixture("shm_scribbler.ts", [system.segmentName, "2", "2000"]);
    const load = new LoadGenerator(
      system.port,
      4,
      (c, i) => `requetetype1 c${c} i${i} ${"x".repeat(i % 40)}`,
    );
    // Raw clients read each REDIRECT's port, then follow it (a reservation not followed would
    // hold its worker).
    const redirects: string[] = [];
    let done = false;
    const redirecting = stage !== "client-calls-worker" ? Promise.resolve() : (async () => {
      while (!done) {
        using c = await RawConn.open(system.port);
        const reply = await c.ask("requetetype1 where to").catch(() => null);
        if (!reply?.startsWith("REDIRECT ")) continue;
        redirects.push(reply);
        const port = Number(reply.split(" ")[2]);
        if (!ports.includes(port)) continue;
        using w = await RawConn.open(port);
        await w.ask("requetetype1 where to").catch(() => null);
      }
    })();
    try {
      const writes = Number(await new LineReader(scribbler.stdout).next());
      done = true;
      await redirecting;
      const records = await load.stop();
      assert.ok(writes > 10_000, `${writes} scribbles`);
      const wrong = records.filter((r) =>
        r.got?.startsWith("OK") && r.got !== expectedAnswer(r.line)
      );
      assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} wrong answers of ${records.length}`);
      assert.ok(records.filter((r) => r.got?.startsWith("OK")).length > 100, "answers kept coming");
      for (const r of redirects) {
        const port = Number(r.split(" ")[2]);
        assert.ok(ports.includes(port), `${r}: not a worker's port (${ports})`);
      }
    } finally {
      done = true;
      await killAndReap(scribbler);
      await load.stop();
      await system.stop();
    }
  });
}
