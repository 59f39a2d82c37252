/**
 * A run's trace as a sequence diagram: one lifeline per role instance (client k, dispatcher,
 * worker k, watchdog), one arrow per message, labelled with what it carried and the channel it
 * crossed, the watchdog's restarts and signals drawn as such. Rendered as Mermaid (Markdown that
 * code forges display) and as a self-contained HTML page (SVG diagram, per-request latency chart,
 * filter by request id; no network needed to open it).
 *
 * @module
 */

import { inbound, readTrace, type TracedEvent } from "./timeline.ts";

/** One step of the diagram. */
export type Step =
  | {
    kind: "arrow";
    from: string;
    to: string;
    label: string;
    channel: string;
    req?: number;
    ts: number;
    /** `message` for data, `process` for spawns and readiness, `signal` for exits and kills. */
    style: "message" | "process" | "signal";
  }
  | {
    kind: "note";
    over: string;
    text: string;
    req?: number;
    ts: number;
    style: "note" | "signal";
  }
  | { kind: "gap"; count: number; ts: number };

/** A diagram: its lifelines, its steps in time order, and what was left out. */
export interface Diagram {
  /** Lifelines, left to right: clients, dispatcher, workers, watchdog. */
  lifelines: string[];
  /** The steps drawn, in time order. */
  steps: Step[];
  /** Steps left out: collapsed in the middle or cut at the end (the diagram says so). */
  omitted: number;
  /** Latency of each request, from the dispatcher's receipt to its last event, ms. */
  latencies: { req: number; ms: number }[];
}

const ROLE_ORDER = (name: string): [number, number] => {
  const n = Number(name.split(" ")[1] ?? 0);
  if (name.startsWith("client")) return [0, n];
  if (name === "dispatcher") return [1, 0];
  if (name.startsWith("worker")) return [2, n];
  return [3, 0];
};

/**
 * Learns, in time order, which client or worker stands behind the addresses and tokens the others
 * saw. Ports are reused over a long run, so a peer resolves to whoever held its port last.
 */
class PeerResolver {
  #byPort = new Map<string, string>();
  #byToken = new Map<string, string>();

  learn(e: TracedEvent): void {
    const port = (s: string) => /:(\d+)$/.exec(s)?.[1] ?? /port (\d+)/.exec(s)?.[1];
    if (e.role.startsWith("client") && e.event === "connect" && e.detail) {
      const p = port(e.detail);
      if (p) this.#byPort.set(p, e.role);
    }
    if (e.role.startsWith("client") && e.event === "send" && e.detail?.startsWith("LISTEN ")) {
      this.#byPort.set(e.detail.slice(7), e.role);
    }
    if (e.role.startsWith("worker") && e.event === "ready" && e.detail) {
      const p = port(e.detail);
      if (p) this.#byPort.set(p, e.role);
    }
    if (e.role.startsWith("worker") && e.event === "send" && e.detail?.startsWith("READY ")) {
      this.#byToken.set(e.detail.slice(6), e.role);
    }
  }

  resolve(peer: string): string {
    if (/^(dispatcher|watchdog|worker \d+|client \d+)$/.test(peer)) return peer;
    const token = /^worker calling for (\S+)$/.exec(peer)?.[1];
    if (token && this.#byToken.has(token)) return this.#byToken.get(token)!;
    const p = /:(\d+)$/.exec(peer)?.[1];
    if (p && this.#byPort.has(p)) return this.#byPort.get(p)!;
    return peer.startsWith("worker") ? "worker ?" : peer.startsWith("client") ? "client ?" : peer;
  }
}

const short = (s: string, n = 48) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Builds the diagram of `events`, drawing at most `maxSteps` steps. */
export function buildDiagram(events: TracedEvent[], maxSteps = 300): Diagram {
  const peers = new PeerResolver();
  const resolve = (peer: string) => peers.resolve(peer);
  const steps: Step[] = [];
  for (const e of events) {
    peers.learn(e);
    const base = { req: e.req, ts: e.ts };
    const detail = e.detail ? short(e.detail) : "";
    if (e.role === "scenario" || e.role === "bench") {
      steps.push({
        kind: "note",
        over: resolve(e.peer ?? "watchdog"),
        text: `${e.event}${detail ? ` ${detail}` : ""}`,
        style: "signal",
        ...base,
      });
      continue;
    }
    if (e.role === "watchdog" && e.peer) {
      const role = resolve(e.peer);
      if (e.event === "exit") {
        steps.push({
          kind: "arrow",
          from: role,
          to: "watchdog",
          label: `exit: ${detail}`,
          channel: "signal",
          style: "signal",
          ...base,
        });
      } else if (e.event === "ready") {
        steps.push({
          kind: "arrow",
          from: role,
          to: "watchdog",
          label: "ready",
          channel: "process",
          style: "process",
          ...base,
        });
      } else if (e.event === "spawn" || e.event === "restart") {
        steps.push({
          kind: "arrow",
          from: "watchdog",
          to: role,
          label: `${e.event} ${detail}`,
          channel: "process",
          style: "process",
          ...base,
        });
      } else if (e.event === "frozen" || e.event === "kill") {
        steps.push({
          kind: "arrow",
          from: "watchdog",
          to: role,
          label: `${e.event}: ${detail}`,
          channel: "signal",
          style: "signal",
          ...base,
        });
      } else {steps.push({
          kind: "note",
          over: role,
          text: `${e.event} ${detail}`,
          style: e.event === "failed" ? "signal" : "note",
          ...base,
        });}
      continue;
    }
    if (e.peer && !inbound(e)) {
      const to = resolve(e.peer);
      steps.push({
        kind: "arrow",
        from: e.role,
        to,
        label: `${e.event === "send" || e.event === "reply" ? "" : `${e.event}: `}${detail}`,
        channel: e.channel,
        style: "message",
        ...base,
      });
    } else if (!e.peer && e.event !== "ready") {
      steps.push({
        kind: "note",
        over: e.role,
        text: `${e.event}${detail ? `: ${detail}` : ""}`,
        style: e.channel === "signal" ? "signal" : "note",
        ...base,
      });
    }
  }
  const drawn = focus(steps, maxSteps);
  const names = new Set<string>();
  for (const s of drawn) {
    if (s.kind === "arrow") names.add(s.from).add(s.to);
    else if (s.kind === "note") names.add(s.over);
  }
  const lifelines = [...names].sort((a, b) => {
    const [ga, na] = ROLE_ORDER(a), [gb, nb] = ROLE_ORDER(b);
    return ga - gb || na - nb || a.localeCompare(b);
  });
  const first = new Map<number, number>(), last = new Map<number, number>();
  for (const e of events) {
    if (e.req === undefined) continue;
    if (e.role === "dispatcher" && e.event === "recv" && !first.has(e.req)) first.set(e.req, e.ts);
    last.set(e.req, e.ts);
  }
  const latencies = [...first].map(([req, t]) => ({ req, ms: (last.get(req) ?? t) - t })).sort((
    a,
    b,
  ) => a.req - b.req);
  const shown = drawn.filter((s) => s.kind !== "gap").length;
  return { lifelines, steps: drawn, omitted: steps.length - shown, latencies };
}

/**
 * At most `maxSteps` steps of a long run that stay readable: the start; then, if a fault or a
 * watchdog reaction (red) happens later, the window around the first one, and around each watchdog
 * step after it (its restarts, readiness, kills: under load hundreds of messages may come between
 * a crash and its restart) while room is left. Each run of steps left out becomes one gap.
 */
function focus(steps: Step[], maxSteps: number): Step[] {
  if (steps.length <= maxSteps) return steps;
  const head = Math.floor(maxSteps / 4);
  const fault = steps.findIndex((s, i) => i >= head && s.kind !== "gap" && s.style === "signal");
  if (fault < 0) return steps.slice(0, maxSteps);
  const keep = new Set<number>();
  const take = (from: number, to: number) => {
    for (let i = Math.max(0, from); i < Math.min(steps.length, to) && keep.size < maxSteps; i++) {
      keep.add(i);
    }
  };
  take(0, head);
  take(fault - 20, fault + Math.floor(maxSteps / 3));
  for (let i = fault + 1; i < steps.length && keep.size < maxSteps; i++) {
    const s = steps[i];
    if (s.kind !== "gap" && (s.style === "signal" || s.style === "process")) take(i - 3, i + 4);
  }
  if (keep.size < maxSteps) take(fault, steps.length);
  const drawn: Step[] = [];
  let skipped = 0;
  for (let i = 0; i < steps.length; i++) {
    if (!keep.has(i)) {
      skipped++;
      continue;
    }
    if (skipped > 0) drawn.push({ kind: "gap", count: skipped, ts: steps[i].ts });
    skipped = 0;
    drawn.push(steps[i]);
  }
  return drawn;
}

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
          esc(short(s.text, 26))
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
        esc(short(label, 40))
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

/** Renders a trace file into `outDir` as `sequence.md` and `sequence.html`; returns their paths. */
export function renderTrace(
  tracePath: string,
  outDir: string,
  title = "osps run",
): { markdown: string; html: string } {
  const diagram = buildDiagram(readTrace(tracePath));
  Deno.mkdirSync(outDir, { recursive: true });
  const markdown = `${outDir}/sequence.md`;
  const html = `${outDir}/sequence.html`;
  Deno.writeTextFileSync(markdown, toMermaid(diagram, title));
  Deno.writeTextFileSync(html, toHtml(diagram, title));
  return { markdown, html };
}
