/**
 * The observer's page: one self-contained HTML document (inline style and script, nothing fetched
 * from elsewhere) that follows `/api/events` and acts through the POST routes with the token it was
 * opened with. It shows a box per role (state, pid, port, heartbeat age against the timeout,
 * restarts, served, queue, last exit, and the signal buttons), the load control, requests/s and the
 * load's latency over the last minute, the live sequence of messages (when the run traces) and the
 * event log.
 *
 * @module
 */

const STYLE = `
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --mute: #6e7781; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { padding: 10px 16px; background: #24292f; color: #fff; display: flex; gap: 16px; align-items: baseline; }
header h1 { font-size: 16px; margin: 0; }
header .meta { color: #d0d7de; }
#banner { padding: 6px 16px; background: #fff8c5; border-bottom: 1px solid var(--line); display: none; }
main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; padding: 12px 16px; }
@media (max-width: 1000px) { main { grid-template-columns: minmax(0, 1fr); } }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; min-width: 0; overflow-x: auto; }
section h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; color: var(--mute); }
#roles { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(220px, 100%), 1fr)); gap: 8px; }
.role { border: 1px solid var(--line); border-left: 6px solid var(--mute); border-radius: 6px; padding: 6px 8px; }
.role.ready { border-left-color: var(--ok); } .role.busy { border-left-color: #0969da; }
.role.starting, .role.stopping { border-left-color: var(--warn); }
.role.failed, .role.dead, .role.empty { border-left-color: var(--bad); }
.role .name { font-weight: 600; } .role .state { float: right; color: var(--mute); }
.role dl { display: grid; grid-template-columns: auto 1fr; gap: 0 8px; margin: 4px 0; font-size: 12px; }
.role dt { color: var(--mute); } .role dd { margin: 0; font-variant-numeric: tabular-nums; }
.beat { height: 6px; background: #eaeef2; border-radius: 3px; overflow: hidden; margin: 4px 0; }
.beat span { display: block; height: 100%; background: var(--ok); }
.beat span.late { background: var(--bad); }
.role button { font-size: 11px; padding: 2px 5px; margin: 2px 2px 0 0; cursor: pointer; }
.role button.kill { color: var(--bad); }
#load, #operate { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
#operate { margin-bottom: 8px; }
#load input { width: 5em; }
svg { display: block; }
.chart { width: 100%; }
.chart { height: 90px; margin-bottom: 6px; }
.chart text, #sequence text { font: 11px system-ui, sans-serif; fill: var(--mute); }
#sequence { height: 420px; overflow: auto; }
#sequence line.life { stroke: var(--line); }
#sequence .arrow line { stroke-width: 1.2; }
#sequence .tcp line { stroke: #0969da; } #sequence .fifo line { stroke: #8250df; }
#sequence .shm line { stroke: #1a7f37; } #sequence .signal line { stroke: var(--bad); }
#sequence .process line { stroke: var(--warn); }
#sequence .arrow text { fill: #1f2328; }
#log { height: 260px; overflow-y: auto; font: 12px ui-monospace, monospace; margin: 0; }
#log div.signal { color: var(--bad); } #log div.process { color: var(--warn); }
.wide { grid-column: 1 / -1; }
.note { color: var(--mute); font-size: 12px; }
`;

const SCRIPT = `
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token") || sessionStorage.getItem("osps-token") || "";
if (params.get("token")) { sessionStorage.setItem("osps-token", token); history.replaceState(null, "", "/"); }
const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, text) => {
  const svg = ["svg", "line", "text", "polyline", "g", "rect", "defs"].includes(tag);
  const e = document.createElementNS(svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
let hello = null;
const stats = [];
const steps = [];
let dropped = 0;
let workers = 0;

function banner(text) { const b = $("banner"); b.textContent = text; b.style.display = text ? "block" : "none"; }

async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers: { "authorization": "Bearer " + token, "content-type": "application/json" }, body: JSON.stringify(body) });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) banner(path + ": " + r.status + " " + (answer.error || ""));
  return { status: r.status, answer };
}

function roleBox(r) {
  let box = document.querySelector('.role[data-role="' + r.role + '"]');
  if (!box) {
    box = el("div", { class: "role", "data-role": r.role, "data-kind": r.kind });
    box.innerHTML = '<span class="name"></span><span class="state"></span><div class="beat"><span></span></div><dl></dl>';
    box.querySelector(".name").textContent = r.role;
    if (r.role !== "watchdog") {
      for (const s of ["SIGKILL", "SIGSTOP", "SIGCONT", "SIGTERM"]) {
        const b = el("button", { "data-signal": s, class: s === "SIGKILL" ? "kill" : "" }, s);
        b.onclick = () => post("/api/roles/" + encodeURIComponent(r.role) + "/signal", { signal: s });
        box.append(b);
      }
    }
    $("roles").append(box);
  }
  const dead = r.pid > 0 && !r.alive;
  box.className = "role " + (dead ? "dead" : r.state);
  box.querySelector(".state").textContent = dead ? "not running" : r.state;
  const timeout = hello ? hello.heartbeatTimeoutMs : 1000;
  const bar = box.querySelector(".beat span");
  const age = Math.max(0, r.heartbeatAgeMs);
  bar.style.width = Math.min(100, age / timeout * 100) + "%";
  bar.className = age > timeout / 2 ? "late" : "";
  const fields = [["pid", r.pid], ["port", r.port || "-"], ["heartbeat", r.heartbeatAgeMs < 0 ? "-" : age.toFixed(0) + " ms"], ["restarts", r.restarts]];
  if (r.kind === "worker") fields.push(["served", r.served]);
  if (r.role === "dispatcher") fields.push(["queue", r.queue]);
  fields.push(["last exit", r.lastExit || "-"]);
  const dl = box.querySelector("dl");
  dl.replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { "data-field": k }, String(v))]));
}

function chart(svg, series, labels) {
  // One column per second of the last minute, the newest on the right; series drawn over each other.
  const w = 600, h = 110, max = Math.max(1, ...series.flatMap((s) => s.values));
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren(el("line", { x1: 0, x2: w, y1: h - 2, y2: h - 2, stroke: "#d0d7de" }));
  const col = w / 60;
  for (const s of series) {
    s.values.forEach((v, i) => {
      const height = v / max * (h - 22);
      svg.append(el("rect", { x: (w - (s.values.length - i) * col + 1).toFixed(1), y: (h - 2 - height).toFixed(1), width: (col - 2).toFixed(1), height: height.toFixed(1), fill: s.color }));
    });
  }
  $(svg.id + "-label").textContent = labels + " (max " + max.toFixed(max < 10 ? 1 : 0) + ")";
}

function drawStats() {
  chart($("rate"), [{ values: stats.map((s) => s.served), color: "#0969da" }], "requests served per second, last minute");
  chart($("latency"), [
    { values: stats.map((s) => s.load ? s.load.p99Ms : 0), color: "#ffaba8" },
    { values: stats.map((s) => s.load ? s.load.p50Ms : 0), color: "#1a7f37" },
  ], "built-in load latency, ms: p50 green, p99 red");
  const last = stats[stats.length - 1];
  if (last) {
    $("load-state").textContent = last.loadState.clients ? last.loadState.clients + " clients, " + last.loadState.mix +
      (last.load ? " — " + last.load.answered + " ok/s, " + last.load.wrong + " ERR, " + last.load.failed + " failed" : "") : "no load";
  }
}

const LANES = (name) => name.startsWith("client") ? "clients" : name;
function drawSequence() {
  const svg = $("sequence-svg");
  if (!hello || !hello.tracing) return;
  const names = ["clients", "dispatcher"];
  for (const b of document.querySelectorAll('.role[data-kind="worker"]')) names.push(b.dataset.role);
  names.push("watchdog");
  // Drawn at the box's own width, in pixels: the lanes spread, the text keeps its size.
  const width = Math.max(names.length * 110, $("sequence").clientWidth - 4);
  const gap = (width - 120) / Math.max(1, names.length - 1);
  const x = (n) => 60 + names.indexOf(LANES(n)) * gap;
  const shown = steps.slice(-60);
  const h = 14 + shown.length * 18;
  const head = $("sequence-head");
  head.setAttribute("viewBox", "0 0 " + width + " 18");
  head.setAttribute("width", width); head.setAttribute("height", 18);
  head.replaceChildren(...names.map((n) => el("text", { x: x(n), y: 13, "text-anchor": "middle" }, n)));
  svg.setAttribute("viewBox", "0 0 " + width + " " + h);
  svg.setAttribute("width", width); svg.setAttribute("height", h);
  const defs = el("defs");
  defs.innerHTML = '<marker id="head" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z" fill="#57606a"/></marker>';
  svg.replaceChildren(defs, ...names.map((n) => el("line", { class: "life", x1: x(n), x2: x(n), y1: 0, y2: h })));
  shown.forEach((s, i) => {
    const y = 14 + i * 18;
    if (s.kind === "arrow" && names.includes(LANES(s.from)) && names.includes(LANES(s.to)) && LANES(s.from) !== LANES(s.to)) {
      const g = el("g", { class: "arrow " + s.channel, "data-from": s.from, "data-to": s.to });
      g.append(el("line", { x1: x(s.from), x2: x(s.to), y1: y, y2: y, "marker-end": "url(#head)" }));
      g.append(el("text", { x: Math.min(x(s.from), x(s.to)) + 4, y: y - 3 }, s.label + " [" + s.channel + "]"));
      svg.append(g);
    } else if (s.kind === "note" && names.includes(LANES(s.over))) {
      svg.append(el("text", { x: x(s.over) + 4, y: y, class: "note" }, "✱ " + s.text));
    }
  });
  $("dropped").textContent = dropped ? dropped + " trace events left out since this page opened (at most 200 arrows a second are drawn)" : "";
  const box = $("sequence"); box.scrollTop = box.scrollHeight;
}

function addLog(e) {
  const t = new Date(e.ts).toLocaleTimeString(undefined, { hour12: false }) + "." + String(Math.floor(e.ts % 1000)).padStart(3, "0");
  const line = el("div", { class: e.channel, "data-event": e.event, "data-peer": e.peer || "" }, t + "  " + e.event + (e.peer ? " " + e.peer : "") + (e.detail ? "  " + e.detail : ""));
  $("log").append(line);
  while ($("log").children.length > 300) $("log").firstChild.remove();
  $("log").scrollTop = $("log").scrollHeight;
}

const source = new EventSource("/api/events");
source.addEventListener("hello", (m) => {
  hello = JSON.parse(m.data);
  $("instance").textContent = "instance " + hello.instance + ", stage " + hello.stage;
  $("mix").replaceChildren(...hello.mixes.map((x) => el("option", { value: x }, x)));
  $("sequence-note").textContent = hello.tracing ? "" : "Arrows need a trace: start up with --trace FILE to see the messages.";
  $("log").replaceChildren(); hello.log.forEach(addLog);
  stats.splice(0, stats.length, ...hello.stats); drawStats();
  if (!token) banner("No token: open the address that 'up' printed (…/?token=…) to act on the roles.");
});
source.addEventListener("status", (m) => {
  const s = JSON.parse(m.data);
  s.roles.forEach(roleBox);
  // A worker removed (scaled down) leaves the page too.
  const names = new Set(s.roles.map((r) => r.role));
  for (const box of document.querySelectorAll(".role")) if (!names.has(box.dataset.role)) box.remove();
  workers = s.roles.filter((r) => r.kind === "worker").length;
  $("workers").textContent = workers + " workers";
  $("running").textContent = s.running ? "running" : "stopped";
});
source.addEventListener("log", (m) => addLog(JSON.parse(m.data)));
source.addEventListener("trace", (m) => { const t = JSON.parse(m.data); steps.push(...t.steps); if (steps.length > 600) steps.splice(0, steps.length - 600); dropped += t.dropped; });
source.addEventListener("stats", (m) => { stats.push(JSON.parse(m.data)); if (stats.length > 60) stats.shift(); drawStats(); });
source.onerror = () => $("running").textContent = "disconnected (the instance stopped?)";
setInterval(drawSequence, 250);
$("load-start").onclick = () => post("/api/load", { clients: Number($("clients").value), mix: $("mix").value });
$("load-stop").onclick = () => post("/api/load", { clients: 0 });
$("scale-down").onclick = () => post("/api/scale", { workers: workers - 1 });
$("scale-up").onclick = () => post("/api/scale", { workers: workers + 1 });
$("reload").onclick = () => post("/api/reload", {});
`;

/** The page, as served at `/`. */
export function observerPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>osps observe</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<header><h1>osps observe</h1><span class="meta" id="instance"></span><span class="meta" id="running"></span></header>
<div id="banner"></div>
<main>
<section class="wide"><h2>Roles</h2><div id="operate"><span id="workers" class="note"></span>
<button id="scale-down">− worker</button><button id="scale-up">+ worker</button>
<button id="reload">rolling reload</button></div><div id="roles"></div></section>
<section><h2>Load</h2>
<div id="load"><label>clients <input id="clients" type="number" min="1" max="64" value="8"></label>
<label>mix <select id="mix"></select></label>
<button id="load-start">start load</button><button id="load-stop">stop load</button>
<span id="load-state" class="note">no load</span></div>
<div id="rate-label" class="note"></div><svg id="rate" class="chart"></svg>
<div id="latency-label" class="note"></div><svg id="latency" class="chart"></svg></section>
<section><h2>Event log</h2><div id="log"></div></section>
<section class="wide"><h2>Messages</h2><div id="sequence-note" class="note"></div><div id="dropped" class="note"></div>
<svg id="sequence-head"></svg>
<div id="sequence"><svg id="sequence-svg"></svg></div></section>
</main>
<script>${SCRIPT}</script>
</body></html>
`;
}
