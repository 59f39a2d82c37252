import assert from "node:assert/strict";
import { TraceTail } from "../observe/mod.ts";
import { StepBuilder } from "../scenarios/mod.ts";

/** A trace line as the roles write it. */
function line(i: number, event = "send", detail = `line ${i}`): string {
  return JSON.stringify({
    ts: 1000 + i,
    pid: 7,
    role: "dispatcher",
    event,
    channel: "tcp",
    detail,
  }) +
    "\n";
}

/** Runs `fn` with a trace path in a fresh directory, removed after. */
function withTrace(fn: (path: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-tail-" });
  try {
    fn(`${dir}/trace.jsonl`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("a trace tail returns the lines written since, waits for a torn one, follows a rotation", () => {
  withTrace((path) => {
    Deno.writeTextFileSync(path, line(0));
    const tail = new TraceTail(path);
    assert.deepEqual(tail.poll().events, [], "what was there before is not read");
    Deno.writeTextFileSync(path, line(1) + line(2).slice(0, 20), { append: true });
    assert.deepEqual(tail.poll().events.map((e) => e.ts), [1001]);
    Deno.writeTextFileSync(path, line(2).slice(20) + line(3), { append: true });
    assert.deepEqual(tail.poll().events.map((e) => e.ts), [1002, 1003]);
    Deno.writeTextFileSync(path, line(4), { append: true });
    Deno.renameSync(path, `${path}.1`);
    Deno.writeTextFileSync(path, line(5));
    const read = tail.poll();
    assert.deepEqual(read.events.map((e) => e.ts), [1004, 1005]);
    assert.equal(read.unparsed, 0);
  });
});

Deno.test("a sampled poll parses an even sample and every line that teaches, and counts the rest", () => {
  withTrace((path) => {
    Deno.writeTextFileSync(path, "");
    const tail = new TraceTail(path);
    const teaching = new Set([11, 503, 997]);
    let text = "";
    for (let i = 0; i < 1000; i++) {
      text += teaching.has(i) ? line(i, "ready", `port ${4000 + i}`) : line(i);
    }
    Deno.writeTextFileSync(path, text, { append: true });
    const read = tail.poll({ limit: 50, keep: StepBuilder.teaches });
    const got = read.events.map((e) => e.ts - 1000);
    assert.equal(got.filter((i) => !teaching.has(i)).length, 50, "the sample");
    for (const i of teaching) assert.ok(got.includes(i), `teaching line ${i} parsed`);
    assert.equal(read.unparsed, 1000 - got.length);
    assert.ok(got[0] === 0 && got.at(-1)! >= 950, `spread over the batch: ${got[0]}…${got.at(-1)}`);
    assert.deepEqual(got, [...got].sort((a, b) => a - b), "in file order");
    Deno.writeTextFileSync(path, line(1000) + line(1001), { append: true });
    const none = tail.poll({ limit: 0, keep: StepBuilder.teaches });
    assert.deepEqual([none.events.length, none.unparsed], [0, 2], "limit 0: only teaching lines");
  });
});
