// Browser tests: headless Chromium (Debian's `chromium`, installed by .ci/run) opens the HTML of
// real scenario runs. Run with `deno task test:browser`; it needs /usr/bin/chromium.
import assert from "node:assert/strict";
import {
  buildDiagram,
  readTrace,
  runFailureScenario,
  runStageScenario,
} from "../../scenarios/mod.ts";
import { render } from "./render.ts";

Deno.test("the HTML of scenario ideal: one lifeline per role, every request's arrows, a screenshot", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runStageScenario({ stage: "client-calls-worker", outDir: dir });
    const d = buildDiagram(readTrace(report.tracePath));
    const { dom, png } = await render(Deno.realPathSync(report.diagram.html), dir);
    const lifelines = [...dom.matchAll(/<g class="lifeline" data-name="([^"]+)"/g)].map((m) =>
      m[1]
    );
    assert.deepEqual(lifelines, [
      "client 1",
      "client 2",
      "client 3",
      "client 4",
      "dispatcher",
      "worker 1",
      "worker 2",
      "worker 3",
      "watchdog",
    ]);
    assert.equal(
      dom.match(/<g class="arrow /g)?.length,
      d.steps.filter((s) => s.kind === "arrow").length,
    );
    assert.match(dom, /REDIRECT 127\.0\.0\.1 \d+ \[tcp\]/, "the ideal flow: REDIRECT drawn");
    assert.equal(dom.match(/<circle class="point"/g)?.length, 20, "a latency point per request");
    assert.match(dom, /times in ms from the first request sent, as in the printed timeline/);
    assert.doesNotMatch(
      dom,
      /class="note signal"|class="arrow signal"/,
      "the normal stop is no fault",
    );
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG screenshot");
    assert.ok(png.length > 20_000, "the screenshot shows something");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the HTML of scenario worker-crash shows the restart as such", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runFailureScenario({ name: "worker-crash", stage: "relay", outDir: dir });
    assert.ok(report.passed);
    const { dom } = await render(Deno.realPathSync(report.diagram.html), dir);
    assert.match(dom, /<g class="note signal"[^>]*>.*inject SIGKILL/s, "the injected fault");
    assert.match(
      dom,
      /<g class="arrow signal"[^>]*>.*exit: pid \d+ killed by SIGKILL/s,
      "the crash, in red",
    );
    assert.match(dom, /<g class="arrow process"[^>]*>.*restart pid \d+/s, "the restart");
    assert.match(dom, /<a id="jump" href="#fault">jump to the first fault \(-?\d/);
    assert.match(
      dom,
      /<g class="(note|arrow) signal" id="fault"/,
      "the link's target is the fault",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
