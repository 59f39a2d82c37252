// The pages of experiments, in headless Chromium: each draws what the run saw, as an SVG.
import assert from "node:assert/strict";
import { renderExperimentPage, runExperiment } from "../../scenarios/mod.ts";
import { render } from "./render.ts";

Deno.test("experiment zombie's page draws the zombie interval, the adoption and the reaping", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runExperiment("zombie");
    assert.ok(report.passed);
    Deno.writeTextFileSync(`${dir}/zombie.html`, renderExperimentPage(report));
    const { dom, png } = await render(`${dir}/zombie.html`, dir);
    const lanes = [...dom.matchAll(/<g class="lane" data-id="(\d+)"/g)].map((m) => Number(m[1]));
    assert.equal(lanes.length, 5, "busy parent, its child, this process, the orphan's parent, it");
    assert.ok(lanes.includes(Deno.pid), "this process, the subreaper, has a lane");
    assert.equal(
      dom.match(/<rect class="span" data-state="zombie"/g)?.length,
      2,
      "two zombie intervals: the unreaped child, then the orphan before its adopter reaps it",
    );
    assert.match(dom, /<g class="link">.*>adopted<\/text>/s, "the adoption is drawn");
    assert.equal(dom.match(/>waitpid<\/text>/g)?.length, 2, "both reapings are drawn");
    assert.match(dom, /every observation held/);
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG screenshot");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("experiment pipe-capacity's page, in Python, draws the writer asleep on the full pipe", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const report = await runExperiment("pipe-capacity", { language: "python" });
    assert.ok(report.passed);
    Deno.writeTextFileSync(`${dir}/page.html`, renderExperimentPage(report));
    const { dom } = await render(`${dir}/page.html`, dir);
    assert.match(dom, /experiment pipe-capacity — in Python/);
    assert.match(dom, /data-state="asleep"[^>]*><title>asleep: write\(\) of 100000 bytes/);
    assert.match(dom, />read 65536 bytes<\/text>/, "the first read: the pipe's capacity");
    assert.match(dom, />"wrote 100000"<\/text>/, "the writer's own line, once the pipe drained");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
