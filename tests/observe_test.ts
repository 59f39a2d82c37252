// The observer's API (`up --observe`), on a real instance: the page, the status, the event stream,
// and who may act — a token, the page's own origin, the observer's own host.
import assert from "node:assert/strict";
import { processInfo, sendSignal, SharedSegment, workerSlot } from "../ipc/mod.ts";
import {
  cliCommand,
  killAndReap,
  RawConn,
  spawnFixture,
  stopUp,
  upObserved,
  waitUntil,
} from "./helpers.ts";

/** Reads Server-Sent Events from `url` until `done` holds of those read, at most `timeoutMs`. */
async function readEvents(
  url: string,
  done: (events: { event: string; data: unknown }[]) => boolean,
  timeoutMs = 5000,
): Promise<{ event: string; data: unknown }[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: { event: string; data: unknown }[] = [];
  try {
    const response = await fetch(url, { signal: controller.signal });
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of response.body!) {
      text += decoder.decode(chunk, { stream: true });
      for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = /^data: (.*)$/m.exec(block)?.[1];
        events.push({ event, data: data === undefined ? null : JSON.parse(data) });
      }
      if (done(events)) return events;
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  throw new Error(
    `the events never held (${controller.signal.aborted ? "timed out" : "stream ended"}): ${
      events.map((e) => e.event).join(", ")
    }`,
  );
}

type Status = { running: boolean; roles: { role: string; pid: number; alive: boolean }[] };

Deno.test("up --observe: the page, status and events; actions need the token, the page's origin and its host", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-observe-" });
  const trace = `${dir}/trace.jsonl`;
  const o = await upObserved(["--stage", "relay", "--workers", "3", "--trace", trace]);
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${o.origin}${path}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${o.token}`,
        "content-type": "application/json",
        ...headers,
      },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json() }));
  try {
    assert.match(o.token, /^[0-9a-f]{64}$/);
    const page = await fetch(o.url);
    const html = await page.text();
    assert.equal(page.status, 200);
    assert.match(html, /<title>osps observe<\/title>/);
    assert.doesNotMatch(
      html,
      /<script [^>]*src=|<link |https?:\/\/(?!www\.w3\.org)/,
      "self-contained",
    );
    assert.match(page.headers.get("content-security-policy")!, /default-src 'none'/);

    const status: Status = await (await fetch(`${o.origin}/api/status`)).json();
    assert.equal(status.running, true);
    assert.deepEqual(status.roles.map((r) => r.role), [
      "watchdog",
      "dispatcher",
      "worker 1",
      "worker 2",
      "worker 3",
      "standby",
    ]);
    assert.ok(status.roles.every((r) => r.alive && r.pid > 0));
    assert.equal(status.roles[0].pid, o.up.pid, "the watchdog is the up process");

    const stream = readEvents(
      `${o.origin}/api/events`,
      (events) =>
        events.some((e) => e.event === "hello") &&
        events.filter((e) => e.event === "status").length >= 3 &&
        events.some((e) => e.event === "log" && (e.data as { event: string }).event === "restart"),
    );
    // Awaited below; a failure before then must not be hidden by this one.
    stream.catch(() => {});

    const worker1 = status.roles[2].pid;
    const signal = { signal: "SIGKILL" };
    assert.equal(
      (await post("/api/roles/worker%201/signal", signal, { authorization: "" })).status,
      403,
    );
    assert.equal(
      (await post("/api/roles/worker%201/signal", signal, { authorization: "Bearer nope" })).status,
      403,
    );
    assert.equal(
      (await post("/api/roles/worker%201/signal", signal, { origin: "http://evil.example" }))
        .status,
      403,
    );
    // fetch sets Host itself: a raw request, as a DNS-rebinding page's browser would send it.
    {
      using raw = await RawConn.open(Number(new URL(o.origin).port));
      await raw.send(
        "GET /api/status HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
      );
      assert.match(
        (await raw.line())!,
        /^HTTP\/1\.1 421 /,
        "another Host (DNS rebinding) is refused",
      );
    }
    assert.equal((await post("/api/roles/worker%209/signal", signal)).status, 404);
    assert.equal((await post("/api/roles/watchdog/signal", signal)).status, 400);
    assert.equal((await post("/api/roles/worker%201/signal", { signal: "SIGUSR1" })).status, 400);
    assert.equal(worker1, status.roles[2].pid, "nothing refused was sent");

    const sent = await post("/api/roles/worker%201/signal", signal, { origin: o.origin });
    assert.deepEqual(sent, {
      status: 202,
      body: { role: "worker 1", signal: "SIGKILL", pid: worker1 },
    });
    const events = await stream;
    const hello = events.find((e) => e.event === "hello")!.data as { tracing: boolean };
    assert.equal(hello.tracing, true);
    const log = events.filter((e) => e.event === "log").map((e) =>
      e.data as { event: string; peer: string }
    );
    assert.ok(
      log.some((e) => e.event === "inject SIGKILL" && e.peer === "worker 1"),
      "the injection",
    );
    assert.ok(log.some((e) => e.event === "exit" && e.peer === "worker 1"), "the crash");
    assert.ok(log.some((e) => e.event === "restart" && e.peer === "worker 1"), "the restart");
    const after: Status = await (await fetch(`${o.origin}/api/status`)).json();
    assert.notEqual(after.roles[2].pid, worker1, "worker 1 runs in a new process");

    // The built-in load: started, seen in the stats, stopped.
    assert.deepEqual(await post("/api/load", { clients: 2, mix: "echo" }), {
      status: 202,
      body: { clients: 2, mix: "echo" },
    });
    assert.equal((await post("/api/load", { clients: 1000 })).status, 400);
    assert.equal((await post("/api/load", { clients: 1, mix: "nope" })).status, 400);
    const stats = await readEvents(
      `${o.origin}/api/events`,
      (events) =>
        events.some((e) =>
          e.event === "stats" &&
          ((e.data as { load: { answered: number } | null }).load?.answered ?? 0) > 0
        ),
    );
    const second = stats.findLast((e) => e.event === "stats")!.data as {
      load: { wrong: number; failed: number };
    };
    assert.deepEqual([second.load.wrong, second.load.failed], [0, 0]);
    const trace = await readEvents(
      `${o.origin}/api/events`,
      (events) => events.some((e) => e.event === "trace"),
    );
    const steps = trace.filter((e) => e.event === "trace").flatMap((e) =>
      (e.data as { steps: { kind: string; channel?: string }[] }).steps
    );
    assert.ok(steps.some((s) => s.kind === "arrow" && s.channel === "fifo"), "the pipes' messages");
    assert.deepEqual(await post("/api/load", { clients: 0 }), {
      status: 202,
      body: { clients: 0, mix: "echo" },
    });

    // Scaling and a rolling reload from the page.
    const statusNow = async (): Promise<Status> =>
      await (await fetch(`${o.origin}/api/status`)).json();
    const workers = (st: Status) => st.roles.filter((r) => r.role.startsWith("worker "));
    assert.deepEqual(await post("/api/scale", { workers: 4 }), {
      status: 202,
      body: { workers: 4 },
    });
    assert.equal((await post("/api/scale", { workers: 0 })).status, 400);
    assert.equal((await post("/api/scale", { workers: 65 })).status, 400);
    let scaled: Status | null = null;
    await waitUntil("4 workers running", async () => {
      const st = await statusNow();
      scaled = workers(st).length === 4 && workers(st).every((r) => r.alive) ? st : null;
      return scaled !== null;
    }, 10_000);
    const before = new Map(scaled!.roles.map((r) => [r.role, r.pid]));
    assert.deepEqual(await post("/api/reload", {}), { status: 202, body: { reload: "started" } });
    await waitUntil(
      "every role replaced",
      async () =>
        (await statusNow()).roles.filter((r) => r.role !== "watchdog" && r.role !== "standby")
          .every((r) => r.alive && r.pid !== before.get(r.role)),
      20_000,
    );

    sendSignal(o.up.pid, "SIGINT");
    const rest = await o.lines.rest();
    assert.match(rest, /shared segments left: none/);
    assert.equal((await o.up.status).code, 0);
  } finally {
    await stopUp(o.up);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("up --observe on a port another program holds: a clear error, and no role was started", async () => {
  using squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const taken = await cliCommand([
    "up",
    "--port",
    "0",
    "--observe",
    `127.0.0.1:${squatter.addr.port}`,
  ]).output();
  const err = new TextDecoder().decode(taken.stderr);
  assert.equal(taken.code, 1, err);
  assert.match(
    err,
    new RegExp(`cannot serve the observer on 127\\.0\\.0\\.1:${squatter.addr.port}`),
  );
  assert.doesNotMatch(new TextDecoder().decode(taken.stdout), /osps up:/, "nothing started");
  const bad = await cliCommand(["up", "--observe", "http://x:80"]).output();
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--observe wants \[HOST:\]PORT/);
});

Deno.test("up --observe without a trace: roles and counters stream, and the page is told there are no arrows", async () => {
  const o = await upObserved(["--stage", "worker-calls-client", "--workers", "2"]);
  try {
    const events = await readEvents(
      `${o.origin}/api/events`,
      (events) => events.filter((e) => e.event === "stats").length >= 1,
    );
    const hello = events.find((e) => e.event === "hello")!.data as {
      tracing: boolean;
      stage: string;
    };
    assert.deepEqual([hello.tracing, hello.stage], [false, "worker-calls-client"]);
    const status = events.findLast((e) => e.event === "status")!.data as Status;
    assert.deepEqual(status.roles.map((r) => r.role), [
      "watchdog",
      "dispatcher",
      "worker 1",
      "worker 2",
      "standby",
    ]);
    assert.ok(!events.some((e) => e.event === "trace"), "no trace, no messages");
    const html = await (await fetch(o.url)).text();
    assert.match(html, /Arrows need a trace: start up with --trace FILE/);
  } finally {
    await stopUp(o.up);
  }
});

/** The status line of a GET of `/` on 127.0.0.1:`port` whose Host header says `host`. */
async function statusWithHost(port: number, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    const reply = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    return reply.split("\r\n", 1)[0];
  } catch (e) {
    conn.close();
    throw e;
  }
}

Deno.test("up --observe 0.0.0.0:PORT through the task's permissions: served on every address, names refused", async () => {
  const o = await upObserved(["--stage", "relay", "--workers", "1"], "0.0.0.0:0");
  try {
    assert.match(o.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=/, "printed at the loopback address");
    const port = Number(new URL(o.url).port);
    assert.equal(await statusWithHost(port, `127.0.0.1:${port}`), "HTTP/1.1 200 OK");
    assert.equal(
      await statusWithHost(port, `10.1.2.3:${port}`),
      "HTTP/1.1 200 OK",
      "another address",
    );
    assert.equal(await statusWithHost(port, `localhost:${port}`), "HTTP/1.1 200 OK");
    assert.match(
      await statusWithHost(port, `rebound.example:${port}`),
      /^HTTP\/1\.1 421 /,
      "a name",
    );
    assert.match(await statusWithHost(port, `10.1.2.3:${port + 1}`), /^HTTP\/1\.1 421 /, "a port");
  } finally {
    await stopUp(o.up);
  }
});

// Any process of the user can write the registry: a pid forged into worker 1's slot must never be
// what a page's signal reaches. The observer runs in the watchdog, and signals through its own
// handle on the child (it used to read the pid from the registry).
Deno.test("up --observe: a pid forged into the registry is never signalled; the role's own process is", async () => {
  const o = await upObserved(["--stage", "relay", "--workers", "2"]);
  const stranger = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const forger = spawnFixture("pid_forger.ts", [o.segment, String(stranger.pid), "3000"]);
  try {
    const status = await (await fetch(`${o.origin}/api/status`)).json();
    await waitUntil("the forged pid in the registry", () => {
      using seg = SharedSegment.open(o.segment, { readOnly: true });
      return seg.slot(workerSlot(1)).get("pid") === stranger.pid;
    }, 3000);
    const sent = await fetch(`${o.origin}/api/roles/worker%201/signal`, {
      method: "POST",
      headers: { authorization: `Bearer ${o.token}`, "content-type": "application/json" },
      body: JSON.stringify({ signal: "SIGSTOP" }),
    }).then((r) => r.json());
    const worker1 = status.roles.find((r: { role: string }) => r.role === "worker 1").pid;
    assert.equal(sent.pid, worker1, "the worker's own process was signalled");
    assert.equal(processInfo(stranger.pid)?.state, "S", "the stranger was left alone");
    await forger.status;
  } finally {
    stranger.kill("SIGKILL");
    await stranger.status;
    await killAndReap(forger);
    sendSignal(o.up.pid, "SIGINT");
    await stopUp(o.up);
  }
});
