/**
 * A sequence diagram (`diagram.ts`) drawn: as Mermaid (Markdown that code forges display) and as a
 * self-contained HTML page (SVG diagram, per-request latency chart, filter by request id; no
 * network needed to open it).
 *
 * @module
 */

import { buildDiagram, clipLabel, type Diagram } from "./diagram.ts";
import { readTrace, type TracedEvent } from "./timeline.ts";

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
      const req = s.req ? ` (req ${s.req})` : "";
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

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The diagram as a self-contained HTML page: SVG sequence diagram, latency chart, request filter. */
export function toHtml(d: Diagram, title: string): string {
  const colW = 150, rowH = 26, top = 60;
  const x = (name: string) => 90 + d.lifelines.indexOf(name) * colW;
  const width = 90 + d.lifelines.length * colW;
  const height = top + d.steps.length * rowH + 30;
  const t0 = d.steps[0]?.ts ?? 0;
  const colour = {
    message: "#1f4e99",
    process: "#2e7d32",
    signal: "#c62828",
    note: "#555",
  } as const;
  const lifelines = d.lifelines.map((l) =>
    `<g class="lifeline" data-name="${esc(l)}"><rect x="${
      x(l) - 60
    }" y="8" width="120" height="26" rx="4"/>` +
    `<text x="${x(l)}" y="26" text-anchor="middle">${esc(l)}</text>` +
    `<line x1="${x(l)}" y1="34" x2="${x(l)}" y2="${height - 10}"/></g>`
  ).join("\n");
  const steps = d.steps.map((s, i) => {
    const y = top + i * rowH;
    const time = `<text class="t" x="4" y="${y + 4}">${(s.ts - t0).toFixed(1)} ms</text>`;
    if (s.kind === "gap") {
      return `<g class="gap">${time}<line x1="60" y1="${y}" x2="${
        width - 10
      }" y2="${y}" stroke="#888" stroke-dasharray="8 4"/>` +
        `<text x="${width / 2}" y="${
          y - 4
        }" text-anchor="middle" fill="#555">… ${s.count} steps collapsed …</text></g>`;
    }
    const req = s.req === undefined ? "" : ` data-req="${s.req}"`;
    if (s.kind === "note") {
      return `<g class="note ${s.style}"${req}>${time}<rect x="${x(s.over) - 70}" y="${
        y - 10
      }" width="140" height="18" rx="3"/>` +
        `<text x="${x(s.over)}" y="${y + 3}" text-anchor="middle">${
          esc(clipLabel(s.text, 26))
        }</text>` +
        `<title>${esc(s.text)}${s.req ? ` (req ${s.req})` : ""}</title></g>`;
    }
    const [x1, x2] = [x(s.from), x(s.to)];
    const dash = s.style === "message" ? "" : ` stroke-dasharray="5 3"`;
    const label = `${s.label} [${s.channel}]`;
    return `<g class="arrow ${s.style}"${req}>${time}<line x1="${x1}" y1="${y}" x2="${x2}" y2="${y}" stroke="${
      colour[s.style]
    }"${dash} marker-end="url(#head-${s.style})"/>` +
      `<text x="${(x1 + x2) / 2}" y="${y - 4}" text-anchor="middle" fill="${colour[s.style]}">${
        esc(clipLabel(label, 40))
      }</text>` +
      `<title>${esc(s.from)} → ${esc(s.to)}: ${esc(label)}${
        s.req ? ` (req ${s.req})` : ""
      }</title></g>`;
  }).join("\n");
  const markers = (["message", "process", "signal"] as const).map((k) =>
    `<marker id="head-${k}" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="${
      colour[k]
    }"/></marker>`
  ).join("");
  const maxMs = Math.max(1, ...d.latencies.map((l) => l.ms));
  const barW = Math.max(2, Math.min(20, 800 / Math.max(1, d.latencies.length)));
  const chartH = 160;
  const bars = d.latencies.map((l, i) => {
    const h = Math.max(1, (l.ms / maxMs) * (chartH - 30));
    return `<rect class="bar" data-req="${l.req}" x="${40 + i * barW}" y="${
      chartH - 10 - h
    }" width="${barW - 1}" height="${h}"><title>req ${l.req}: ${l.ms.toFixed(2)} ms</title></rect>`;
  }).join("");
  const drawn = d.steps.filter((s) => s.kind !== "gap").length;
  const note = d.omitted > 0
    ? `<p class="warn">Long run: the diagram shows ${drawn} steps (the start, then the first fault and what followed); ${d.omitted} more are left out (the trace file has them all).</p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
svg text { font: 11px ui-monospace, monospace; }
.lifeline rect { fill: #eef3fb; stroke: #1f4e99; } .lifeline line { stroke: #999; stroke-dasharray: 2 3; }
.note rect { fill: #fff8d8; stroke: #c9a400; } .note.signal rect { fill: #fde8e8; stroke: #c62828; }
.t { fill: #888; } .bar { fill: #1f4e99; } .warn { color: #c62828; }
.hidden { opacity: 0.08; }
</style></head><body>
<h1>${esc(title)}</h1>
<p>${d.lifelines.length} lifelines, ${d.steps.length} steps. Blue: messages (channel in brackets). Green, dashed: the
watchdog starting roles and learning they are ready. Red: exits, freezes, kills, injected faults.</p>
${note}
<label>Request id: <input id="req" type="number" min="1" placeholder="all"></label>
<svg id="sequence" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
<defs>${markers}</defs>
${lifelines}
${steps}
</svg>
<h2>Latency per request (ms, from the dispatcher's receipt to the request's last event)</h2>
<svg id="latency" xmlns="http://www.w3.org/2000/svg" width="${
    Math.max(300, 60 + d.latencies.length * barW)
  }" height="${chartH}">
<line x1="38" y1="${chartH - 10}" x2="${60 + d.latencies.length * barW}" y2="${
    chartH - 10
  }" stroke="#999"/>
<text x="2" y="14">${maxMs.toFixed(1)} ms</text>
${bars}
</svg>
<script>
document.getElementById("req").addEventListener("input", (e) => {
  const want = e.target.value;
  for (const g of document.querySelectorAll("[data-req], g.arrow, g.note")) {
    g.classList.toggle("hidden", want !== "" && g.getAttribute("data-req") !== want);
  }
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

/**
 * Renders a trace file into `outDir` ({@link diagramPaths}); returns the files' paths. `events`:
 * the trace already read, if it was.
 */
export function renderTrace(
  tracePath: string,
  outDir: string,
  title = "osps run",
  events: TracedEvent[] = readTrace(tracePath),
): { markdown: string; html: string } {
  const diagram = buildDiagram(events);
  Deno.mkdirSync(outDir, { recursive: true });
  const paths = diagramPaths(tracePath, outDir);
  Deno.writeTextFileSync(paths.markdown, toMermaid(diagram, title));
  Deno.writeTextFileSync(paths.html, toHtml(diagram, title));
  return paths;
}
