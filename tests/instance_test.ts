import assert from "node:assert/strict";
import { killAndReap, LineReader, spawnFixture } from "./helpers.ts";

// Two watchdogs racing for one instance: each takes it, makes its pipes, gives it back, 200 times.
// The one stopping removes its files while it holds the lock, and the one starting checks that
// the lock file it locked is still the one at the path: never two holders, no pipe lost.
Deno.test("two processes racing to take and give back one instance 200 times: never both, nothing lost", async () => {
  const base = Deno.makeTempDirSync({ prefix: "osps-test-race-" });
  const racers = [0, 1].map(() => spawnFixture("instance_racer.ts", [base, "race", "200"]));
  try {
    const results = await Promise.all(racers.map(async (r) => {
      const line = await new LineReader(r.stdout).next();
      return { status: await r.status, line };
    }));
    for (const { status, line } of results) {
      assert.equal(status.code, 0, "a racer saw two holders at once (its stderr says when)");
      const { held, refused } = JSON.parse(line!);
      assert.equal(held + refused, 200);
      assert.ok(held >= 20, `each racer held the instance often: ${line}`);
    }
    assert.deepEqual([...Deno.readDirSync(base)], [], "the last holder removed everything");
  } finally {
    await Promise.all(racers.map(killAndReap));
    Deno.removeSync(base, { recursive: true });
  }
});
