import assert from "node:assert/strict";
import { observeAddress } from "./address.ts";

Deno.test("--observe: a port alone is on loopback; a host may be named; nothing else passes", () => {
  assert.deepEqual(observeAddress("8222"), { hostname: "127.0.0.1", port: 8222 });
  assert.deepEqual(observeAddress("0.0.0.0:8222"), { hostname: "0.0.0.0", port: 8222 });
  assert.deepEqual(observeAddress("[::1]:0"), { hostname: "::1", port: 0 });
  assert.deepEqual(observeAddress("localhost:9000"), { hostname: "localhost", port: 9000 });
  for (const bad of ["", "host:", ":80", "70000", "a b:80", "http://x:80", "8222/"]) {
    assert.throws(() => observeAddress(bad), /--observe/, bad);
  }
});
