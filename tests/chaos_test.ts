import assert from "node:assert/strict";
import { chaosVerdicts, formatChaos, runChaos } from "../scenarios/mod.ts";

// The short version of `deno task chaos` (CI runs 20 s per stage; the task's default is 3 min).
Deno.test("chaos (6 s, client-calls-worker): fatal signals into every role and the standby; nothing wrong, lost unexplained or left", async () => {
  const report = await runChaos({
    stage: "client-calls-worker",
    seconds: 6,
    seed: 7,
    meanIntervalMs: 500,
  });
  const failed = chaosVerdicts(report).filter((v) => !v.ok).map((v) => v.what);
  assert.deepEqual(failed, [], formatChaos(report).join("\n"));
  assert.ok(report.faults.length >= 6, `${report.faults.length} faults`);
  assert.ok(new Set(report.faults.map((f) => f.signal)).size >= 3, "several kinds of signal");
  assert.ok(report.sent > 1000, `${report.sent} requests`);
  assert.ok(report.passed);
});
