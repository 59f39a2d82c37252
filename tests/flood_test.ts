import assert from "node:assert/strict";
import { raiseOpenFileLimit, sendSignal, SharedSegment, workerSlot } from "../ipc/mod.ts";
import { OspsClient, TcpLineReader } from "../roles/mod.ts";
import { CLI_PERMISSIONS, LineReader, stopUp } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The pid and restart count of every role, from the instance's registry. */
function roles(segment: SharedSegment): string {
  const slots = [1, workerSlot(1), workerSlot(2)].map((i) => segment.slot(i));
  return JSON.stringify(slots.map((s) => [s.get("pid"), s.get("restarts")]));
}

// Any local user can open connections: a flood must never crash a role. up runs under an
// open-file limit of 256; 1000 connections are opened and held.
Deno.test("1000 connections held against an open-file limit of 256: no role restarts, the extra ones get ERR busy, served again at once", async () => {
  raiseOpenFileLimit(); // this process holds the 1000 connections
  const instance = `flood${Deno.pid}`;
  const up = new Deno.Command("bash", {
    args: [
      "-c",
      'ulimit -n 256 && exec "$0" "$@"',
      Deno.execPath(),
      "run",
      "--quiet",
      ...CLI_PERMISSIONS,
      MAIN,
      "up",
      "--stage",
      "relay",
      "--workers",
      "2",
      "--port",
      "0",
      "--instance",
      instance,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const held: Deno.Conn[] = [];
  try {
    const lines = new LineReader(up.stdout);
    const [, port] = await lines.until(/dispatcher 127\.0\.0\.1:(\d+)/);
    await lines.until(/^Ctrl-C to stop/);
    using segment = SharedSegment.open(`/osps-${instance}`, { readOnly: true });
    const before = roles(segment);
    for (let i = 0; i < 1000; i += 100) {
      held.push(
        ...await Promise.all(
          Array.from({ length: 100 }, () => Deno.connect({ hostname: "127.0.0.1", port: +port })),
        ),
      );
    }
    // A refused connection gets its ERR line at once; an accepted one, nothing (it owes a line).
    const answers = await Promise.all(held.map(async (conn) => {
      const r = await new TcpLineReader(conn).next(3000);
      return r.kind === "line" ? new TextDecoder().decode(r.bytes) : r.kind;
    }));
    const refused = answers.filter((a) => a === "ERR busy too many connections").length;
    const accepted = answers.filter((a) => a === "timeout").length;
    assert.equal(
      refused + accepted,
      1000,
      `other answers: ${
        answers.filter((a) => a !== "timeout" && a !== "ERR busy too many connections").slice(0, 3)
      }`,
    );
    assert.ok(accepted >= 100 && refused >= 500, `accepted ${accepted}, refused ${refused}`);
    assert.equal(roles(segment), before, "no role restarted: pids and restart counts unchanged");
    for (const conn of held.splice(0)) conn.close();
    // The flood is gone: the next request is served at once (the dispatcher may still be
    // closing the flood's connections: the client tries again after 50 ms, as it does after
    // an ERR busy).
    const t0 = performance.now();
    await using client = await OspsClient.connect({ port: +port, timeoutMs: 2000 });
    assert.deepEqual(await client.request("requetetype1 after the flood"), {
      ok: true,
      result: "after the flood",
      via: "dispatcher",
      retries: 0,
    });
    assert.ok(performance.now() - t0 < 1000);
    sendSignal(up.pid, "SIGINT");
    await lines.rest();
    assert.equal((await up.status).code, 0);
  } finally {
    for (const conn of held) conn.close();
    await stopUp(up, instance);
  }
});
