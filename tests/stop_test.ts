import assert from "node:assert/strict";
import {
  catchesSignal,
  isRunning,
  RuntimeDir,
  sendSignal,
  SharedSegment,
  threadsWaitingIn,
} from "../ipc/mod.ts";
import {
  OspsClient,
  roleArgs,
  roleCommand,
  SAME_STOP_REQUEST_MS,
  SYSTEM_ROLE_PERMISSIONS,
  TcpLineReader,
  withTimeout,
  writeLine,
} from "../roles/mod.ts";
import { readTrace, startSystem } from "../scenarios/mod.ts";
import { killAndReap, RawConn, testSegmentName, waitUntil } from "./helpers.ts";
import { sleep } from "../roles/timers.ts";

// A frozen worker holding a request must not hold the stop: the stop takes at most the grace plus
// one second, the request gets its one reply (ERR shutting-down), the dispatcher exits 0, and the
// frozen worker, which could not act on SIGTERM, is killed at once.
Deno.test("stop within the grace + 1 s with a frozen worker and a request in flight", async () => {
  const system = await startSystem({
    stage: "relay",
    workers: 1,
    graceMs: 1000,
    heartbeatTimeoutMs: 60_000, // the watchdog must not restart the frozen worker first
  });
  let stopped = false;
  try {
    await using client = await OspsClient.connect({ port: system.port, retries: 0 });
    // Frozen just before the request: its last beat is fresh, so the dispatcher hands it over.
    system.signal("worker 1", "SIGSTOP");
    const pending = client.request("requetetype1 held by a frozen worker");
    await waitUntil(
      "the request handed to the frozen worker",
      () => system.segment.mailbox(1).readText().text.endsWith("frozen worker"),
      5000,
    );
    const t0 = performance.now();
    const report = await system.stop();
    stopped = true;
    const took = performance.now() - t0;
    assert.ok(took < 1000 + 1000 + 300, `the stop took ${took.toFixed(0)} ms`);
    const answer = await pending;
    assert.equal(answer.ok, false);
    assert.ok(!answer.ok && answer.code === "shutting-down", JSON.stringify(answer));
    assert.equal(report.roles.dispatcher.exit, 0, "the dispatcher stopped by itself");
    assert.equal(report.roles["worker 1"].exit, -9, "the frozen worker was killed");
    assert.equal(report.watchdog.code, 0);
  } finally {
    if (!stopped) await system.stop();
  }
});

// A terminal signals its whole foreground group and `deno task` forwards the signal again: a stop
// signal that comes again within a second is the same request. One that comes later is a person
// asking again: every role still running is killed at once.
Deno.test("a stop signal again within 1 s is the same stop; a second one later kills every role", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({
    stage: "worker-calls-client",
    workers: 1,
    graceMs: 5000,
    claimTimeoutMs: 30_000,
    tracePath: `${out}/trace.jsonl`,
  });
  // A client that takes the worker's call and never sends its line: the worker, alive and
  // beating, waits for it; its SIGTERM would be acted on only when the wait ends.
  const callee = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of callee) held.push(conn);
  })();
  try {
    const dispatcher = await Deno.connect({ hostname: "127.0.0.1", port: system.port });
    held.push(dispatcher);
    const lines = new TcpLineReader(dispatcher);
    await writeLine(dispatcher, `LISTEN ${callee.addr.port}`);
    assert.equal((await lines.next(5000)).kind, "line");
    await writeLine(dispatcher, "requetetype1 never sent to the worker");
    await waitUntil("the worker's call", () => held.length >= 2, 5000);
    const t0 = performance.now();
    sendSignal(system.watchdog.pid, "SIGTERM");
    // Well within the window, then well past it.
    await sleep(SAME_STOP_REQUEST_MS * 0.3);
    sendSignal(system.watchdog.pid, "SIGINT");
    await sleep(t0 + SAME_STOP_REQUEST_MS * 1.3 - performance.now());
    assert.ok(
      isRunning(system.watchdog.pid),
      "a signal again within the window did not cut the stop short",
    );
    const again = performance.now();
    sendSignal(system.watchdog.pid, "SIGTERM");
    const status = await system.watchdog.status;
    const took = performance.now() - again;
    assert.ok(took < 1000, `stopped ${took.toFixed(0)} ms after the second SIGTERM (grace 5000)`);
    assert.ok(performance.now() - t0 < 5000, "before the grace was over");
    assert.equal(status.code, 1, "a stop cut short is not a clean stop");
    const kills = readTrace(`${out}/trace.jsonl`).filter((e) =>
      e.role === "watchdog" && e.event === "kill" && e.detail === "SIGKILL: second SIGTERM"
    );
    assert.ok(kills.some((e) => e.peer === "worker 1"), JSON.stringify(kills));
    assert.ok(kills.every((e) => e.ts >= performance.timeOrigin + again), "killed after it only");
  } finally {
    callee.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
    await system.stop();
    Deno.removeSync(out, { recursive: true });
  }
});

// A worker still starting when its stop comes — its dispatcher stopped first, so its answer pipe
// has no reader to open — stops at once, rather than hold the whole stop until SIGKILL.
Deno.test("a worker waiting for its dispatcher at start stops at once on SIGTERM", async () => {
  const dir = RuntimeDir.create({ prefix: "osps-test-start-" });
  const name = testSegmentName("start");
  const segment = SharedSegment.create(name, { workers: 1 });
  dir.fifo("dwtube1");
  dir.fifo("wdtube1");
  const worker = roleCommand(
    new URL("../roles/worker/main.ts", import.meta.url),
    [
      ...roleArgs({
        stage: "relay",
        segment: name,
        runtimeDir: dir.path,
        host: "127.0.0.1",
        port: 0,
        claimTimeoutMs: 5000,
        parentPid: Deno.pid,
        logLevel: "error",
        trace: "",
        traceMaxBytes: 1 << 20,
      }),
      "--worker",
      "1",
    ],
    { stdin: "null", stdout: "null", stderr: "inherit" },
    SYSTEM_ROLE_PERMISSIONS,
  ).spawn();
  try {
    // It listens for SIGTERM, and nobody reads its answer pipe: it waits to open it.
    await waitUntil(
      "the worker's SIGTERM handler",
      () => catchesSignal(worker.pid, "SIGTERM"),
      10_000,
    );
    await waitUntil(
      "the worker blocked opening its answer pipe",
      () => threadsWaitingIn(worker.pid, "wait_for_partner") > 0,
      10_000,
    );
    const t0 = performance.now();
    sendSignal(worker.pid, "SIGTERM");
    const status = await withTimeout(worker.status, 3000);
    assert.ok(status !== null, "it stopped (before: it waited for a reader until SIGKILL)");
    assert.equal(status.code, 0);
    assert.ok(performance.now() - t0 < 1000);
  } finally {
    await killAndReap(worker);
    segment.close();
    SharedSegment.unlink(name);
    dir.remove();
  }
});

// Every graceful stop used to drop one request per open connection: the dispatcher closed its
// clients' connections right after the requests in flight, with the next line each had sent
// (after its last OK) unread. Clients that send until they are told the dispatcher is stopping,
// then close, lose nothing now.
Deno.test("a graceful stop under load: every line gets its reply, until ERR shutting-down", async () => {
  const system = await startSystem({ stage: "relay", workers: 2, graceMs: 3000 });
  const replies: (string | null)[] = [];
  const client = async () => {
    using c = await RawConn.open(system.port);
    for (let i = 0;; i++) {
      const reply = await c.ask(`requetetype1 line ${i}`, 5000);
      replies.push(reply);
      if (reply === null || reply.startsWith("ERR shutting-down")) return;
    }
  };
  const clients = Array.from({ length: 8 }, client);
  try {
    await waitUntil("requests flowing", () => replies.length > 200, 10_000);
    const report = await system.stop();
    await Promise.all(clients);
    assert.equal(report.watchdog.code, 0);
    const lost = replies.filter((r) => r === null).length;
    assert.equal(
      lost,
      0,
      `${lost} of ${replies.length} lines got no reply (the connection closed)`,
    );
    assert.equal(replies.filter((r) => r!.startsWith("ERR shutting-down")).length, 8);
    assert.ok(
      replies.every((r) => r!.startsWith("OK line ") || r!.startsWith("ERR shutting-down")),
    );
  } finally {
    await system.stop();
  }
});
