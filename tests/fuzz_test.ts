import assert from "node:assert/strict";
import { formatFuzz, runFuzz } from "../scenarios/mod.ts";

// The short version of `deno task fuzz` (10,000 inputs and 500 idle connections per stage there).
Deno.test("fuzz (short, client-calls-worker): hostile input gets protocol lines or clean closes, the canary is served", async () => {
  const r = await runFuzz({
    stage: "client-calls-worker",
    inputs: 800,
    idleConnections: 100,
    slowlorisSeconds: 1,
  });
  assert.ok(r.inputs >= 800, `${r.inputs} inputs`);
  for (
    const kind of [
      "random bytes",
      "invalid UTF-8",
      "NUL bytes",
      "line of 4096 bytes",
      "line of 4097 bytes",
      "endless line",
      "half-closed socket",
      "slowloris",
      "idle connection",
      "line to a worker's port",
    ]
  ) {
    assert.ok((r.byKind[kind] ?? 0) > 0, `inputs of kind ${kind}`);
  }
  assert.deepEqual(r.bad, []);
  assert.deepEqual(r.canary.failed, []);
  assert.ok(r.passed, formatFuzz(r).join("\n"));
});
