// A client's listener for its workers' calls (worker-calls-client), on real sockets: a call that
// comes just as its request is given up is handed over, never left open; one that comes after is
// closed at once (its worker would otherwise wait for a line for its whole claim timeout).
import assert from "node:assert/strict";
import { CallListener } from "../roles/client_calls.ts";
import { TcpLineReader } from "../roles/tcp.ts";
import { waitUntil } from "./helpers.ts";

/** A worker's call: connects, says READY, and returns the connection. */
async function call(port: number, token: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(`READY ${token}\n`));
  return conn;
}

Deno.test("a call that came as its request was given up is handed over; a later one is closed", async () => {
  const calls = new CallListener("test client", 5000);
  const workers: Deno.Conn[] = [];
  try {
    // The call comes while the request waits; the caller stops waiting in the same instant.
    const first = calls.wait("p1r1");
    let delivered = false;
    first.conn.then(() => delivered = true);
    workers.push(await call(calls.port, "p1r1"));
    await waitUntil("the call handed to the waiting request", () => delivered, 3000);
    const taken = first.cancel();
    assert.ok(taken, "the call that came is handed over, not dropped");
    // The request goes to the worker that called.
    await taken.write(new TextEncoder().encode("requetetype1 hi\n"));
    const got = await new TcpLineReader(workers[0]).next(3000);
    assert.equal(got.kind === "line" && new TextDecoder().decode(got.bytes), "requetetype1 hi");
    taken.close();
    // Given up before any call: the call that comes later is closed at once.
    const second = calls.wait("p1r2");
    assert.equal(second.cancel(), null);
    workers.push(await call(calls.port, "p1r2"));
    const t = performance.now();
    const read = await new TcpLineReader(workers[1]).next(3000);
    assert.equal(read.kind, "eof", "the worker sees its call closed");
    assert.ok(performance.now() - t < 1000, "at once, not after a timeout");
  } finally {
    for (const w of workers) w.close();
    await calls.close();
  }
});

Deno.test("a call that comes before its request waits is kept for it a moment, then closed", async () => {
  const calls = new CallListener("test client", 5000);
  const workers: Deno.Conn[] = [];
  try {
    // The worker's call can come before the client has read its WAIT: it is kept for it.
    workers.push(await call(calls.port, "p2r1"));
    await waitUntil("the early call kept", () => calls.unclaimed === 1, 3000);
    const early = await calls.wait("p2r1").conn;
    assert.ok(early, "the early call is handed to the request that waits for it");
    early.close();
    // A call for a WAIT that never reached the client is closed, not kept for the whole run.
    workers.push(await call(calls.port, "p2r9"));
    await waitUntil("the unclaimed call kept", () => calls.unclaimed === 1, 3000);
    const read = await new TcpLineReader(workers[1]).next(5000);
    assert.equal(read.kind, "eof", "an unclaimed call is closed");
    assert.equal(calls.unclaimed, 0);
  } finally {
    for (const w of workers) w.close();
    await calls.close();
  }
});
