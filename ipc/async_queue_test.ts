import assert from "node:assert/strict";
import { AsyncQueue } from "./async_queue.ts";

Deno.test("an async queue: oldest first, waiting consumers served in turn, null once closed", async () => {
  const q = new AsyncQueue<number>();
  q.push(1);
  q.push(2);
  assert.equal(await q.next(), 1);
  assert.equal(await q.next(), 2);
  const first = q.next(), second = q.next();
  assert.equal(q.waiting, 2);
  q.push(3);
  q.push(4);
  assert.deepEqual(await Promise.all([first, second]), [3, 4]);
  const third = q.next();
  q.close();
  assert.equal(await third, null);
  assert.equal(await q.next(), null);
});

Deno.test("an async queue: items left when closed are still taken; takeNow and retain", async () => {
  const q = new AsyncQueue<string>();
  for (const s of ["a", "b", "c", "d"]) q.push(s);
  q.close();
  q.retain((s) => s !== "b");
  assert.equal(q.takeNow(), "a");
  assert.equal(await q.next(), "c");
  assert.equal(q.length, 1);
  assert.equal(await q.next(), "d");
  assert.equal(q.takeNow(), undefined);
  assert.equal(await q.next(), null);
});
