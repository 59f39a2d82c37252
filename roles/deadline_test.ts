import assert from "node:assert/strict";
import { DEADLINE_TICK_MS, deadlineAfter } from "./deadline.ts";
import { sleep } from "./timers.ts";

Deno.test("a deadline fires once, at most one tick late; a cancelled one never", async () => {
  const fired: string[] = [];
  const t0 = performance.now();
  let firedAt = 0;
  const due = deadlineAfter(30, () => {
    fired.push("due");
    firedAt = performance.now() - t0;
  });
  const cancelled = deadlineAfter(30, () => fired.push("cancelled"));
  cancelled.cancel();
  const { promise, resolve } = Promise.withResolvers<void>();
  deadlineAfter(120, resolve);
  // The sweep never keeps the process alive: this test's own timer does.
  const keepAlive = setTimeout(() => {}, 1000);
  await promise;
  clearTimeout(keepAlive);
  assert.deepEqual(fired, ["due"]);
  assert.ok(due.fired);
  assert.ok(firedAt >= 30 && firedAt <= 30 + 2 * DEADLINE_TICK_MS + 20, `fired at ${firedAt} ms`);
});

Deno.test("a restarted deadline fires from its new start", async () => {
  let count = 0;
  const d = deadlineAfter(20, () => count++);
  const keepAlive = setTimeout(() => {}, 1000);
  await sleep(10);
  d.restart(80);
  await sleep(50);
  assert.equal(count, 0, "moved forward: not fired at its first time");
  await sleep(100);
  assert.equal(count, 1);
  d.restart(10);
  await sleep(80);
  assert.equal(count, 2, "a fired deadline can be restarted");
  clearTimeout(keepAlive);
});
