import assert from "node:assert/strict";
import { flags, intOption, NUMBER_OPTIONS, numberOption, UsageError } from "./options.ts";

Deno.test("a whole-number option: its default when absent, its range enforced, nothing else", () => {
  assert.equal(numberOption("workers", undefined), 3);
  assert.equal(numberOption("workers", "64"), 64);
  for (const bad of ["0", "65", "-1", "3.5", "1e2", " 3", "", "three"]) {
    assert.throws(() => numberOption("workers", bad), UsageError, bad);
  }
  assert.throws(() => intOption("worker", undefined, undefined, 1, 9), /--worker must be/);
  for (const [name, { min, max, fallback }] of Object.entries(NUMBER_OPTIONS)) {
    assert.ok(min <= fallback && fallback <= max, name);
  }
});

Deno.test("flags: one pair per option that has a value, in order", () => {
  assert.deepEqual(flags({ a: 1, b: undefined, c: "", d: "x y" }), [
    "--a",
    "1",
    "--c",
    "",
    "--d",
    "x y",
  ]);
});
