import assert from "node:assert/strict";
import { buildDiagram, readTrace, runStageScenario, toHtml, toMermaid } from "../scenarios/mod.ts";
import type { TracedEvent, TraceEventKind } from "../roles/mod.ts";
import { cliCommand } from "./helpers.ts";

Deno.test("a stage run's diagram: one lifeline per role, arrows for messages, files written", async () => {
  const outDir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runStageScenario({ stage: "relay", outDir, clients: 2, requests: 3 });
    const d = buildDiagram(readTrace(report.tracePath));
    assert.deepEqual(d.lifelines, [
      "client 1",
      "client 2",
      "dispatcher",
      "worker 1",
      "worker 2",
      "worker 3",
      "watchdog",
    ]);
    const arrows = d.steps.filter((s) => s.kind === "arrow");
    assert.ok(
      arrows.some((a) =>
        a.kind === "arrow" && a.from === "dispatcher" && a.to.startsWith("worker") &&
        a.channel === "fifo"
      ),
    );
    assert.ok(
      arrows.some((a) => a.kind === "arrow" && a.from === "dispatcher" && a.channel === "shm"),
    );
    assert.ok(
      arrows.some((a) =>
        a.kind === "arrow" && a.from.startsWith("worker") && a.to === "dispatcher" &&
        a.channel === "fifo"
      ),
    );
    assert.equal(d.latencies.length, 6, "one latency per request");
    const md = Deno.readTextFileSync(report.diagram.markdown);
    assert.match(md, /```mermaid\nsequenceDiagram\n/);
    for (const l of d.lifelines) assert.match(md, new RegExp(`participant \\w+ as ${l}\\n`));
    const html = Deno.readTextFileSync(report.diagram.html);
    assert.equal(html.match(/<g class="lifeline"/g)?.length, d.lifelines.length);
    assert.equal(html.match(/<g class="arrow /g)?.length, arrows.length);
    assert.doesNotMatch(html, /(src|href)="https?:/, "self-contained: nothing fetched");
  } finally {
    Deno.removeSync(outDir, { recursive: true });
  }
});

Deno.test("long runs keep the start and the window around the first fault, and say so", () => {
  const step = (i: number): TracedEvent => ({
    ts: i,
    pid: 1,
    role: "dispatcher",
    event: "order",
    channel: "fifo",
    req: i,
    peer: "worker 1",
    detail: `job ${i}`,
  });
  const events = Array.from(
    { length: 1000 },
    (_, i): TracedEvent =>
      i === 600
        ? {
          ts: i,
          pid: 2,
          role: "scenario",
          event: "inject SIGKILL",
          channel: "signal",
          peer: "worker 1",
        }
        : step(i),
  );
  const d = buildDiagram(events, 200);
  const gap = d.steps.findIndex((s) => s.kind === "gap");
  assert.equal(gap, 50, "the start first");
  assert.ok(
    d.steps.slice(gap).some((s) => s.kind === "note" && s.text === "inject SIGKILL"),
    "then the fault",
  );
  assert.equal(d.omitted, 800);
  assert.match(toMermaid(d, "t"), /Note over dispatcher,worker_1: … \d+ steps collapsed …/);
  assert.match(toHtml(d, "t"), /<g class="gap">.*steps collapsed/);
});

Deno.test("long runs are cut and say so; main.ts trace renders a trace file", async () => {
  const events = Array.from({ length: 500 }, (_, i): TracedEvent => ({
    ts: 1000 + i,
    pid: 1,
    role: "dispatcher",
    event: "order",
    channel: "fifo",
    req: i + 1,
    peer: "worker 1",
    detail: `job ${i + 1}`,
  }));
  const d = buildDiagram(events, 300);
  assert.equal(d.steps.length, 300);
  assert.equal(d.omitted, 200);
  assert.match(
    toHtml(d, "t"),
    /the diagram shows 300 steps \(its first steps; no fault came in them\); 200 more are left out/,
  );
  assert.match(toMermaid(d, "t"), /150 steps \(the first ones; 350 more are left out\)/);
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    Deno.writeTextFileSync(`${dir}/trace.jsonl`, events.map((p) => JSON.stringify(p)).join("\n"));
    Deno.writeTextFileSync(`${dir}/other.jsonl`, JSON.stringify(events[0]));
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    const out = await cliCommand(["trace", `${dir}/trace.jsonl`]).output();
    assert.equal(out.code, 0, text(out.stderr));
    assert.match(
      text(out.stdout),
      /sequence diagram: .*trace\.sequence\.md\nHTML page: .*trace\.sequence\.html/,
    );
    assert.ok(Deno.statSync(`${dir}/trace.sequence.html`).size > 1000);
    // A second trace in the same folder has pages of its own.
    assert.equal((await cliCommand(["trace", `${dir}/other.jsonl`]).output()).code, 0);
    assert.ok(
      Deno.statSync(`${dir}/trace.sequence.html`).size >
        Deno.statSync(`${dir}/other.sequence.html`).size,
    );
    // What is not a trace is refused, and nothing is written.
    Deno.writeTextFileSync(`${dir}/empty.jsonl`, "");
    Deno.writeFileSync(`${dir}/noise.bin`, crypto.getRandomValues(new Uint8Array(4096)));
    const md = Deno.readTextFileSync(`${dir}/trace.sequence.md`);
    for (
      const [file, why] of [
        ["trace.sequence.md", /is not a trace: its first line is not a trace event/],
        ["empty.jsonl", /is not a trace: it holds no trace event/],
        ["noise.bin", /is not a trace: /],
      ] as const
    ) {
      const refused = await cliCommand(["trace", `${dir}/${file}`]).output();
      assert.equal(refused.code, 1, file);
      assert.match(text(refused.stderr), new RegExp(`^error: .*${file} ${why.source}[^\n]*\n$`));
      assert.equal(text(refused.stdout), "");
    }
    assert.equal(
      Deno.readTextFileSync(`${dir}/trace.sequence.md`),
      md,
      "the input was not written",
    );
    assert.ok(
      !Deno.readDirSync(dir).some((e) => e.name.startsWith("empty.") && e.name !== "empty.jsonl"),
    );
    const missing = await cliCommand(["trace", `${dir}/nope.jsonl`]).output();
    assert.equal(missing.code, 1);
    assert.match(text(missing.stderr), /^error: no file .*nope\.jsonl\n$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the watchdog's operations are drawn: a drain as a planned signal, a group restart as a kill", () => {
  const watchdog = (
    ts: number,
    event: TraceEventKind,
    peer: string | undefined,
    detail: string,
  ): TracedEvent => ({
    ts,
    pid: 1,
    role: "watchdog",
    event,
    channel: event === "reload" ? "process" : "signal",
    peer,
    detail,
  });
  const d = buildDiagram([
    watchdog(1, "reload", undefined, "worker 1, dispatcher"),
    watchdog(2, "drain", "worker 1", "reload; SIGWINCH"),
    watchdog(3, "group restart", "dispatcher", "SIGKILL: restarts with worker 2 (one-for-all)"),
  ]);
  assert.deepEqual(
    d.steps.map((s) =>
      s.kind === "arrow" ? [s.from, s.to, s.label, s.style] : s.kind === "note" ? [s.text] : []
    ),
    [
      ["reload: worker 1, dispatcher"],
      ["watchdog", "worker 1", "drain: reload; SIGWINCH", "process"],
      [
        "watchdog",
        "dispatcher",
        "group restart: SIGKILL: restarts with worker 2 (one-for-all)",
        "signal",
      ],
    ],
  );
});
