import assert from "node:assert/strict";
import { countPrimes, parseLine } from "./protocol.ts";

Deno.test("countPrimes agrees with trial division, across the sieve's blocks and its growth", () => {
  const isPrime = (n: number) => {
    if (n < 2) return false;
    for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
    return true;
  };
  let count = 0;
  for (let n = 0; n <= 5000; n++) {
    if (isPrime(n)) count++;
    assert.equal(countPrimes(n), count, `n = ${n}`);
  }
  assert.equal(countPrimes(100_000), 9592);
  assert.equal(countPrimes(20_000), 2262);
  assert.equal(countPrimes(10_000_000), 664_579);
  assert.throws(() => countPrimes(10_000_001), RangeError);
  assert.throws(() => countPrimes(-1), RangeError);
});

Deno.test("parseLine: requests, QUIT, LISTEN and the specified errors", () => {
  assert.deepEqual(parseLine("requetetype1  a b"), {
    kind: "request",
    request: { type: "requetetype1", payload: " a b", line: "requetetype1  a b" },
  });
  assert.equal(parseLine("requetetype2 007").kind, "request");
  assert.deepEqual(parseLine("QUIT"), { kind: "quit" });
  assert.deepEqual(parseLine("LISTEN 8080"), { kind: "listen", port: 8080 });
  for (const bad of ["requetetype2 -1", "requetetype2 10000001", "requetetype2 1e3", "LISTEN 0"]) {
    const p = parseLine(bad);
    assert.ok(p.kind === "error" && p.code === "bad-argument", bad);
  }
  for (const unknown of ["", "hello", "quit"]) {
    const p = parseLine(unknown);
    assert.ok(p.kind === "error" && p.code === "unknown-request", unknown);
  }
});
