import assert from "node:assert/strict";
import { computeLayout, encodeFrame, ROLE_SLOT, workerSlot } from "../ipc/mod.ts";
import { expectedAnswer, LoadGenerator, runClients, startSystem } from "../scenarios/mod.ts";
import { RawShm } from "./helpers.ts";
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
