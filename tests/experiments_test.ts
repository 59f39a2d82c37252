import assert from "node:assert/strict";
import { sendSignal, SharedSegment } from "../ipc/mod.ts";
import {
  EXPERIMENTS,
  experimentTraces,
  newTraces,
  processesMentioning,
  runExperiment,
} from "../scenarios/mod.ts";
import { cliCommand, killAndReap, waitUntil } from "./helpers.ts";

for (const language of ["deno", "python"] as const) {
  for (const name of EXPERIMENTS) {
    Deno.test(`experiment ${name} (${language}): every observation holds, and it leaves nothing`, async () => {
      const before = experimentTraces();
      const report = await runExperiment(name, { language });
      const failed = report.observations.filter((o) => !o.ok).map((o) => `${o.what}: ${o.seen}`);
      assert.deepEqual(failed, []);
      assert.ok(report.observations.length > 0 && report.passed);
      assert.equal(report.language, language);
      assert.deepEqual(newTraces(before, experimentTraces()), []);
    });
  }
}

Deno.test("an experiment past its time bound says at which step, and leaves nothing", async () => {
  const before = experimentTraces();
  const report = await runExperiment("frozen-pipe", { timeoutMs: 1500 });
  assert.equal(report.passed, false);
  assert.match(report.observations.at(-1)!.seen, /passed its 1500 ms bound at step: .+/);
  assert.deepEqual(newTraces(before, experimentTraces()), []);
});

Deno.test("an experiment stopped by SIGTERM half-way kills, reaps and removes what it started", async () => {
  const before = experimentTraces();
  const cli = cliCommand(["experiment", "frozen-pipe"]).spawn();
  try {
    // Half-way: its first system is up (its watchdog and roles carry the instance's name).
    const instance = `t${cli.pid}-`;
    await waitUntil(
      "the experiment's system",
      () => processesMentioning(instance).length >= 3,
      15_000,
    );
    sendSignal(cli.pid, "SIGTERM");
    const out = await cli.output();
    assert.equal(out.code, 130, "an interrupted run exits 130");
    assert.match(
      new TextDecoder().decode(out.stdout),
      /result: interrupted \(interrupted by SIGTERM\); cleaned up/,
    );
    assert.deepEqual(processesMentioning(instance), [], "no process of its system is left");
    const after = experimentTraces();
    assert.deepEqual(after.dirs.filter((d) => !before.dirs.includes(d)), [], "no directory left");
    assert.deepEqual(SharedSegment.list(`/osps-${instance}`), [], "no segment left");
  } finally {
    await killAndReap(cli);
  }
});
