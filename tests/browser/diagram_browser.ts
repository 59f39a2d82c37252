// Browser tests: headless Chromium (Debian's `chromium`, installed by .ci/run) opens the HTML of
// real scenario runs. Run with `deno task test:browser`; it needs /usr/bin/chromium.
import assert from "node:assert/strict";
import {
  buildDiagram,
  readTrace,
  runFailureScenario,
  runStageScenario,
} from "../../scenarios/mod.ts";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--hide-scrollbars",
];

/**
 * Chromium's DOM of `html` after its scripts ran, and a screenshot of it. Chromium keeps its
 * profile and its shared-memory files (`--disable-dev-shm-usage`: in TMPDIR, not /dev/shm, where
 * an exit that skips their unlinking leaves them) in a directory removed after.
 */
async function render(html: string, dir: string): Promise<{ dom: string; png: Uint8Array }> {
  const profile = Deno.makeTempDirSync({ prefix: "osps-chromium-" });
  try {
    const run = (extra: string[]) =>
      new Deno.Command(CHROMIUM, {
        args: [
          ...FLAGS,
          "--disable-dev-shm-usage",
          `--user-data-dir=${profile}`,
          ...extra,
          `file://${html}`,
        ],
        env: { TMPDIR: profile },
        stdout: "piped",
        stderr: "null",
      }).output();
    const dom = new TextDecoder().decode((await run(["--dump-dom"])).stdout);
    await run([`--screenshot=${dir}/screenshot.png`, "--window-size=1400,1200"]);
    return { dom, png: Deno.readFileSync(`${dir}/screenshot.png`) };
  } finally {
    Deno.removeSync(profile, { recursive: true });
  }
}

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
