import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { intOption, SYSTEM_OPTIONS, type SystemOption, UsageError } from "./options.ts";
import {
  flags,
  optionArgs,
  optionFlags,
  optionHelp,
  optionValue,
  optionValues,
} from "./option_flags.ts";

const KEYS = Object.keys(SYSTEM_OPTIONS) as SystemOption[];

Deno.test("a whole-number option: its default when absent, its range enforced, nothing else", () => {
  assert.equal(optionValue("workers", undefined), 3);
  assert.equal(optionValue("workers", "64"), 64);
  for (const bad of ["0", "65", "-1", "3.5", "1e2", " 3", "", "three"]) {
    assert.throws(() => optionValue("workers", bad), UsageError, bad);
  }
  assert.throws(() => optionValue("strategy", "all-for-one"), /--strategy must be one of/);
  assert.throws(() => intOption("worker", undefined, undefined, 1, 9), /--worker must be/);
});

Deno.test("every option of the table: its default reads back as itself, its help says it", () => {
  const help = optionHelp(KEYS);
  for (const key of KEYS) {
    const spec = SYSTEM_OPTIONS[key];
    const text = (spec.format as (v: unknown) => string | undefined)(spec.fallback);
    if (!spec.isSwitch) {
      assert.deepEqual(optionValue(key, text), spec.fallback, key);
      assert.match(help, new RegExp(`--${spec.flag} ${spec.arg}`), key);
    } else {
      assert.match(help, new RegExp(`--no-${spec.flag}`), key);
    }
  }
});

Deno.test("a command line written from the table parses back to the same values", () => {
  const values = {
    stage: "relay" as const,
    workers: 7,
    host: "0.0.0.0",
    port: 0,
    advertise: "example.org",
    queueLimit: 0,
    strategy: "one-for-all" as const,
    maxRssMiB: 300,
    trace: "/tmp/a b.jsonl",
    logLevel: "info",
    standby: false,
  };
  const args = optionArgs(values, KEYS);
  assert.ok(args.includes("--no-standby"));
  const parsed = parseArgs({ args, options: optionFlags(KEYS), allowNegative: true, strict: true });
  const back = optionValues(KEYS, parsed.values as Record<string, string | boolean>);
  assert.deepEqual(back, { ...optionValues(KEYS, {}), ...values });
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
