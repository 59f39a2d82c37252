import assert from "node:assert/strict";
import { formatIpcBench, runIpcBench } from "../bench/ipc.ts";
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
