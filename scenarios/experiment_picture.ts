/**
 * What an experiment run saw, drawn: one lane per process (or per pipe or segment) over time, its
 * states as coloured spans — running, asleep in the kernel, stopped, a zombie, an object that
 * exists — with marks for what it said or was sent, and arrows between lanes (a spawn, an
 * adoption, a signal). `renderExperimentPage` makes it a self-contained HTML page with an SVG.
 *
 * @module
 */

import { escapeXml } from "./svg.ts";

/** A lane's state in one span of time. */
export type LaneState = "running" | "asleep" | "stopped" | "zombie" | "exists";

/** One lane: a process, a pipe or a segment, and what became of it. */
export interface PictureLane {
  /** Its key in the picture. */
  id: string;
  /** What it is called on the page (`child 1234`, `the pipe`). */
  label: string;
  /** Its states, in order; `to` null: until the end of the run. */
  spans: { state: LaneState; from: number; to: number | null; note?: string }[];
  /** What happened to it, at a moment. */
  marks: { at: number; text: string }[];
}

/** An arrow from one lane to another at a moment (a spawn, an adoption, a signal, bytes). */
export interface PictureLink {
  /** When, ms since the run began. */
  at: number;
  /** From which lane. */
  from: string;
  /** To which lane. */
  to: string;
  /** What it was. */
  text: string;
}

/** A picture's data: what the page draws, and what the run's JSON keeps. */
export interface PictureData {
  /** The lanes, top to bottom. */
  lanes: PictureLane[];
  /** The arrows. */
  links: PictureLink[];
  /** How long the run lasted, ms. */
  endMs: number;
}

/** A picture being drawn as an experiment runs; every call is stamped with the time since its start. */
export class Picture {
  readonly #t0 = performance.now();
  readonly #lanes = new Map<string, PictureLane>();
  readonly #links: PictureLink[] = [];

  #now(): number {
    return performance.now() - this.#t0;
  }

  /** A lane `id` labelled `label`, in state `state` from now (a new lane goes below the others). */
  lane(id: string, label: string, state: LaneState = "running"): void {
    if (!this.#lanes.has(id)) this.#lanes.set(id, { id, label, spans: [], marks: [] });
    this.state(id, state);
  }

  /** Lane `id` is in `state` from now (null: it is gone, and its lane ends). */
  state(id: string, state: LaneState | null, note?: string): void {
    const lane = this.#lanes.get(id);
    if (lane === undefined) return;
    const now = this.#now();
    const last = lane.spans.at(-1);
    if (last !== undefined && last.to === null) {
      if (last.state === state && note === undefined) return;
      last.to = now;
    }
    if (state !== null) lane.spans.push({ state, from: now, to: null, note });
  }

  /** Something that happened to lane `id`, now. */
  mark(id: string, text: string): void {
    this.#lanes.get(id)?.marks.push({ at: this.#now(), text });
  }

  /** An arrow from lane `from` to lane `to`, now. */
  link(from: string, to: string, text: string): void {
    this.#links.push({ at: this.#now(), from, to, text });
  }

  /** The picture so far. */
  data(): PictureData {
    const endMs = this.#now();
    return {
      lanes: [...this.#lanes.values()].map((l) => ({
        ...l,
        spans: l.spans.map((s) => ({ ...s })),
        marks: [...l.marks],
      })),
      links: [...this.#links],
      endMs,
    };
  }
}

/** The colours of the states, and what the legend calls them. */
const STATES: Record<LaneState, { fill: string; legend: string }> = {
  running: { fill: "#9ecae1", legend: "running" },
  asleep: { fill: "#fdd49e", legend: "asleep in the kernel (open, write)" },
  stopped: { fill: "#bcbddc", legend: "stopped (SIGSTOP)" },
  zombie: { fill: "#fc9272", legend: "zombie (exited, not reaped)" },
  exists: { fill: "#c7e9c0", legend: "exists (a pipe, a segment)" },
};

const LEFT = 230, WIDTH = 1000, LANE = 64, TOP = 40;

/** The picture as an SVG: lanes, spans, marks, arrows, a time axis and a legend. */
export function renderPicture(p: PictureData): string {
  const end = Math.max(p.endMs, 1);
  const x = (t: number) => LEFT + (Math.min(t, end) / end) * (WIDTH - LEFT - 130);
  const row = new Map(p.lanes.map((l, i) => [l.id, TOP + i * LANE]));
  const height = TOP + p.lanes.length * LANE + 70;
  const parts: string[] = [];
  for (const lane of p.lanes) {
    const y = row.get(lane.id)!;
    parts.push(
      `<g class="lane" data-id="${escapeXml(lane.id)}">`,
      `<text x="8" y="${y + 22}" font-size="13">${escapeXml(lane.label)}</text>`,
      `<line x1="${LEFT}" y1="${y + 18}" x2="${WIDTH - 20}" y2="${y + 18}" stroke="#eee"/>`,
    );
    for (const s of lane.spans) {
      const x1 = x(s.from), x2 = Math.max(x(s.to ?? end), x1 + 2);
      parts.push(
        `<rect class="span" data-state="${s.state}" x="${x1.toFixed(1)}" y="${y + 8}" ` +
          `width="${(x2 - x1).toFixed(1)}" height="20" fill="${STATES[s.state].fill}">` +
          `<title>${escapeXml(`${s.state}${s.note ? `: ${s.note}` : ""}`)}</title></rect>`,
      );
      if (s.note) {
        parts.push(
          `<text x="${(x1 + 3).toFixed(1)}" y="${y + 23}" font-size="10">${
            escapeXml(s.note)
          }</text>`,
        );
      }
    }
    let lastX = -Infinity, stagger = 0;
    for (const m of lane.marks) {
      const mx = x(m.at);
      // Marks close together go on alternate lines; those near the right edge end at their dot.
      stagger = mx - lastX < 90 ? (stagger + 1) % 3 : 0;
      lastX = mx;
      const end = mx > WIDTH - 280;
      parts.push(
        `<g class="mark"><circle cx="${mx.toFixed(1)}" cy="${y + 18}" r="3.5" fill="#333"/>` +
          `<text x="${(end ? mx - 5 : mx + 5).toFixed(1)}" y="${y + 40 + stagger * 11}" ` +
          `font-size="11"${end ? ' text-anchor="end"' : ""}>${escapeXml(m.text)}</text></g>`,
      );
    }
    parts.push("</g>");
  }
  const placed: number[] = [];
  for (const l of p.links) {
    const y1 = row.get(l.from), y2 = row.get(l.to);
    if (y1 === undefined || y2 === undefined) continue;
    const lx = x(l.at).toFixed(1);
    // Labels of arrows close together are stacked.
    const near = placed.filter((px) => Math.abs(px - Number(lx)) < 70).length;
    placed.push(Number(lx));
    const down = y2 > y1;
    parts.push(
      `<g class="link"><line x1="${lx}" y1="${y1 + (down ? 28 : 8)}" x2="${lx}" ` +
        `y2="${y2 + (down ? 6 : 30)}" stroke="#555" marker-end="url(#arrow)"/>` +
        `<text x="${(Number(lx) + 4).toFixed(1)}" y="${
          ((y1 + y2) / 2 + 18 + near * 11).toFixed(1)
        }" ` +
        `font-size="10" fill="#555">${escapeXml(l.text)}</text></g>`,
    );
  }
  const axisY = TOP + p.lanes.length * LANE + 8;
  const step = [50, 100, 200, 500, 1000, 2000, 5000].find((s) => end / s <= 8) ?? 10_000;
  for (let t = 0; t <= end; t += step) {
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${axisY + 12}" font-size="10" fill="#777">${t} ms</text>`,
    );
  }
  let lx = LEFT;
  for (const [state, { fill, legend }] of Object.entries(STATES)) {
    parts.push(
      `<rect x="${lx}" y="${axisY + 26}" width="14" height="12" fill="${fill}"/>` +
        `<text x="${lx + 18}" y="${axisY + 36}" font-size="11" data-legend="${state}">` +
        `${escapeXml(legend)}</text>`,
    );
    lx += 36 + legend.length * 5.6;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" class="experiment-picture" width="${WIDTH}" ` +
    `height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" ` +
    `markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>` +
    parts.join("") + "</svg>";
}
