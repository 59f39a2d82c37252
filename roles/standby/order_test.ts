import assert from "node:assert/strict";
import { UsageError } from "../options.ts";
import { parseStandbyOrder, type StandbyOrder, standbyOrderLine } from "./order.ts";

Deno.test("a standby's order: one line of JSON there and back; anything else refused", () => {
  const order: StandbyOrder = { program: "worker", args: ["--worker", "2", "--trace", 'a "b"\nc'] };
  const line = standbyOrderLine(order);
  assert.equal(line.indexOf("\n"), line.length - 1, "one line, whatever the arguments hold");
  assert.deepEqual(parseStandbyOrder(line.trimEnd()), order);
  for (
    const bad of [
      "",
      "null",
      "requetetype1 hello",
      '{"program":"watchdog","args":[]}',
      '{"program":"worker"}',
      '{"program":"worker","args":[2]}',
      '{"program":"toString","args":[]}',
    ]
  ) {
    assert.throws(() => parseStandbyOrder(bad), UsageError, bad);
  }
});
