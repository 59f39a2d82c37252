import assert from "node:assert/strict";
import { afterFailure, MAX_ATTEMPTS, meaningOf } from "./decide.ts";

const request = (over: Partial<{ replied: boolean; calling: boolean; attempts: number }> = {}) => ({
  replied: false,
  calling: false,
  attempts: 1,
  ...over,
});
const relay = { redirectAfter: false }, ideal = { redirectAfter: true };

Deno.test("a failed attempt is retried once on another worker, then unavailable", () => {
  assert.equal(afterFailure(request(), relay, false), "retry");
  assert.equal(afterFailure(request({ attempts: MAX_ATTEMPTS }), relay, false), "unavailable");
});

Deno.test("no retry once the client may have its answer, nor while stopping", () => {
  assert.equal(afterFailure(request({ replied: true }), ideal, false), "replied");
  // In relay a reply is sent only with the result: a failed attempt has none yet.
  assert.equal(afterFailure(request({ replied: true }), relay, false), "retry");
  assert.equal(afterFailure(request({ calling: true }), relay, false), "not retried");
  assert.equal(afterFailure(request({ calling: true }), relay, true), "not retried");
  assert.equal(afterFailure(request(), relay, true), "shutting down");
});

Deno.test("an answer counts only for the request its worker holds", () => {
  assert.equal(meaningOf({ kind: "done", id: 7 }, { id: 7 }), "done");
  assert.equal(meaningOf({ kind: "calling", id: 7 }, { id: 7 }), "calling");
  assert.equal(meaningOf({ kind: "done", id: 6 }, { id: 7 }), "stale");
  assert.equal(meaningOf({ kind: "free", id: 7 }, null), "stale");
  assert.equal(meaningOf(null, { id: 7 }), "stale");
});
