import assert from "node:assert/strict";
import { ascending, quantile } from "./quantile.ts";

Deno.test("quantiles by the nearest rank", () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
  assert.equal(quantile([1, 2, 3, 4], 0.99), 4);
  assert.equal(quantile([1, 2, 3, 4], 0.25), 1);
  const hundred = ascending(Array.from({ length: 100 }, (_, i) => 100 - i));
  assert.equal(quantile(hundred, 0.5), 50);
  assert.equal(quantile(hundred, 0.99), 99);
  assert.equal(quantile(hundred, 1), 100);
  assert.equal(quantile([7], 0.01), 7);
  assert.equal(quantile([], 0.5), 0);
  assert.ok(Number.isNaN(quantile([], 0.5, NaN)));
});
