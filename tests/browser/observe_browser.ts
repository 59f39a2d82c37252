// The observer's page in headless Chromium (Debian's `chromium`, installed by .ci/run), driven
// like a user: open the printed address, watch the roles, start the load, kill worker 2 with its
// button, see it come back. Run with `deno task test:browser`.
import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";
import { stopUp, upObserved } from "../helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = new URL("../../out/observe.png", import.meta.url).pathname;

Deno.test("the observer's page: every role, the load, a SIGKILL click and the restart within 2 s; a screenshot", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-observe-" });
  const trace = `${dir}/trace.jsonl`;
  const o = await upObserved(["--stage", "ideal", "--workers", "3", "--trace", trace]);
  // Chromium's shared-memory files go to this directory, not /dev/shm (see diagram_browser.ts).
  const shm = Deno.makeTempDirSync({ prefix: "osps-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-dev-shm-usage",
    ],
    env: { ...Deno.env.toObject(), TMPDIR: shm },
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.setViewport({ width: 1400, height: 1000 });
    await page.goto(o.url);
    const field = (role: string, name: string) =>
      page.$eval(
        `.role[data-role="${role}"] dd[data-field="${name}"]`,
        (e) => e.textContent ?? "",
      );
    await page.waitForSelector('.role[data-role="standby"] dd[data-field="pid"]');
    const roles = await page.$$eval(
      ".role",
      (boxes) => boxes.map((b) => b.getAttribute("data-role")),
    );
    assert.deepEqual(roles, [
      "watchdog",
      "dispatcher",
      "worker 1",
      "worker 2",
      "worker 3",
      "standby",
    ]);
    assert.equal(await page.url(), `${o.origin}/`, "the token left the address bar");

    await page.$eval("#clients", (e) => (e as unknown as { value: string }).value = "4");
    await page.click("#load-start");
    // Browser-side conditions as text: they run in the page, not here.
    await page.waitForFunction(
      `/4 clients, mixed — [1-9]\\d* ok\\/s/.test(document.querySelector("#load-state").textContent)`,
      { timeout: 5000 },
    );

    const before = await field("worker 2", "pid");
    const clicked = performance.now();
    await page.click('.role[data-role="worker 2"] button[data-signal="SIGKILL"]');
    await page.waitForFunction(
      `document.querySelector('.role[data-role="worker 2"] dd[data-field="pid"]').textContent !== "${before}" &&
       document.querySelector('#log div[data-event="restart"][data-peer="worker 2"]') !== null`,
      { timeout: 2000 },
    );
    const recovered = performance.now() - clicked;
    assert.ok(recovered < 2000, `recovered in ${recovered.toFixed(0)} ms`);
    assert.notEqual(await field("worker 2", "pid"), before);
    assert.equal(await field("worker 2", "restarts"), "1");
    const log = await page.$$eval("#log div", (lines) => lines.map((l) => l.textContent));
    assert.ok(log.some((l) => /inject SIGKILL worker 2/.test(l!)), "the click, in the log");
    assert.ok(
      log.some((l) => /exit worker 2 {2}pid \d+ killed by SIGKILL/.test(l!)),
      `the crash: ${log}`,
    );
    // Messages drawn live (the run traces).
    await page.waitForSelector("#sequence-svg g.arrow.fifo", { timeout: 3000 });

    Deno.mkdirSync(new URL("../../out/", import.meta.url), { recursive: true });
    await page.screenshot({ path: SCREENSHOT as `${string}.png`, fullPage: true });
    const png = Deno.readFileSync(SCREENSHOT);
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG screenshot");
    // A narrower window: the page reflows to one column, nothing wider than the window.
    await page.setViewport({ width: 900, height: 1000 });
    const widths = await page.evaluate(`[document.documentElement.scrollWidth,
      Math.max(...[...document.querySelectorAll(".role")].map((r) => r.getBoundingClientRect().right))]`) as number[];
    assert.ok(widths.every((w) => w <= 900), `nothing past 900 px: ${widths}`);
    await page.click("#load-stop");
    await page.waitForFunction(
      `document.querySelector("#load-state").textContent === "no load"`,
      { timeout: 5000 },
    );
    assert.deepEqual(errors, [], "no error in the page");
  } finally {
    await browser.close();
    await stopUp(o.up);
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(shm, { recursive: true });
  }
});
