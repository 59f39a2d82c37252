import assert from "node:assert/strict";
import {
  expectedAnswer,
  isClean,
  LoadGenerator,
  type OperationOptions,
  type OperationReport,
  runOperationScenario,
  startSystem,
} from "../scenarios/mod.ts";
import { waitUntil } from "./helpers.ts";

/** Runs an operation scenario with its trace in a temporary folder; asserts every check passed. */
async function scenario(options: Omit<OperationOptions, "outDir">): Promise<OperationReport> {
  const outDir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runOperationScenario({ ...options, outDir });
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail}`);
    assert.deepEqual(failed, [], `${options.name} (${options.stage}) failed checks`);
    assert.ok(report.passed);
    assert.ok(report.records.length > 0 && report.connections.accepted > 0);
    return report;
  } finally {
    Deno.removeSync(outDir, { recursive: true });
  }
}

// The dispatcher is replaced last, and new connections wait in the listening socket's backlog
// meanwhile: the prober is never refused, the clients lose nothing.
Deno.test("reload (relay) under load: every role replaced, one at a time; nothing lost, none refused", async () => {
  const r = await scenario({ name: "reload", stage: "relay" });
  const order = r.timeline.filter((l) => /watchdog\s+drain\s+→/.test(l)).map((l) =>
    /→ (dispatcher|worker \d+)/.exec(l)![1]
  );
  assert.deepEqual(order, ["worker 1", "worker 2", "worker 3", "worker 4", "dispatcher"]);
});

Deno.test("scale 4 → 8 → 2 → 4 (client-calls-worker) under load: added workers take work, removed ones finish theirs", async () => {
  const r = await scenario({ name: "scale", stage: "client-calls-worker" });
  assert.equal(r.checks.filter((c) => /added, takes work once ready/.test(c.what)).length, 6);
});

Deno.test("recycle (worker-calls-client): workers replaced at their request budget, one at a time", async () => {
  await scenario({ name: "recycle", stage: "worker-calls-client" });
});

Deno.test("one-for-all (relay): a worker's crash restarts every role, which then serve", async () => {
  await scenario({ name: "strategy", stage: "relay" });
});

// --max-rss: checked at every tick from /proc; a worker above it is drained, never killed in the
// middle of a request. A bound of 1 MiB puts every worker above it: they are recycled in turn.
Deno.test("--max-rss recycles a worker above it gracefully, one at a time; every request answered", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({
    stage: "relay",
    workers: 2,
    maxRssMiB: 1,
    tracePath: `${dir}/trace.jsonl`,
    logLevel: "error",
  });
  const load = new LoadGenerator(system.port, 4);
  try {
    const recycled = () =>
      system.trace().filter((e) =>
        e.role === "watchdog" && e.event === "drain" && /resident memory \d+ MiB > --max-rss 1/
          .test(e.detail ?? "")
      ).length;
    await waitUntil("3 workers recycled for their memory", () => recycled() >= 3, 20_000);
    const records = await load.stop();
    assert.ok(records.length > 0);
    assert.deepEqual(records.filter((r) => r.got !== expectedAnswer(r.line)), []);
  } finally {
    await load.stop();
    const stop = await system.stop();
    assert.ok(isClean(stop.leftovers), JSON.stringify(stop.leftovers));
    Deno.removeSync(dir, { recursive: true });
  }
});
