import assert from "node:assert/strict";
import { recycleReason, requestBudget } from "./recycle.ts";

const limits = { maxRequests: 500, jitter: 50, maxRssMiB: 0 };

Deno.test("a worker's request budget is N ± J, uniformly, at least 1; 0 when off", () => {
  assert.equal(requestBudget(limits, () => 0), 450);
  assert.equal(requestBudget(limits, () => 0.5), 500);
  assert.equal(requestBudget(limits, () => 0.999999), 550);
  assert.equal(requestBudget({ ...limits, maxRequests: 10, jitter: 50 }, () => 0), 1);
  assert.equal(requestBudget({ ...limits, maxRequests: 0 }), 0);
  // Workers started together are not recycled together.
  const budgets = new Set(Array.from({ length: 50 }, () => requestBudget(limits)));
  assert.ok(budgets.size > 10, `${budgets.size} distinct budgets`);
});

Deno.test("a worker is due at its budget, or above its memory bound; not before", () => {
  assert.equal(recycleReason(limits, 499, 500, null), null);
  assert.match(recycleReason(limits, 500, 500, null)!, /served 500 requests \(its budget 500\)/);
  assert.equal(recycleReason(limits, 10_000, 0, null), null, "budget 0: never by requests");
  const rss = { ...limits, maxRssMiB: 100 };
  assert.equal(recycleReason(rss, 0, 0, 100 * 1024), null);
  assert.match(recycleReason(rss, 0, 0, 150 * 1024)!, /resident memory 150 MiB > --max-rss 100/);
  assert.equal(recycleReason(rss, 0, 0, null), null, "a process already gone");
});
