import assert from "node:assert/strict";
import { type ExitDecision, RestartPolicy, strategyGroup } from "./policy.ts";

const LIMITS = { maxRestarts: 5, windowMs: 10_000 };
const crash = { code: 1, booting: false };

/** The decisions after crashes at each of `times` (ms). */
function crashesAt(policy: RestartPolicy, times: number[]): ExitDecision[] {
  return times.map((t) => policy.afterExit(crash, t));
}

Deno.test("a crash is restarted at once, then after 100, 200, 400, 800 ms; the sixth fails the slot", () => {
  const decisions = crashesAt(new RestartPolicy(LIMITS), [0, 10, 120, 330, 740, 1550]);
  assert.deepEqual(decisions, [
    { kind: "restart", delayMs: 0, restarts: 1 },
    { kind: "restart", delayMs: 100, restarts: 2 },
    { kind: "restart", delayMs: 200, restarts: 3 },
    { kind: "restart", delayMs: 400, restarts: 4 },
    { kind: "restart", delayMs: 800, restarts: 5 },
    { kind: "failed", restarts: 5 },
  ]);
});

Deno.test("restarts older than the window no longer count", () => {
  const policy = new RestartPolicy(LIMITS);
  crashesAt(policy, [0, 1000, 2000, 3000, 4000]);
  // The first restart (at 0) left the window at 10 000; the others (with their delays) have not.
  assert.deepEqual(policy.afterExit(crash, 10_050), { kind: "restart", delayMs: 800, restarts: 5 });
  assert.deepEqual(policy.afterExit(crash, 10_100), { kind: "failed", restarts: 5 });
});

Deno.test("a run as long as the window clears the count; a shorter one does not", () => {
  const policy = new RestartPolicy(LIMITS);
  crashesAt(policy, [0, 100, 400]);
  policy.running(400, 5000);
  assert.deepEqual(policy.afterExit(crash, 5000), { kind: "restart", delayMs: 400, restarts: 4 });
  policy.running(5000, 15_001);
  assert.deepEqual(policy.afterExit(crash, 15_001), { kind: "restart", delayMs: 0, restarts: 1 });
});

Deno.test("an exit while booting, or with code 2, stops the instance whatever the history", () => {
  const policy = new RestartPolicy(LIMITS);
  assert.equal(policy.afterExit({ code: 1, booting: true }, 0).kind, "stop-instance");
  assert.deepEqual(policy.afterExit({ code: 2, booting: false }, 0), {
    kind: "stop-instance",
    why: "(bad configuration)",
  });
  assert.deepEqual(policy.afterExit({ code: null, booting: false }, 0), {
    kind: "restart",
    delayMs: 0,
    restarts: 1,
  });
});

Deno.test("a failed slot is tried again after 30 s, then 60, 120…, at most 10 min; a long run forgets", () => {
  const policy = new RestartPolicy(LIMITS);
  const pauses = Array.from({ length: 7 }, () => {
    crashesAt(policy, [0, 1, 2, 3, 4]);
    const decision = policy.afterExit(crash, 5);
    assert.equal(decision.kind, "failed");
    const pause = policy.failed();
    policy.retry();
    return pause;
  });
  assert.deepEqual(pauses, [30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000]);
  policy.running(0, LIMITS.windowMs + 1);
  crashesAt(policy, [0, 1, 2, 3, 4]);
  assert.equal(policy.afterExit(crash, 5).kind, "failed");
  assert.equal(policy.failed(), 30_000, "a whole window of running cleared the failures");
});

Deno.test("the strategies: one-for-one restarts the crashed role alone, one-for-all every role, rest-for-one the workers after a dispatcher", () => {
  const dispatcher = { kind: "dispatcher" as const, name: "dispatcher" };
  const workers = [1, 2, 3].map((k) => ({ kind: "worker" as const, name: `worker ${k}` }));
  const roles = [dispatcher, ...workers];
  const names = (rs: { name: string }[]) => rs.map((r) => r.name);
  assert.deepEqual(strategyGroup("one-for-one", workers[1], roles), []);
  assert.deepEqual(strategyGroup("one-for-one", dispatcher, roles), []);
  assert.deepEqual(names(strategyGroup("one-for-all", workers[1], roles)), [
    "dispatcher",
    "worker 1",
    "worker 3",
  ]);
  assert.deepEqual(names(strategyGroup("one-for-all", dispatcher, roles)), names(workers));
  assert.deepEqual(names(strategyGroup("rest-for-one", dispatcher, roles)), names(workers));
  assert.deepEqual(strategyGroup("rest-for-one", workers[0], roles), []);
});
