import assert from "node:assert/strict";
import {
  callLine,
  drainLine,
  isServerLine,
  orderLine,
  parseAnswer,
  parseCall,
  parseHandoff,
  parseOrder,
  parseReady,
  parseStage,
  pipeAnswerLine,
  readyLine,
  redirectLine,
  STAGE_NAMES,
  STAGES,
  waitLine,
} from "./stages.ts";

Deno.test("each stage hands a request on in exactly one way, and the client can tell which", () => {
  for (const [stage, flow] of Object.entries(STAGES)) {
    const handoffs = [flow.finalReply, flow.waitBefore, flow.redirectAfter].filter(Boolean);
    assert.equal(handoffs.length, 1, `${stage}: one of final reply, WAIT, REDIRECT`);
    // Who listens follows from the handoff: the client for a call back, the worker for a redirect.
    assert.equal(flow.clientListens, flow.waitBefore, stage);
    assert.equal(flow.workerListens, flow.redirectAfter, stage);
  }
  assert.equal(STAGES.relay.order, "job");
  assert.equal(STAGES["worker-calls-client"].order, "call");
  assert.equal(STAGES["client-calls-worker"].order, "claim");
  assert.deepEqual(parseHandoff(redirectLine("10.0.0.2", 2223)), {
    kind: "redirect",
    host: "10.0.0.2",
    port: 2223,
  });
  assert.deepEqual(parseHandoff(waitLine("p12r7")), { kind: "wait", token: "p12r7" });
  for (
    const final of [
      "OK 25",
      "OK",
      "ERR busy all 3 workers busy",
      "REDIRECT x",
      "WAIT a b",
      "REDIRECT 127.0.0.1 0",
      "REDIRECT 127.0.0.1 65536",
    ]
  ) {
    assert.equal(parseHandoff(final), null, final);
  }
});

Deno.test("the pipe messages read back as written; anything else is not one", () => {
  for (const kind of ["job", "claim", "call"] as const) {
    assert.deepEqual(parseOrder(orderLine(kind, 2 ** 40 + 3)), { kind, id: 2 ** 40 + 3 });
  }
  assert.deepEqual(parseOrder(drainLine(7)), { kind: "drain", generation: 7 });
  assert.deepEqual(parseAnswer(pipeAnswerLine("free", 9, "served")), { kind: "free", id: 9 });
  assert.deepEqual(parseAnswer(pipeAnswerLine("done", 9)), { kind: "done", id: 9 });
  for (const bad of ["job", "job x", "job 1 2", "jobs 1", " job 1", "JOB 1", "drain", "drain x"]) {
    assert.equal(parseOrder(bad), null, bad);
  }
  for (const bad of ["done", "done 1x", "finished 1", ""]) {
    assert.equal(parseAnswer(bad), null, bad);
  }
  assert.equal(parseReady(readyLine("abc123")), "abc123");
  assert.equal(parseReady("READY a-b"), null);
  assert.equal(parseReady(`READY ${"x".repeat(33)}`), null);
  const call = callLine("t1", "127.0.0.1", 40000, "requetetype1 a b  c");
  assert.deepEqual(parseCall(call), {
    token: "t1",
    host: "127.0.0.1",
    port: 40000,
    request: "requetetype1 a b  c",
  });
  assert.equal(parseCall("t1 127.0.0.1 port requetetype1"), null);
});

Deno.test("stage names: the three, and ideal for client-calls-worker", () => {
  for (const name of STAGE_NAMES) assert.ok(parseStage(name) !== null, name);
  assert.equal(parseStage("ideal"), "client-calls-worker");
  assert.equal(parseStage("Relay"), null);
});

Deno.test("the lines a server may send, and only those", () => {
  for (
    const line of [
      "OK",
      "OK 42",
      "ERR busy the queue is full",
      "ERR shutting-down",
      "REDIRECT 127.0.0.1 4000",
      "WAIT abc123",
      "READY abc123",
    ]
  ) assert.ok(isServerLine(line), line);
  for (
    const line of ["OKAY", "ERR nonsense x", "ERR", "REDIRECT host", "WAIT", "WAIT a-b", "hello"]
  ) assert.ok(!isServerLine(line), line);
});
