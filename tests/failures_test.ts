import assert from "node:assert/strict";
import { sendSignal } from "../ipc/mod.ts";
import {
  type FailureOptions,
  type FailureReport,
  processesMentioning,
  runFailureScenario,
} from "../scenarios/mod.ts";
import { cliCommand, killAndReap, waitUntil } from "./helpers.ts";

/** Runs a failure scenario with its trace in a temporary folder; asserts every check passed. */
async function scenario(options: Omit<FailureOptions, "outDir">): Promise<FailureReport> {
  const outDir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runFailureScenario({ ...options, outDir });
    const failed = report.checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.detail}`);
    assert.deepEqual(failed, [], `${options.name} (${options.stage}) failed checks`);
    assert.ok(report.passed);
    assert.ok(report.timeline.length > 0, "the timeline shows the watchdog's reaction");
    return report;
  } finally {
    Deno.removeSync(outDir, { recursive: true });
  }
}

for (const stage of ["relay", "worker-calls-client", "client-calls-worker"] as const) {
  Deno.test(`worker-crash (${stage}): seen at once, restarted, every request answered right`, async () => {
    const r = await scenario({ name: "worker-crash", stage });
    assert.ok(r.detectionMs !== null && r.servedAgainMs !== null);
    assert.ok(r.timeline.some((l) => /watchdog\s+exit\s+→ worker 1 .*SIGKILL/.test(l)));
    assert.ok(r.timeline.some((l) => /watchdog\s+restart\s+→ worker 1/.test(l)));
  });
}

Deno.test("worker-freeze (relay): a SIGSTOPped worker is caught by its heartbeat, killed, restarted", async () => {
  const r = await scenario({ name: "worker-freeze", stage: "relay", heartbeatTimeoutMs: 600 });
  assert.ok(
    r.timeline.some((l) => /watchdog\s+frozen\s+→ worker 1 .*heartbeat \d+ ms old/.test(l)),
  );
  assert.ok(
    r.timeline.some((l) => /watchdog\s+kill\s+→ worker 1 .*SIGKILL/.test(l)),
    "SIGTERM cannot stop it: SIGKILL",
  );
});

Deno.test("dispatcher-crash (worker-calls-client): restarted, workers untouched, clients reconnect", async () => {
  await scenario({ name: "dispatcher-crash", stage: "worker-calls-client" });
});

Deno.test("watchdog-crash (client-calls-worker): no orphan within 1 s, the next start cleans up", async () => {
  const r = await scenario({ name: "watchdog-crash", stage: "client-calls-worker" });
  assert.ok(r.detectionMs !== null && r.detectionMs < 1000);
});

Deno.test("crash-loop (relay): growing delays, 5 restarts, then failed; the others serve", async () => {
  const r = await scenario({ name: "crash-loop", stage: "relay" });
  const restarts = r.timeline.filter((l) => /watchdog\s+restart\s+→ worker 2/.test(l)).length;
  assert.equal(restarts, 5);
  assert.ok(r.timeline.some((l) => /watchdog\s+failed\s+→ worker 2/.test(l)));
});

Deno.test("scenario CLI: Ctrl-C during a failure scenario says interrupted, exits 130, leaves nothing", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const cli = cliCommand(["scenario", "worker-freeze", "--stage", "relay", "--out", out]).spawn();
  try {
    // Interrupted while the watchdog has not seen the freeze yet (it takes the 1 s timeout).
    await waitUntil("the injected freeze", () => {
      try {
        return Deno.readTextFileSync(`${out}/trace.jsonl`).includes('"inject SIGSTOP"');
      } catch (e) {
        // Not written yet.
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      }
    }, 15_000);
    sendSignal(cli.pid, "SIGINT");
    const o = await cli.output();
    const text = new TextDecoder().decode(o.stdout);
    assert.equal(o.code, 130, text);
    assert.match(text, /^result: interrupted; everything was stopped and removed$/m);
    assert.doesNotMatch(text, /FAIL|undefined/);
    assert.deepEqual(processesMentioning(`/osps-t${cli.pid}-`), []);
  } finally {
    await killAndReap(cli);
    Deno.removeSync(out, { recursive: true });
  }
});

Deno.test("scenario CLI: ERR busy is back-pressure, counted as such, not a wrong answer", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const o = await cliCommand(
      ["scenario", "relay", "--clients", "12", "--requests", "4", "--workers", "1"]
        .concat(["--queue-limit", "0", "--out", out]),
    ).output();
    const text = new TextDecoder().decode(o.stdout);
    assert.equal(o.code, 0, text);
    const busy = /^ {2}ERR busy (\d+): back-pressure/m.exec(text);
    assert.ok(busy !== null && Number(busy[1]) > 0, text);
    assert.doesNotMatch(text, /WRONG/);
    assert.match(text, /^result: OK$/m);
  } finally {
    Deno.removeSync(out, { recursive: true });
  }
});
