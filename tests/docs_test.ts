import assert from "node:assert/strict";
import { isTraceEventKind, TRACE_EVENTS } from "../roles/mod.ts";

// The docs that state what the code declares: each is checked against the declaration.

Deno.test("every event kind is documented in docs/architecture.md, and nothing else is", () => {
  const doc = Deno.readTextFileSync(new URL("../docs/architecture.md", import.meta.url));
  const from = doc.indexOf("### The trace's vocabulary");
  const section = doc.slice(from, doc.indexOf("\n## ", from));
  const documented = [...section.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, [...Object.keys(TRACE_EVENTS), "inject <SIGNAL>"]);
  assert.ok(documented.slice(0, -1).every(isTraceEventKind));
});
