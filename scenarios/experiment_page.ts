/**
 * An experiment run as a self-contained HTML page: the question it backs, each observation with
 * what was seen, and the picture of what happened (`experiment_picture.ts`).
 *
 * @module
 */

import { renderPicture } from "./experiment_picture.ts";
import type { ExperimentReport } from "./experiments.ts";
import { escapeXml } from "./svg.ts";

/** The page of `report`: no script, no outside resource. */
export function renderExperimentPage(report: ExperimentReport): string {
  const language = report.language === "python" ? " — in Python" : "";
  const observations = report.observations.map((o) =>
    `<li class="${o.ok ? "ok" : "fail"}"><b>${o.ok ? "ok" : "FAIL"}</b> ${escapeXml(o.what)}` +
    `<br><span class="seen">seen: ${escapeXml(o.seen)}</span></li>`
  ).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>experiment ${escapeXml(report.name)}${escapeXml(language)}</title>
<style>
body { font-family: sans-serif; margin: 24px; max-width: 1040px; }
li { margin: 6px 0; } .ok b { color: #2a7d2a; } .fail b { color: #c0392b; }
.seen { color: #555; font-size: 13px; } svg { border: 1px solid #ddd; }
</style></head>
<body>
<h1>experiment ${escapeXml(report.name)}${escapeXml(language)}</h1>
<p>Question ${escapeXml(report.question)}. Result: <b>${
    report.passed ? "every observation held" : "FAILED"
  }</b>.</p>
<ul>
${observations}
</ul>
<h2>What happened</h2>
<p>One lane per process, pipe or segment, over the run's time: its states as coloured spans, what it
said or was sent as dots, arrows for spawns, adoptions and signals.</p>
${renderPicture(report.picture)}
</body></html>
`;
}
