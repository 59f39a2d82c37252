import assert from "node:assert/strict";
import { injectEvent, isTraceEventKind, parseTraceLine, TRACE_EVENTS } from "./trace_event.ts";

const line = (o: Record<string, unknown>) =>
  JSON.stringify({ ts: 1, pid: 2, role: "dispatcher", event: "ping", channel: "fifo", ...o });

Deno.test("a trace line parses to its event; a torn, foreign or unknown one to nothing", () => {
  assert.deepEqual(parseTraceLine(line({ req: 3, peer: "worker 1", detail: "job 3" })), {
    ts: 1,
    pid: 2,
    role: "dispatcher",
    event: "ping",
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

Deno.test("every event kind is documented in docs/architecture.md, and nothing else is", () => {
  const doc = Deno.readTextFileSync(new URL("../docs/architecture.md", import.meta.url));
  const from = doc.indexOf("### The trace's vocabulary");
  const section = doc.slice(from, doc.indexOf("\n## ", from));
  const documented = [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...Object.keys(TRACE_EVENTS), "inject <SIGNAL>"]);
  assert.ok(documented.slice(0, -1).every(isTraceEventKind));
});
