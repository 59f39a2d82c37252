import assert from "node:assert/strict";
import { timeChart } from "./report_html.ts";
import type { LoadTick } from "./load_gen.ts";

Deno.test("timeChart: every line of the chart lies inside its plot, requests/s scaled like the latencies", () => {
  const ticks: LoadTick[] = Array.from({ length: 20 }, (_, i) => ({
    tick: 1_000_000 + 100 * (i + 1),
    right: 300 + 10 * i,
    bad: 0,
    p50: 1 + i / 10,
    p99: 5 + i / 5,
    first: 1_000_000 + 100 * i + 1,
    last: 1_000_000 + 100 * (i + 1),
  }));
  const svg = timeChart(ticks, [], "the load");
  const height = Number(/<svg[^>]* height="(\d+)"/.exec(svg)![1]);
  for (const cls of ["rate", "p50", "p99"]) {
    const points = new RegExp(`class="${cls}" points="([^"]+)"`).exec(svg)![1];
    const ys = points.split(" ").map((p) => Number(p.split(",")[1]));
    assert.equal(ys.length, ticks.length, cls);
    for (const y of ys) assert.ok(y >= 0 && y <= height, `${cls}: y ${y} outside 0..${height}`);
  }
});
