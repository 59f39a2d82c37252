import assert from "node:assert/strict";
import {
  formatIpcBench,
  formatRecoveryBench,
  formatStagesBench,
  runIpcBench,
  runRecoveryBench,
  runStagesBench,
} from "../bench/mod.ts";
import { checkLeftovers, isClean } from "../scenarios/mod.ts";

// The short version of `deno task bench:ipc`: it measures, reports, and cleans up. Its speed
// target lives in the benchmark's report, not here.
Deno.test("bench ipc (short): both receive paths measured in alternating rounds, nothing left", async () => {
  const result = await runIpcBench({ roundTrips: 300, rounds: 3 });
  assert.equal(result.async.count, 300);
  assert.equal(result.baseline.count, 300);
  for (const s of [result.async, result.baseline]) {
    assert.ok(s.p50 > 0 && s.p50 <= s.p99, JSON.stringify(s));
  }
  assert.ok(Number.isFinite(result.ratio) && result.ratio > 0);
  assert.match(
    formatIpcBench(result),
    /ratio async\/baseline \(p50\): \d+\.\d\d {2}target <= 1\.5: (met|NOT met)/,
  );
  const left = checkLeftovers({ paths: [result.runtimeDir] });
  assert.ok(isClean(left), JSON.stringify(left));
});

// The short version of `deno task bench:stages`: every stage under both loads, every answer its own.
Deno.test("bench stages (short): every stage answers every request right, and the table says so", async () => {
  const result = await runStagesBench({
    single: 40,
    clients: 3,
    perClient: 10,
    referenceTrips: 100,
  });
  assert.deepEqual(result.stages.map((s) => s.stage), [
    "relay",
    "worker-calls-client",
    "client-calls-worker",
  ]);
  for (const s of result.stages) {
    assert.equal(s.single.right, 40, s.stage);
    assert.equal(s.mixed.right, 30, s.stage);
    assert.ok(s.clean, s.stage);
  }
  assert.ok(result.reference.sumUs > 0 && Number.isFinite(result.relayRatio));
  assert.match(
    formatStagesBench(result),
    /no answer lost, wrong or duplicated, nothing left behind: yes/,
  );
});

// The short version of `deno task bench:recovery`: one trial per fault, a quicker heartbeat.
Deno.test("bench recovery (short): every fault is detected and recovered, the table has its rows", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const result = await runRecoveryBench({
      trials: 1,
      heartbeatTimeoutMs: 400,
      tracePath: `${dir}/trace.jsonl`,
    });
    assert.equal(result.rows.length, 4);
    for (const row of result.rows.slice(0, 3)) {
      assert.ok(row.detect !== null && row.detect.n === 1, row.fault);
    }
    for (const row of result.rows) {
      assert.ok(row.servedAgain.n === 1 && row.servedAgain.median > 0, row.fault);
    }
    assert.match(formatRecoveryBench(result), /\| worker freeze \(SIGSTOP\)/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
