import assert from "node:assert/strict";
import { BeatRecord } from "../liveness.ts";
import { type JudgedRole, judgeRole, KILL_GRACE_MS, type Observation } from "./judge.ts";
import { RestartPolicy } from "./policy.ts";

const TIMEOUT = 1000;

/** A role started at `startedAt` in `state`, as the supervisor records it. */
function role(state: JudgedRole["state"], startedAt = 0): JudgedRole {
  return {
    state,
    killing: null,
    beats: new BeatRecord(startedAt),
    stoppedSince: null,
    startedAt,
    policy: new RestartPolicy({ maxRestarts: 5, windowMs: 60_000 }),
  };
}

/** What the supervisor would read: a heartbeat and a process state, set by the test. */
function seen(heartbeat: number, stopped = false): Observation {
  return { heartbeat: () => heartbeat, stopped: () => stopped };
}

Deno.test("a running role is alive while its heartbeat is at most the timeout old", () => {
  const r = role("running");
  assert.deepEqual(judgeRole(r, seen(500), 1500, TIMEOUT), { act: "none" });
  assert.deepEqual(judgeRole(r, seen(500), 1501, TIMEOUT), {
    act: "kill",
    why: "heartbeat 1001 ms old",
  });
});

Deno.test("an implausible heartbeat (from the future, or before the process) is not heard", () => {
  const r = role("running", 1000);
  // Garbage written into the slot: far in the future. The process's start counts as its beat.
  assert.deepEqual(judgeRole(r, seen(9e12), 1900, TIMEOUT), { act: "none" });
  assert.equal(judgeRole(r, seen(9e12), 2001, TIMEOUT).act, "kill");
  const older = role("running", 1000);
  assert.equal(judgeRole(older, seen(900), 2001, TIMEOUT).act, "kill", "a predecessor's beat");
});

Deno.test("a starting role stopped by a signal is frozen once stopped longer than the timeout", () => {
  const r = role("starting");
  assert.deepEqual(judgeRole(r, seen(0, true), 100, TIMEOUT), { act: "none" });
  assert.equal(r.stoppedSince, 100);
  assert.deepEqual(judgeRole(r, seen(0, true), 1100, TIMEOUT), { act: "none" });
  assert.deepEqual(judgeRole(r, seen(0, true), 1101, TIMEOUT), {
    act: "kill",
    why: "stopped by a signal while it starts",
  });
  // Continued meanwhile: the count starts again at its next stop.
  const s = role("starting");
  judgeRole(s, seen(0, true), 100, TIMEOUT);
  judgeRole(s, seen(0, false), 600, TIMEOUT);
  assert.equal(s.stoppedSince, null);
  assert.deepEqual(judgeRole(s, seen(0, true), 1200, TIMEOUT), { act: "none" });
});

Deno.test("a kill escalates to SIGKILL once, after the grace; other states are left alone", () => {
  const r = role("running");
  r.killing = { since: 5000, hard: false };
  assert.deepEqual(judgeRole(r, seen(0), 5000 + KILL_GRACE_MS, TIMEOUT), { act: "none" });
  assert.deepEqual(judgeRole(r, seen(0), 5001 + KILL_GRACE_MS, TIMEOUT), { act: "escalate" });
  assert.equal(r.killing.hard, true);
  assert.deepEqual(judgeRole(r, seen(0), 9000, TIMEOUT), { act: "none" }, "once");
  for (const state of ["backoff", "failed", "stopped"] as const) {
    assert.deepEqual(judgeRole(role(state), seen(0, true), 1e6, TIMEOUT), { act: "none" }, state);
  }
});

Deno.test("a role that has run longer than the restart window has its restarts forgotten", () => {
  const r = role("running");
  r.policy.afterExit({ code: 1, booting: false }, 0);
  r.policy.afterExit({ code: 1, booting: false }, 10);
  const restartsBefore = r.policy.afterExit({ code: 1, booting: false }, 20);
  judgeRole(r, seen(60_500), 60_600, TIMEOUT);
  const after = r.policy.afterExit({ code: 1, booting: false }, 60_700);
  assert.ok(restartsBefore.kind === "restart" && after.kind === "restart");
  assert.ok(after.restarts < restartsBefore.restarts, JSON.stringify({ restartsBefore, after }));
});
