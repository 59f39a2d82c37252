import assert from "node:assert/strict";
import { OspsClient, type Stage } from "../roles/mod.ts";
import {
  isClean,
  type RunningSystem,
  runStageScenario,
  stageScenarioPassed,
  startSystem,
  type SystemOptions,
  waitForTrace,
} from "../scenarios/mod.ts";
import { childrenOf, DISPATCHER_SLOT, FifoWriter, ROLE_STATE, sendSignal } from "../ipc/mod.ts";
import { CLI_PERMISSIONS, RawConn, waitUntil } from "./helpers.ts";
import { freePortBlock } from "../check/mod.ts";

const STAGES: Stage[] = ["relay", "worker-calls-client", "client-calls-worker"];

/** Runs `fn` against a fresh system; the system is stopped and checked clean whatever happens. */
async function withSystem(
  options: SystemOptions,
  fn: (system: RunningSystem) => Promise<void>,
): Promise<void> {
  const system = await startSystem(options);
  try {
    await fn(system);
  } finally {
    const report = await system.stop();
    assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
    assert.equal(report.watchdog.code, 0);
    for (const [name, o] of Object.entries(report.roles)) {
      assert.deepEqual(
        o,
        { exit: 0, restarts: 0, failed: false },
        `${name} ran once and stopped cleanly`,
      );
    }
  }
}

/** Asks a request the way a client of `stage` must, over raw TCP; returns the final answer line. */
async function askAnyStage(system: RunningSystem, line: string): Promise<string | null> {
  await using client = await OspsClient.connect({ port: system.port, retries: 0 });
  const r = await client.request(line);
  return r.ok ? (r.result === "" ? "OK" : `OK ${r.result}`) : `ERR ${r.code}`;
}

for (const stage of STAGES) {
  Deno.test(`scenario ${stage}: 4 clients x 5 requests, every answer right, nothing left`, async () => {
    const outDir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
    try {
      const report = await runStageScenario({ stage, outDir });
      assert.equal(report.sent, 20);
      assert.equal(report.ok, 20, JSON.stringify(report.wrong));
      assert.ok(stageScenarioPassed(report));
      assert.ok(report.timeline.length > 10);
      for (const c of ["tcp", "shm", "fifo"]) {
        assert.ok(report.timeline.some((l) => l.includes(`[${c}]`)), `timeline shows ${c}`);
      }
    } finally {
      Deno.removeSync(outDir, { recursive: true });
    }
  });
}

Deno.test("the wire contract, line by line, in the relay stage", async () => {
  await withSystem({ stage: "relay", workers: 2 }, async (system) => {
    using c = await RawConn.open(system.port);
    assert.equal(await c.ask("requetetype1 hello"), "OK hello");
    assert.equal(
      await c.ask("requetetype1  two  spaces "),
      "OK  two  spaces ",
      "extra spaces kept",
    );
    assert.equal(await c.ask("requetetype1"), "OK", "empty result: OK alone");
    assert.equal(await c.ask("requetetype1 "), "OK");
    assert.equal(await c.ask("requetetype2 100"), "OK 25");
    assert.equal(await c.ask("requetetype2 0000100"), "OK 25", "leading zeros allowed");
    assert.equal(await c.ask("requetetype2 0"), "OK 0");
    assert.equal(await c.ask("requetetype2 10000000"), "OK 664579");
    for (
      const bad of [
        "requetetype2 -5",
        "requetetype2 1e3",
        "requetetype2 10000001",
        "requetetype2 12 3",
        "requetetype2",
        "requetetype2 +4",
        "requetetype2  7",
      ]
    ) {
      assert.match(await c.ask(bad) ?? "", /^ERR bad-argument /, bad);
    }
    assert.match(await c.ask("requetetype3 x") ?? "", /^ERR unknown-request /);
    assert.match(await c.ask("") ?? "", /^ERR unknown-request empty request/);
    assert.equal(
      await c.ask(" requetetype1 x"),
      "ERR unknown-request a request starts with its type, with no space before it " +
        "(requetetype1 <text>, requetetype2 <n>, QUIT)",
    );
    assert.match(
      await c.ask("LISTEN 4000") ?? "",
      /^ERR unknown-request /,
      "LISTEN outside worker-calls-client",
    );
    await c.send("requetetype1 crlf\r\n");
    assert.equal(await c.line(), "OK crlf", "CRLF accepted");
    await c.send(new Uint8Array([0xff, 0xfe, 0x00, 0x41, 0x0a]));
    assert.match(await c.line() ?? "", /^ERR bad-argument .*UTF-8/, "binary garbage");
    await c.send("requetetype1 a\nrequetetype2 10\nrequetetype1 c\n");
    assert.deepEqual(
      [await c.line(), await c.line(), await c.line()],
      ["OK a", "OK 4", "OK c"],
      "early lines in order",
    );
    assert.equal(await c.ask("requetetype1 still open after errors"), "OK still open after errors");
    await c.send("QUIT\n");
    assert.equal(await c.line(), null, "QUIT closes without a reply");
    // A last line without its LF, then the client's half-close (printf 'x' | nc -N): answered.
    using last = await RawConn.open(system.port);
    await last.send("requetetype1 a\nrequetetype1 no newline");
    await last.conn.closeWrite();
    assert.deepEqual([await last.line(), await last.line()], ["OK a", "OK no newline"]);
    assert.equal(await last.line(), null, "then the dispatcher closes");
  });
});

Deno.test("client-calls-worker: a last line without LF and a half-close are answered by the worker too", async () => {
  await withSystem({ stage: "client-calls-worker", workers: 1 }, async (system) => {
    using d = await RawConn.open(system.port);
    await d.send("requetetype2 100");
    await d.conn.closeWrite();
    const redirect = /^REDIRECT (\S+) (\d+)$/.exec(await d.line() ?? "");
    assert.ok(redirect !== null);
    using w = await RawConn.open(Number(redirect[2]));
    await w.send("requetetype2 100");
    await w.conn.closeWrite();
    assert.equal(await w.line(), "OK 25");
    assert.equal(await w.line(), null);
  });
});

Deno.test("lines of 4096 bytes pass, longer ones and a 1 MiB line get ERR line-too-long and a clean close", async () => {
  await withSystem({ stage: "relay", workers: 1 }, async (system) => {
    const prefix = "requetetype1 ";
    using exact = await RawConn.open(system.port);
    const text = "x".repeat(4095 - prefix.length);
    assert.equal(await exact.ask(prefix + text), `OK ${text}`, "4095 bytes + LF = 4096");
    using over = await RawConn.open(system.port);
    assert.match(await over.ask(prefix + text + "y") ?? "", /^ERR line-too-long /);
    assert.equal(await over.line(), null, "then closed");
    using huge = await RawConn.open(system.port);
    const mib = new Uint8Array(1 << 20).fill(0x61);
    const sending = huge.send(mib).catch(() => {});
    assert.match(
      await huge.line() ?? "",
      /^ERR line-too-long /,
      "the ERR line arrives, not eaten by a reset",
    );
    await sending;
    assert.equal(
      await askAnyStage(system, "requetetype1 others still served"),
      "OK others still served",
    );
  });
});

Deno.test("idle and half-gone clients hold no worker and block nobody", async () => {
  await withSystem({ stage: "relay", workers: 1, idleTimeoutMs: 400 }, async (system) => {
    using idle = await RawConn.open(system.port);
    using midLine = await RawConn.open(system.port);
    await midLine.send("requetetype1 half a li");
    midLine.conn.close();
    using midRequest = await RawConn.open(system.port);
    await midRequest.send("requetetype2 10000000\n");
    midRequest.conn.close();
    // One worker only: these pass only if the gone clients freed it.
    for (let i = 0; i < 3; i++) {
      assert.equal(await askAnyStage(system, `requetetype1 next ${i}`), `OK next ${i}`);
    }
    assert.match(await idle.line(2000) ?? "", /^ERR timeout no request for 400 ms/);
    assert.equal(await idle.line(), null, "the idle connection is closed");
  });
});

Deno.test("a frozen worker: the queue is bounded (ERR busy), waiting requests time out, a late answer is ignored", async () => {
  await withSystem(
    { stage: "relay", workers: 1, queueLimit: 1, requestTimeoutMs: 600 },
    async (system) => {
      const worker = system.roles.find((r) => r.name === "worker 1")!;
      sendSignal(worker.pid, "SIGSTOP");
      try {
        using a = await RawConn.open(system.port);
        using b = await RawConn.open(system.port);
        using c = await RawConn.open(system.port);
        await a.send("requetetype1 a\n");
        await waitUntil(
          "request a handed to the frozen worker",
          () => system.segment.mailbox(1).readText().text.endsWith("a"),
          5000,
        );
        await b.send("requetetype1 b\n");
        await waitUntil(
          "request b queued",
          () => system.segment.slot(DISPATCHER_SLOT).get("queue") === 1,
          5000,
        );
        assert.match(await c.ask("requetetype1 c") ?? "", /^ERR busy /);
        assert.match(await b.line(2000) ?? "", /^ERR timeout /);
        assert.match(await a.line(2000) ?? "", /^ERR timeout /);
      } finally {
        sendSignal(worker.pid, "SIGCONT");
      }
      // The worker wakes, answers request a late (ignored), and serves again.
      assert.equal(await askAnyStage(system, "requetetype1 after"), "OK after");
    },
  );
});

Deno.test("client-calls-worker: REDIRECT never followed frees the worker after the claim timeout; a wrong line gets ERR unavailable", async () => {
  await withSystem(
    { stage: "client-calls-worker", workers: 1, claimTimeoutMs: 300 },
    async (system) => {
      using deserter = await RawConn.open(system.port);
      const redirect = await deserter.ask("requetetype1 never collected");
      const m = /^REDIRECT 127\.0\.0\.1 (\d+)$/.exec(redirect ?? "");
      assert.ok(m, redirect ?? "no reply");
      using intruder = await RawConn.open(Number(m[1]));
      assert.match(await intruder.ask("requetetype1 not reserved") ?? "", /^ERR unavailable/);
      assert.equal(await intruder.line(), null, "and closed");
      const t = performance.now();
      assert.equal(await askAnyStage(system, "requetetype1 next"), "OK next");
      assert.ok(performance.now() - t < 3000);
      // The deserter comes back too late: it is told why, and how to avoid it.
      using late = await RawConn.open(Number(m[1]));
      assert.equal(
        await late.ask("requetetype1 never collected"),
        "ERR unavailable the reservation for this request expired after 300 ms " +
          "(--claim-timeout sets it); ask the dispatcher again",
      );
    },
  );
});

Deno.test("worker-calls-client: LISTEN first; a port that refuses frees the worker; WAIT then READY", async () => {
  await withSystem(
    { stage: "worker-calls-client", workers: 1, claimTimeoutMs: 300 },
    async (system) => {
      using c = await RawConn.open(system.port);
      assert.match(await c.ask("requetetype1 too early") ?? "", /^ERR bad-argument send LISTEN/);
      assert.match(await c.ask("LISTEN 0") ?? "", /^ERR bad-argument/);
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const refusing = closed.addr.port;
      closed.close();
      assert.equal(await c.ask(`LISTEN ${refusing}`), "OK");
      assert.match(await c.ask("requetetype1 nobody home") ?? "", /^WAIT [A-Za-z0-9]{1,32}$/);
      // The worker cannot reach that port: it must be free again for the next client.
      assert.equal(await askAnyStage(system, "requetetype2 1000"), "OK 168");
      // A client whose port accepts (the kernel's backlog) but which never answers READY.
      const deaf = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        assert.equal(await c.ask(`LISTEN ${deaf.addr.port}`), "OK");
        assert.match(await c.ask("requetetype1 nobody listening") ?? "", /^WAIT /);
        const t = performance.now();
        assert.equal(await askAnyStage(system, "requetetype2 100"), "OK 25");
        assert.ok(
          performance.now() - t >= 250,
          "served only once the claim timeout freed the worker",
        );
      } finally {
        deaf.close();
      }
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      try {
        assert.equal(
          await c.ask(`LISTEN ${listener.addr.port}`),
          "OK",
          "a second LISTEN replaces the first",
        );
        const wait = await c.ask("requetetype1 call me");
        const token = /^WAIT ([A-Za-z0-9]{1,32})$/.exec(wait ?? "")![1];
        using callback = RawConn.wrap(await listener.accept());
        assert.equal(await callback.line(), `READY ${token}`);
        assert.equal(await callback.ask("requetetype1 call me"), "OK call me");
        assert.equal(await callback.line(), null, "the worker closes after its answer");
      } finally {
        listener.close();
      }
    },
  );
});

Deno.test("50 concurrent clients on 3 workers: every request answered right", async () => {
  for (const stage of STAGES) {
    await withSystem({ stage, workers: 3 }, async (system) => {
      const answers = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
        await using client = await OspsClient.connect({ port: system.port, retries: 0 });
        const a = await client.request(`requetetype1 client ${i}`);
        const b = await client.request(`requetetype2 ${1000 + i}`);
        return [a.ok && a.result, b.ok && b.result];
      }));
      const primes = (n: number) =>
        Array.from({ length: n + 1 }, (_, k) => k).filter((k) =>
          k > 1 &&
          Array.from({ length: Math.floor(Math.sqrt(k)) - 1 }, (_, d) => d + 2).every((d) =>
            k % d !== 0
          )
        ).length;
      answers.forEach(([a, b], i) => {
        assert.equal(a, `client ${i}`, `${stage} client ${i} echo`);
        assert.equal(b, String(primes(1000 + i)), `${stage} client ${i} primes`);
      });
    });
  }
});

Deno.test("a role that cannot start stops the whole start with a clear error and leaves nothing", async () => {
  // Worker 1 of client-calls-worker listens on the dispatcher's port + 1: taken.
  const port = freePortBlock(2);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: port + 1 });
  try {
    await assert.rejects(
      () => startSystem({ stage: "client-calls-worker", workers: 1, port, readyTimeoutMs: 8000 }),
      /the instance did not start .*worker 1 exited with code 1 while the instance was starting/s,
    );
    assert.deepEqual(
      childrenOf(Deno.pid).filter((p) => p.comm === "deno"),
      [],
      "every role reaped",
    );
  } finally {
    busy.close();
  }
});

Deno.test("the dispatcher's port taken: the watchdog, which listens for it, says so at once", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      () => startSystem({ stage: "relay", workers: 1, port: busy.addr.port, readyTimeoutMs: 8000 }),
      new RegExp(
        `the instance did not start .*dispatcher: cannot listen on 127\\.0\\.0\\.1:${busy.addr.port}: ` +
          `address in use`,
        "s",
      ),
    );
    assert.deepEqual(childrenOf(Deno.pid).filter((p) => p.comm === "deno"), [], "nothing started");
  } finally {
    busy.close();
  }
});

Deno.test("graceful stop: the dispatcher drains a request in flight before the workers stop", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const system = await startSystem({
      stage: "relay",
      workers: 1,
      tracePath: `${out}/trace.jsonl`,
    });
    using c = await RawConn.open(system.port);
    await c.send("requetetype2 10000000\n");
    await system.waitFor(
      "the request to reach the worker",
      (s) => s.trace().some((e) => e.event === "order" && e.role === "worker 1"),
      5000,
    );
    const stopping = system.stop();
    assert.equal(await c.line(), "OK 664579", "answered, not cut off");
    const report = await stopping;
    assert.equal(report.watchdog.code, 0);
    assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
  } finally {
    Deno.removeSync(out, { recursive: true });
  }
});

Deno.test("request ids are unique across dispatcher generations; an answer for no request in flight is dropped and traced", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({ stage: "relay", workers: 1, tracePath: `${out}/trace.jsonl` });
  try {
    await using first = await OspsClient.connect({ port: system.port, retries: 5 });
    assert.deepEqual(await first.request("requetetype1 one"), {
      ok: true,
      result: "one",
      via: "dispatcher",
      retries: 0,
    });
    // A forged answer, for a request nobody asked: dropped, traced, and the worker serves on.
    using forger = FifoWriter.openNow(`${system.runtimeDir}/wdtube1`);
    forger.send("done 77");
    // The dispatcher writes its trace in batches: what it has not written, SIGKILL loses.
    const seen = await waitForTrace(
      system.tracePath!,
      (all) => all.some((e) => e.event === "stale answer" && e.detail === "done 77"),
    );
    assert.ok(seen !== null, "the forged answer was dropped and said so");
    const generation = system.segment.slot(DISPATCHER_SLOT).get("generation");
    system.signal("dispatcher", "SIGKILL");
    await system.waitFor(
      "a new dispatcher",
      (s) =>
        s.segment.slot(DISPATCHER_SLOT).get("generation") > generation &&
        s.segment.slot(DISPATCHER_SLOT).get("state") === ROLE_STATE.ready,
      10_000,
    );
    await using second = await OspsClient.connect({ port: system.port, retries: 5 });
    assert.equal((await second.request("requetetype1 two")).ok, true);
    const events = await waitForTrace(
      system.tracePath!,
      (all) => all.some((e) => e.role === "dispatcher" && e.detail === "requetetype1 two"),
    );
    assert.ok(events !== null, "the second request is in the trace");
    const recv = events.filter((e) => e.role === "dispatcher" && e.event === "recv");
    const ids = recv.map((e) => e.req!);
    assert.equal(ids[0], 1, "the first dispatcher counts from 1");
    assert.ok(ids.at(-1)! > 2 ** 32, `the next one's ids cannot meet the first's: ${ids}`);
  } finally {
    await system.stop();
    Deno.removeSync(out, { recursive: true });
  }
});

/** A global (non-loopback) IPv4 address of this machine, from `ip`; null if it has none. */
async function globalAddress(): Promise<string | null> {
  const out = await new Deno.Command("ip", {
    args: ["-4", "-o", "addr", "show", "scope", "global"],
  })
    .output().catch(() => null);
  const m = out ? /inet (\d+\.\d+\.\d+\.\d+)\//.exec(new TextDecoder().decode(out.stdout)) : null;
  return m ? m[1] : null;
}

Deno.test("bound to 0.0.0.0, a client that came through another address is redirected to that address, and served", async () => {
  // The machine's own global address if it has one (as a remote client would use), else another
  // loopback address: either way, not the address bound, which no client can connect to.
  const address = await globalAddress() ?? "127.0.0.2";
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({
    stage: "client-calls-worker",
    workers: 1,
    host: "0.0.0.0",
    tracePath: `${out}/trace.jsonl`,
  });
  try {
    // This test may only reach 127.0.0.1: the client runs as a process allowed to reach any host.
    const client = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        ...CLI_PERMISSIONS.filter((p) => !p.startsWith("--allow-net")),
        "--allow-net",
        new URL("../main.ts", import.meta.url).pathname,
        "client",
        "requetetype1",
        "through another address",
        "--host",
        address,
        "--port",
        String(system.port),
      ],
      stdin: "null",
    }).output();
    const said = new TextDecoder().decode(client.stderr);
    assert.equal(client.code, 0, said);
    assert.equal(new TextDecoder().decode(client.stdout), "through another address\n");
    const events = await waitForTrace(
      system.tracePath!,
      (all) => all.some((e) => e.role === "dispatcher" && e.detail?.startsWith("REDIRECT ")),
    );
    const redirect = events?.find((e) => e.detail?.startsWith("REDIRECT "))?.detail;
    assert.match(redirect ?? "", new RegExp(`^REDIRECT ${address.replaceAll(".", "\\.")} \\d+$`));
  } finally {
    await system.stop();
    Deno.removeSync(out, { recursive: true });
  }
});
