/**
 * A sequence diagram (`diagram.ts`) drawn: as Mermaid (Markdown that code forges display) and as a
 * self-contained HTML page (SVG diagram, per-request latency chart, filter by request id; no
 * network needed to open it).
 *
 * @module
 */

import { requestLabel } from "../roles/mod.ts";
import { buildDiagram, clipLabel, type Diagram } from "./diagram.ts";
import { axisTicks, escapeXml } from "./svg.ts";
import type { TracedEvent } from "../roles/mod.ts";
import { readTrace } from "./timeline.ts";

const mermaidId = (name: string) => name.replace(/[^A-Za-z0-9]/g, "_");
const mermaidText = (s: string) => s.replace(/[;#<>]/g, " ").replace(/\s+/g, " ").trim() || " ";

/** The diagram as Markdown holding a Mermaid `sequenceDiagram`, at most `maxSteps` steps. */
export function toMermaid(d: Diagram, title: string, maxSteps = 150): string {
  const steps = d.steps.slice(0, maxSteps);
  const left = d.omitted + d.steps.slice(maxSteps).filter((s) => s.kind !== "gap").length;
  const lines = [
    `# ${title}`,
    "",
    `${d.lifelines.length} lifelines, ${steps.length} steps${
      left ? ` (the first ones; ${left} more are left out)` : ""
    }.`,
    "Arrows: `->>` messages (channel in brackets), `--)` the watchdog's process and signal events.",
    "",
    "```mermaid",
    "sequenceDiagram",
    ...d.lifelines.map((l) => `  participant ${mermaidId(l)} as ${l}`),
    ...steps.map((s) => {
      if (s.kind === "gap") {
        return `  Note over ${mermaidId(d.lifelines[0])},${
          mermaidId(d.lifelines.at(-1)!)
        }: … ${s.count} steps collapsed …`;
      }
      const req = s.req ? ` (req ${requestLabel(s.req)})` : "";
      if (s.kind === "note") {
        return `  Note over ${mermaidId(s.over)}: ${mermaidText(s.text)}${req}`;
      }
      const arrow = s.style === "message" ? "->>" : "--)";
      return `  ${mermaidId(s.from)}${arrow}${mermaidId(s.to)}: ${
        mermaidText(s.label)
      } [${s.channel}]${req}`;
    }),
    "```",
    "",
  ];
  return lines.join("\n");
}

const esc = escapeXml;

/** Where the page's times count from, and what that moment was. */
export interface TimeOrigin {
  /** The moment, ms since the epoch. */
  ts: number;
  /** What happened then, for the page to say (`the first request`, `the injected fault`). */
  label: string;
}

/** The latency chart: one point per request, at its receipt time, its latency up the side. */
function latencyChart(d: Diagram, origin: number): string {
  const w = 860, h = 260, left = 56, bottom = 36, top = 12, right = 16;
  if (d.latencies.length === 0) return "<p>No request reached the dispatcher in this trace.</p>";
  const xs = d.latencies.map((l) => l.ts - origin);
  const x0 = Math.min(0, ...xs), x1 = Math.max(x0 + 1, ...xs);
  const yMax = Math.max(1, ...d.latencies.map((l) => l.ms));
  const px = (t: number) => left + ((t - x0) / (x1 - x0)) * (w - left - right);
  const py = (ms: number) => h - bottom - (ms / yMax) * (h - bottom - top);
  const yTicks = axisTicks(yMax).map((v) =>
    `<line x1="${left - 4}" y1="${py(v)}" x2="${w - right}" y2="${py(v)}" class="grid"/>` +
    `<text x="${left - 8}" y="${py(v) + 4}" text-anchor="end">${v}</text>`
  ).join("");
  const xTicks = axisTicks(x1 - x0).map((v) =>
    `<line x1="${px(x0 + v)}" y1="${h - bottom}" x2="${px(x0 + v)}" y2="${h - bottom + 4}"/>` +
    `<text x="${px(x0 + v)}" y="${h - bottom + 16}" text-anchor="middle">${
      Math.round(x0 + v)
    }</text>`
  ).join("");
  const points = d.latencies.map((l) =>
    `<circle class="point" data-req="${requestLabel(l.req)}" cx="${
      px(l.ts - origin).toFixed(1)
    }" cy="${py(l.ms).toFixed(1)}" r="2.5"><title>req ${requestLabel(l.req)}: ${
      l.ms.toFixed(2)
    } ms, received at ${(l.ts - origin).toFixed(1)} ms</title></circle>`
  ).join("");
  return `<svg id="latency" xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
<g class="axis">${yTicks}${xTicks}
<line x1="${left}" y1="${top}" x2="${left}" y2="${h - bottom}"/>
<line x1="${left}" y1="${h - bottom}" x2="${w - right}" y2="${h - bottom}"/>
<text x="${(left + w - right) / 2}" y="${h - 4}" text-anchor="middle">received at (ms)</text>
<text x="12" y="${(top + h - bottom) / 2}" transform="rotate(-90 12 ${
    (top + h - bottom) / 2
  })" text-anchor="middle">latency (ms)</text></g>
${points}
</svg>`;
}

/**
 * The diagram as a self-contained HTML page: the lifelines' names stay at the top while the
 * sequence scrolls under them, a link jumps to the first fault, a request filter, and a latency
 * chart. Times count from `origin` (default: the first step drawn), the moment the scenario's
 * printed timeline counts from.
 */
export function toHtml(d: Diagram, title: string, origin?: TimeOrigin): string {
  const colW = 150, rowH = 26, top = 16;
  const x = (name: string) => 90 + d.lifelines.indexOf(name) * colW;
  const width = 90 + d.lifelines.length * colW;
  const height = top + d.steps.length * rowH + 10;
  const t0 = origin?.ts ?? d.steps[0]?.ts ?? 0;
  const colour = {
    message: "#1f4e99",
    process: "#2e7d32",
    signal: "#c62828",
    note: "#555",
  } as const;
  const lifelines = d.lifelines.map((l) =>
    `<g class="lifeline" data-name="${esc(l)}"><rect x="${
      x(l) - 60
    }" y="6" width="120" height="26" rx="4"/>` +
    `<text x="${x(l)}" y="24" text-anchor="middle">${esc(l)}</text></g>`
  ).join("\n");
  const lines = d.lifelines.map((l) =>
    `<line class="life" x1="${x(l)}" y1="0" x2="${x(l)}" y2="${height}"/>`
  ).join("");
  const fault = d.steps.findIndex((s) => s.kind !== "gap" && s.style === "signal");
  const steps = d.steps.map((s, i) => {
    const y = top + i * rowH;
    const id = i === fault ? ` id="fault"` : "";
    const time = `<text class="t" x="4" y="${y + 4}">${(s.ts - t0).toFixed(1)} ms</text>`;
    if (s.kind === "gap") {
      return `<g class="gap">${time}<line x1="60" y1="${y}" x2="${
        width - 10
      }" y2="${y}" stroke="#888" stroke-dasharray="8 4"/>` +
        `<text x="${width / 2}" y="${
          y - 4
        }" text-anchor="middle" fill="#555">… ${s.count} steps collapsed …</text></g>`;
    }
    const req = s.req === undefined ? "" : ` data-req="${requestLabel(s.req)}"`;
    if (s.kind === "note") {
      return `<g class="note ${s.style}"${id}${req}>${time}<rect x="${x(s.over) - 70}" y="${
        y - 10
      }" width="140" height="18" rx="3"/>` +
        `<text x="${x(s.over)}" y="${y + 3}" text-anchor="middle">${
          esc(clipLabel(s.text, 26))
        }</text>` +
        `<title>${esc(s.text)}${s.req ? ` (req ${requestLabel(s.req)})` : ""}</title></g>`;
    }
    const [x1, x2] = [x(s.from), x(s.to)];
    const dash = s.style === "message" ? "" : ` stroke-dasharray="5 3"`;
    const label = `${s.label} [${s.channel}]`;
    return `<g class="arrow ${s.style}"${id}${req}>${time}<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" stroke="${
      colour[s.style]
    }"${dash} marker-end="url(#head-${s.style})"/>` +
      `<text x="${(x1 + x2) / 2}" y="${y - 4}" text-anchor="middle" fill="${colour[s.style]}">${
        esc(clipLabel(label, 40))
      }</text>` +
      `<title>${esc(s.from)} → ${esc(s.to)}: ${esc(label)}${
        s.req ? ` (req ${requestLabel(s.req)})` : ""
      }</title></g>`;
  }).join("\n");
  const markers = (["message", "process", "signal"] as const).map((k) =>
    `<marker id="head-${k}" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="${
      colour[k]
    }"/></marker>`
  ).join("");
  const drawn = d.steps.filter((s) => s.kind !== "gap").length;
  const what = d.shown === "fault"
    ? "the start, then the first fault and what followed"
    : "its first steps; no fault came in them";
  const note = d.omitted > 0
    ? `<p class="warn">Long run: the diagram shows ${drawn} steps (${what}); ${d.omitted} more are left out (the trace file has them all).</p>`
    : "";
  const jump = fault < 0
    ? ""
    : `<a id="jump" href="#fault">jump to the first fault (${
      (d.steps[fault].ts - t0).toFixed(1)
    } ms)</a> · `;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
svg text { font: 11px ui-monospace, monospace; }
.head { position: sticky; top: 0; background: #fff; z-index: 1; border-bottom: 1px solid #ddd; }
.lifeline rect { fill: #eef3fb; stroke: #1f4e99; } .life { stroke: #999; stroke-dasharray: 2 3; }
.note rect { fill: #fff8d8; stroke: #c9a400; } .note.signal rect { fill: #fde8e8; stroke: #c62828; }
.t { fill: #888; } .point { fill: #1f4e99; } .warn { color: #c62828; }
.axis line { stroke: #999; } .axis .grid { stroke: #eee; } .axis text { fill: #555; }
.hidden { opacity: 0.08; } #fault:target rect, #fault:target line { stroke-width: 3; }
</style></head><body>
<h1>${esc(title)}</h1>
<p>${d.lifelines.length} lifelines, ${d.steps.length} steps; times in ms from ${
    esc(origin?.label ?? "the first step drawn")
  }. Blue: messages (channel in brackets). Green, dashed: the watchdog starting, stopping and
hearing from the roles. Red: exits, freezes, kills, injected faults.</p>
${note}
<p>${jump}<label>Request id: <input id="req" type="text" size="10" placeholder="all (2·15: the 2nd dispatcher's 15th)"></label></p>
<div class="head"><svg id="lifelines" xmlns="http://www.w3.org/2000/svg" width="${width}" height="38">
${lifelines}
</svg></div>
<svg id="sequence" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
<defs>${markers}</defs>
${lines}
${steps}
</svg>
<h2>Latency per request (ms, from the dispatcher's receipt to the request's last event)</h2>
${latencyChart(d, t0)}
<script>
document.getElementById("req").addEventListener("input", (e) => {
  const want = e.target.value.trim().replace(".", "·");
  for (const g of document.querySelectorAll("[data-req], g.arrow, g.note")) {
    g.classList.toggle("hidden", want !== "" && g.getAttribute("data-req") !== want);
  }
});
document.getElementById("jump")?.addEventListener("click", (e) => {
  e.preventDefault();
  const fault = document.getElementById("fault");
  const y = fault.getBoundingClientRect().top + window.scrollY - 120;
  window.scrollTo({ top: y });
  history.replaceState(null, "", "#fault");
});
</script>
</body></html>
`;
}

/**
 * Where the diagram of trace `tracePath` goes in `outDir`: named after the trace (`X.jsonl` gives
 * `X.sequence.md` and `X.sequence.html`), so that two traces in one folder never write the same
 * page, and no output is ever one of the trace's own files.
 */
export function diagramPaths(
  tracePath: string,
  outDir: string,
): { markdown: string; html: string } {
  const name = tracePath.slice(tracePath.lastIndexOf("/") + 1).replace(/\.jsonl$/, "");
  return { markdown: `${outDir}/${name}.sequence.md`, html: `${outDir}/${name}.sequence.html` };
}

/** How {@link renderTrace} draws a trace. */
export interface RenderOptions {
  /** The diagram's title (default `osps run`). */
  title?: string;
  /** The trace already read, if it was. */
  events?: TracedEvent[];
  /** Where the page's times count from (default: the first step drawn). */
  origin?: TimeOrigin;
}

/** Renders a trace file into `outDir` ({@link diagramPaths}); returns the files' paths. */
export function renderTrace(
  tracePath: string,
  outDir: string,
  options: RenderOptions = {},
): { markdown: string; html: string } {
  const title = options.title ?? "osps run";
  const diagram = buildDiagram(options.events ?? readTrace(tracePath));
  Deno.mkdirSync(outDir, { recursive: true });
  const paths = diagramPaths(tracePath, outDir);
  Deno.writeTextFileSync(paths.markdown, toMermaid(diagram, title));
  Deno.writeTextFileSync(paths.html, toHtml(diagram, title, options.origin));
  return paths;
}
