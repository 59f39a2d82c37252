import assert from "node:assert/strict";
import { injectEvent, parseTraceLine } from "./trace_event.ts";

const line = (o: Record<string, unknown>) =>
  JSON.stringify({ ts: 1, pid: 2, role: "dispatcher", event: "order", channel: "fifo", ...o });

Deno.test("a trace line parses to its event; a torn, foreign or unknown one to nothing", () => {
  assert.deepEqual(parseTraceLine(line({ req: 3, peer: "worker 1", detail: "job 3" })), {
    ts: 1,
    pid: 2,
    role: "dispatcher",
    event: "order",
    channel: "fifo",
    req: 3,
    peer: "worker 1",
    detail: "job 3",
  });
  assert.equal(parseTraceLine(line({ event: injectEvent("SIGSTOP") }))?.event, "inject SIGSTOP");
  for (
    const bad of [
      line({}).slice(0, 20),
      "",
      "null",
      "[1, 2]",
      line({ event: "pinged" }),
      line({ event: "inject stop" }),
      line({ channel: "udp" }),
      line({ ts: "1" }),
      line({ pid: undefined }),
      line({ req: "3" }),
      line({ detail: 4 }),
    ]
  ) {
    assert.equal(parseTraceLine(bad), null, bad);
  }
});
