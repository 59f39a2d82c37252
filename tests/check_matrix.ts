// `deno task test:check` (CI runs it; tests/check_test.ts is its short version in the suite):
// check passes the plain Python implementation and osps in every stage, flags each broken
// variant in its own group and in no other, and gives a bounded, clear verdict for the worse
// kinds of bad input, leaving nothing of any of them.
import assert from "node:assert/strict";
import { checkStage, GROUPS, referenceCommand } from "../check/mod.ts";
import type { Stage } from "../roles/mod.ts";
import {
  assertNothingLeft,
  failedChecks,
  failedGroups,
  pythonCommand,
  shownReport,
  smallCheck,
} from "./check/helpers.ts";

const STAGES: Stage[] = ["relay", "client-calls-worker", "worker-calls-client"];

for (const stage of STAGES) {
  Deno.test(`check ${stage}: the plain Python implementation passes every check`, async () => {
    const r = await smallCheck(stage, pythonCommand());
    assert.deepEqual(failedChecks(r), [], shownReport(r));
    assert.equal(r.checks.filter((c) => c.verdict === "skip").length, 0);
    assertNothingLeft(`osps-py-${r.port}`);
  });
  Deno.test(`check ${stage}: osps passes every check of its own`, async () => {
    const r = await smallCheck(stage, referenceCommand());
    assert.deepEqual(failedChecks(r), [], shownReport(r));
    for (const g of GROUPS) assert.ok(r.checks.some((c) => c.group === g && c.verdict === "pass"));
    assertNothingLeft(`check-${r.port}`);
  });
}

// Each variant, where it is wrong, and the check that must catch it.
const VARIANTS: [string, Stage, string, RegExp][] = [
  ["leave-zombie", "client-calls-worker", "cleanup", /^every child reaped$/],
  ["leave-ipc", "worker-calls-client", "cleanup", /^nothing left behind/],
  ["lose-inflight", "relay", "faults", /^SIGKILL of a worker holding requests: .*nothing lost$/],
  ["wrong-primes", "relay", "load", /^every answer right$/],
  ["orphan-workers", "relay", "faults", /^SIGKILL of the supervisor: no orphan/],
  ["no-restart", "relay", "faults", /^SIGKILL of a worker holding requests: restarted/],
];

for (const [broken, stage, group, check] of VARIANTS) {
  Deno.test(`check ${stage}: --broken ${broken} is flagged by ${group} and by nothing else`, async () => {
    const r = await smallCheck(stage, pythonCommand(broken));
    assert.deepEqual(failedGroups(r), [group], shownReport(r));
    assert.ok(failedChecks(r).some((name) => check.test(name)), shownReport(r));
    assertNothingLeft(`osps-py-${r.port}`);
  });
}

const STUB = new URL("./fixtures/stub_server.py", import.meta.url).pathname;

Deno.test("check: an HTTP server fails the contract, in bounded time, and is stopped", async () => {
  const t0 = performance.now();
  const r = await smallCheck("relay", [
    "python3",
    "-m",
    "http.server",
    "{port}",
    "--bind",
    "127.0.0.1",
  ]);
  assert.ok(performance.now() - t0 < 90_000);
  const echo = r.checks.find((c) => c.name === "echo")!;
  assert.equal(echo.verdict, "fail");
  // Two words are an HTTP/0.9 request to it: an error page, no status line.
  assert.match(echo.detail, /expected "OK hello", got "(<!DOCTYPE HTML>|HTTP\/1\.\d 400)/);
  assert.deepEqual(
    ["load", "faults"].map((g) => r.checks.find((c) => c.group === g)?.verdict),
    ["skip", "skip"],
  );
  assert.equal(r.checks.find((c) => c.name === "2 worker processes")?.verdict, "fail");
  assertNothingLeft("http.server");
});

Deno.test("check: a server that ignores SIGTERM fails the stop's bound, and is killed", async () => {
  const r = await smallCheck("relay", ["python3", STUB, "{port}", "--ignore-term"], {
    stopBoundMs: 2000,
  });
  const stop = r.checks.find((c) => c.group === "cleanup")!;
  assert.equal(stop.name, "stops on SIGTERM within 2 s");
  assert.equal(stop.verdict, "fail");
  assert.equal(stop.detail, "still running after 2 s");
  assert.equal(r.checks.find((c) => c.name === "exit status 0")?.detail, "killed (1 process)");
  assertNothingLeft("python3");
});

Deno.test("check: a server that goes into the background is said to, followed, stopped", async () => {
  const r = await checkStage({
    stage: "relay",
    command: ["python3", STUB, "{port}", "--daemon"],
    workers: 2,
    clients: 2,
    warmup: 10,
    requests: 50,
    recoveryBoundMs: 2000,
  });
  const foreground = r.checks.find((c) => c.name === "runs in the foreground")!;
  assert.equal(foreground.verdict, "fail");
  assert.match(
    foreground.detail,
    /its first process ended \(exited with code 0\) while its processes run on/,
  );
  assert.equal(r.checks.find((c) => c.name.startsWith("stops on SIGTERM"))?.verdict, "pass");
  assert.match(
    r.checks.find((c) => c.name === "exit status 0")!.detail,
    /had exited with code 0 before/,
  );
  assert.equal(r.checks.find((c) => c.name === "no process left running")?.verdict, "pass");
  assertNothingLeft("python3");
});
