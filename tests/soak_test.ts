import assert from "node:assert/strict";
import { formatSoak, runSoak } from "../scenarios/mod.ts";

// The short version of `deno task soak` (CI runs 20 s per stage; the task's default is 60 s).
Deno.test("soak (6 s, worker-calls-client): faults under load lose nothing and leave nothing", async () => {
  const r = await runSoak({ stage: "worker-calls-client", seconds: 6, clients: 4 });
  assert.ok(r.faults.filter((f) => f.signal === "SIGKILL").length >= 3, JSON.stringify(r.faults));
  assert.ok(r.faults.some((f) => f.role === "dispatcher"), "the dispatcher was killed once");
  assert.ok(r.faults.some((f) => f.signal === "SIGSTOP"), "a worker was frozen");
  assert.equal(r.wrong, 0);
  assert.equal(r.unanswered, 0);
  assert.ok(r.passed, formatSoak(r).join("\n"));
});
