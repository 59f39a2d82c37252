import assert from "node:assert/strict";
import { EXPERIMENTS, runExperiment } from "../scenarios/mod.ts";

for (const name of EXPERIMENTS) {
  Deno.test(`experiment ${name}: every observation holds`, async () => {
    const report = await runExperiment(name);
    const failed = report.observations.filter((o) => !o.ok).map((o) => `${o.what}: ${o.seen}`);
    assert.deepEqual(failed, []);
    assert.ok(report.observations.length > 0 && report.passed);
  });
}
