/**
 * The HTML report of `deno task check`: one self-contained page (no script, no fetch) with, per
 * stage, the verdicts by group, every check with what it sent and got, the architecture as a
 * picture (the supervisor, the dispatcher on its port, the workers, the segment they map, the
 * pipes between them), and requests per second and latency over time, the faults marked.
 *
 * @module
 */

import { axisTicks, escapeXml as esc } from "../scenarios/svg.ts";
import type { Architecture, ProcessView } from "./architecture.ts";
import type { LoadTick } from "./load_gen.ts";
import type { FaultOutcome } from "./faults.ts";
import type { StageReport } from "./run.ts";
import { summaryLine } from "./report.ts";
import { GROUPS, groupVerdict } from "./verdict.ts";

/** The architecture as an SVG picture. */
export function architectureSvg(a: Architecture, port: number): string {
  const boxW = 150, boxH = 44, gap = 24;
  const workers = a.processes.filter((p) => p.role === "worker");
  const others = a.processes.filter((p) => p.role === "other");
  const top = a.processes.filter((p) => p.role === "supervisor");
  const dispatcher = a.processes.find((p) => p.role === "dispatcher");
  const rowWidth = (n: number) => n * boxW + Math.max(0, n - 1) * gap;
  const width = Math.max(760, rowWidth(workers.length) + 80, rowWidth(others.length + 2) + 80);
  const at = new Map<number, { x: number; y: number }>();
  const row = (ps: ProcessView[], y: number, x0 = (width - rowWidth(ps.length)) / 2) =>
    ps.forEach((p, i) => at.set(p.pid, { x: x0 + i * (boxW + gap), y }));
  row(top, 20);
  row(dispatcher ? [dispatcher, ...others] : others, 120, 40);
  const segY = 210;
  row(workers, 300);
  const height = 300 + boxH + 30;
  const center = (pid: number) => {
    const p = at.get(pid)!;
    return { x: p.x + boxW / 2, y: p.y + boxH / 2 };
  };
  const parts: string[] = [];
  for (const p of a.processes) {
    if (at.has(p.ppid) && at.has(p.pid)) {
      const [c, q] = [center(p.pid), center(p.ppid)];
      parts.push(
        `<line class="tree" x1="${q.x}" y1="${q.y + boxH / 2}" x2="${c.x}" y2="${
          c.y - boxH / 2
        }"/>`,
      );
    }
  }
  const segment = dispatcher && a.shared.find((s) => s.pids.includes(dispatcher.pid));
  if (segment) {
    const sx = width / 2;
    parts.push(
      `<rect class="segment" x="${sx - 130}" y="${segY}" width="260" height="30" rx="15"/>` +
        `<text x="${sx}" y="${segY + 19}" text-anchor="middle">${
          esc(segment.name)
        } (shared memory)</text>`,
    );
    for (const pid of segment.pids) {
      if (!at.has(pid)) continue;
      const c = center(pid);
      const y = c.y < segY ? c.y + boxH / 2 : c.y - boxH / 2;
      parts.push(
        `<line class="maps" x1="${c.x}" y1="${y}" x2="${sx}" y2="${
          c.y < segY ? segY : segY + 30
        }"/>`,
      );
    }
  }
  if (dispatcher) {
    const d = center(dispatcher.pid);
    for (const w of workers) {
      const pipes = a.pipes.filter((p) =>
        p.holders.some((h) => h.pid === w.pid) && p.holders.some((h) => h.pid === dispatcher.pid)
      );
      const c = center(w.pid);
      parts.push(
        `<path class="pipe" d="M${d.x + 40},${d.y + boxH / 2} C${d.x + 40},${segY - 20} ${
          c.x + 30
        },${segY + 50} ${c.x + 30},${c.y - boxH / 2}"><title>${
          esc(
            pipes.map((p) =>
              `${p.path}: ${p.holders.map((h) => `${h.pid} (${h.mode})`).join(", ")}`
            ).join("\n"),
          )
        }</title></path>` +
          `<text class="pipe-label" x="${c.x + 34}" y="${
            c.y - boxH / 2 - 6
          }">${pipes.length} pipes</text>`,
      );
    }
    parts.push(
      `<text class="port" x="${d.x - boxW / 2}" y="${
        d.y - boxH / 2 - 8
      }">TCP :${port} ← clients</text>`,
    );
  }
  for (const p of a.processes) {
    const pos = at.get(p.pid);
    if (!pos) continue;
    parts.push(
      `<g class="box ${p.role}"><rect x="${pos.x}" y="${pos.y}" width="${boxW}" height="${boxH}" rx="5"/>` +
        `<text x="${pos.x + boxW / 2}" y="${
          pos.y + 18
        }" text-anchor="middle">${p.role} ${p.pid}</text>` +
        `<text class="small" x="${pos.x + boxW / 2}" y="${pos.y + 34}" text-anchor="middle">${
          esc(p.command.slice(0, 24))
        }</text><title>${
          esc([
            p.command,
            ...p.listens.map((l) => `listens ${l}`),
            ...p.maps.map((m) => `maps ${m}`),
            ...p.pipes.map((f) => `pipe ${f}`),
          ].join("\n"))
        }</title></g>`,
    );
  }
  return `<svg class="architecture" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${
    parts.join("\n")
  }</svg>`;
}

/** Requests per second and latency (p50, p99) over time, each fault a red line with its name. */
export function timeChart(ticks: LoadTick[], faults: FaultOutcome[], title: string): string {
  if (ticks.length === 0) return `<p>${esc(title)}: no load ran.</p>`;
  const w = 860, h = 220, left = 56, right = 56, top = 24, bottom = 30;
  const t0 = ticks[0].tick - 100;
  const span = Math.max(1, ticks.at(-1)!.tick - t0);
  const rates = ticks.map((t) => (t.right + t.bad) * 10);
  const rMax = Math.max(1, ...rates);
  const lMax = Math.max(0.1, ...ticks.map((t) => t.p99));
  const px = (t: number) => left + ((t - t0) / span) * (w - left - right);
  const pr = (v: number) => h - bottom - (v / rMax) * (h - top - bottom);
  const pl = (v: number) => h - bottom - (v / lMax) * (h - top - bottom);
  const line = (ys: number[], cls: string) =>
    `<polyline class="${cls}" points="${
      ticks.map((t, i) => `${px(t.tick).toFixed(1)},${ys[i].toFixed(1)}`).join(" ")
    }"/>`;
  const axis =
    axisTicks(rMax).map((v) =>
      `<text x="${left - 6}" y="${
        pr(v) + 4
      }" text-anchor="end">${v}</text><line class="grid" x1="${left}" x2="${w - right}" y1="${
        pr(v)
      }" y2="${pr(v)}"/>`
    ).join("") +
    axisTicks(lMax).map((v) =>
      `<text x="${w - right + 6}" y="${pl(v) + 4}">${+v.toFixed(2)}</text>`
    ).join("") +
    axisTicks(span / 1000).map((s) =>
      `<text x="${px(t0 + s * 1000)}" y="${h - 10}" text-anchor="middle">${s} s</text>`
    ).join("");
  const marks = faults.filter((f) => f.at >= t0 && f.at <= t0 + span).map((f) =>
    `<line class="fault" x1="${px(f.at)}" x2="${px(f.at)}" y1="${top}" y2="${h - bottom}"/>` +
    `<text class="fault-label" x="${px(f.at) + 3}" y="${top + 10}">${esc(f.kind)}</text>`
  ).join("");
  const bad = ticks.filter((t) => t.bad > 0).map((t) =>
    `<circle class="bad" cx="${px(t.tick)}" cy="${
      h - bottom
    }" r="3"><title>${t.bad} without their right answer</title></circle>`
  ).join("");
  return `<figure><figcaption>${
    esc(title)
  }: requests/s (blue, left), latency p50 and p99 in ms (right)</figcaption>
<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><g class="axis">${axis}
<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}"/></g>
${line(rates.map(pr), "rate")}${line(ticks.map((t) => pl(t.p50)), "p50")}${
    line(ticks.map((t) => pl(t.p99)), "p99")
  }
${marks}${bad}</svg></figure>`;
}

function stageSection(r: StageReport): string {
  const groups = GROUPS.map((g) => {
    const mine = r.checks.filter((c) => c.group === g);
    if (mine.length === 0) return "";
    const rows = mine.map((c) =>
      `<tr class="${c.verdict}"><td class="v">${c.verdict}</td><td>${esc(c.name)}</td><td>${
        esc(c.detail)
      }${
        c.exchange?.length
          ? `<details${
            c.verdict === "fail" ? " open" : ""
          }><summary>what was sent and what came back</summary><pre>${
            esc(c.exchange.join("\n"))
          }</pre></details>`
          : ""
      }</td></tr>`
    ).join("\n");
    return `<h3 class="${groupVerdict(r.checks, g)}">${g}: ${groupVerdict(r.checks, g)}${
      g === "faults" ? ` <small>(${esc(r.schedule)})</small>` : ""
    }</h3><table>${rows}</table>`;
  }).join("\n");
  const picture = r.architecture
    ? architectureSvg(r.architecture, r.port)
    : "<p>No architecture was read.</p>";
  const charts = [
    r.load ? timeChart(r.load.ticks, [], "the measured load") : "",
    r.faultTicks.length ? timeChart(r.faultTicks, r.faults, "the load under the faults") : "",
  ].join("\n");
  return `<section><h2>${esc(r.stage)} — ${
    r.passed ? "PASS" : r.interrupted ? "interrupted" : "FAIL"
  }</h2>
<p><code>${esc(r.command.join(" "))}</code></p>
<p>${esc(summaryLine(r.checks))}</p>
<h3>architecture</h3>${picture}
${charts}
${groups}
</section>`;
}

/** The whole report page; `extra` is HTML put after the stages (a comparison). */
export function checkPage(reports: StageReport[], extra = ""): string {
  const all = reports.flatMap((r) => r.checks);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>osps check — ${esc(summaryLine(all))}</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; max-width: 1100px; }
table { border-collapse: collapse; width: 100%; } td { border-bottom: 1px solid #eee; padding: 3px 6px; vertical-align: top; }
td.v { width: 3em; font-weight: bold; } tr.pass td.v, h3.pass { color: #2e7d32; } tr.fail td.v, h3.fail { color: #c62828; }
tr.skip td.v, h3.skip { color: #888; } pre { background: #f6f6f6; padding: 6px; overflow-x: auto; }
svg text { font: 11px ui-monospace, monospace; } .small { fill: #555; font-size: 9px; }
.box rect { fill: #eef3fb; stroke: #1f4e99; } .box.supervisor rect { fill: #eaf5ea; stroke: #2e7d32; }
.box.dispatcher rect { fill: #fff3e0; stroke: #e65100; } .box.other rect { fill: #f4f4f4; stroke: #999; }
.tree { stroke: #999; } .maps { stroke: #8e24aa; stroke-dasharray: 3 3; } .segment { fill: #f3e5f5; stroke: #8e24aa; }
.pipe { fill: none; stroke: #1f4e99; stroke-width: 1.5; } .pipe-label, .port { fill: #1f4e99; }
.axis line { stroke: #999; } .axis .grid { stroke: #eee; } .axis text { fill: #555; }
.rate { fill: none; stroke: #1f4e99; } .p50 { fill: none; stroke: #2e7d32; } .p99 { fill: none; stroke: #f9a825; }
.fault { stroke: #c62828; stroke-dasharray: 4 2; } .fault-label { fill: #c62828; } .bad { fill: #c62828; }
</style></head><body>
<h1>osps check</h1>
<p>${esc(summaryLine(all))}</p>
${reports.map(stageSection).join("\n")}
${extra}
</body></html>
`;
}
