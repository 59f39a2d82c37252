import assert from "node:assert/strict";
import { LISTEN_FIRST, OspsClient } from "../roles/mod.ts";
import { RawConn } from "./helpers.ts";

/**
 * A scripted dispatcher on a real socket: each accepted connection gets the next script, a
 * function of the lines it receives. For client behaviours a real system only shows by chance.
 */
function fakeDispatcher(
  scripts: ((c: RawConn) => Promise<void>)[],
): { port: number; done: Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    for (const script of scripts) {
      using c = RawConn.wrap(await listener.accept());
      await script(c);
    }
    listener.close();
  })();
  return { port: listener.addr.port, done };
}

Deno.test("worker-calls-client: a dispatcher that dies after WAIT, before any worker calls, gets the request again", async () => {
  const fake = fakeDispatcher([
    async (c) => {
      // A client that does not know the stage learns it from the dispatcher's answer.
      assert.equal(await c.line(), "requetetype1 once");
      await c.send(`${LISTEN_FIRST}\n`);
    },
    async (c) => {
      assert.match(await c.line() ?? "", /^LISTEN \d+$/);
      await c.send("OK\n");
      assert.equal(await c.line(), "requetetype1 once");
      await c.send("WAIT p1r1\n"); // …and the dispatcher dies: no worker was told to call.
    },
    async (c) => {
      assert.match(await c.line() ?? "", /^LISTEN \d+$/);
      await c.send("OK\n");
      assert.equal(await c.line(), "requetetype1 once", "the same request, sent again");
      await c.send("ERR busy answered by the new dispatcher\n");
      assert.equal(await c.line(), "QUIT");
    },
  ]);
  const client = await OspsClient.connect({
    port: fake.port,
    backoffMs: 10,
    readyTimeoutMs: 10_000,
  });
  const t = performance.now();
  const r = await client.request("requetetype1 once");
  assert.ok(
    performance.now() - t < 5000,
    "noticed the dispatcher's death, did not wait out the READY timeout",
  );
  assert.deepEqual(r, {
    ok: false,
    code: "busy",
    message: "answered by the new dispatcher",
    via: "dispatcher",
    retries: 1,
  });
  await client.close();
  await fake.done;
});

Deno.test("client-calls-worker: a REDIRECT to a worker that is gone is asked again through the dispatcher", async () => {
  const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = gone.addr.port;
  gone.close();
  const fake = fakeDispatcher([
    async (c) => {
      // No LISTEN outside worker-calls-client: the first line is the request.
      assert.equal(await c.line(), "requetetype2 10");
      await c.send(`REDIRECT 127.0.0.1 ${deadPort}\n`);
      assert.equal(await c.line(), "requetetype2 10", "asked again after the worker refused");
      await c.send("OK 4\n");
      assert.equal(await c.line(), "QUIT");
    },
  ]);
  await using client = await OspsClient.connect({ port: fake.port, backoffMs: 10 });
  assert.deepEqual(await client.request("requetetype2 10"), {
    ok: true,
    result: "4",
    via: "dispatcher",
    retries: 1,
  });
  await client.close();
  await fake.done;
});

Deno.test("a client told the stage announces LISTEN at once; a server of another protocol is named", async () => {
  const fake = fakeDispatcher([
    async (c) => {
      assert.match(await c.line() ?? "", /^LISTEN \d+$/);
      await c.send("OK\n");
      assert.equal(await c.line(), "requetetype1 x");
      await c.send("ERR busy try later\n");
      assert.equal(await c.line(), "QUIT");
    },
    async (c) => {
      assert.equal(await c.line(), "requetetype1 y");
      await c.send("<!DOCTYPE HTML>\n");
    },
  ]);
  const wcc = await OspsClient.connect({ port: fake.port, stage: "worker-calls-client" });
  assert.equal((await wcc.request("requetetype1 x")).ok, false);
  await wcc.close();
  await using other = await OspsClient.connect({ port: fake.port, retries: 0 });
  const r = await other.request("requetetype1 y");
  assert.ok(!r.ok && r.code === "protocol", JSON.stringify(r));
  assert.match(r.message, /not an osps reply .*DOCTYPE/);
  await fake.done;
});
