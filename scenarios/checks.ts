/**
 * What every scenario checks the same way: that every request got exactly its right answer, and
 * that the run left nothing (a clean stop, no lasting zombie, no orphan, no pipe or segment).
 *
 * @module
 */

import type { Stage } from "../roles/mod.ts";
import type { RequestRecord } from "./clients.ts";
import type { StopReport } from "./harness.ts";
import { isClean, processesOfSegment } from "./proof.ts";
import { expectedAnswer } from "./stages.ts";

/** One check of a scenario. */
export interface Check {
  /** What is checked. */
  what: string;
  /** Whether it holds. */
  ok: boolean;
  /** The measured value or the evidence. */
  detail: string;
}

/** What every scenario run under load reports: its requests, its checks, its trace. */
export interface ScenarioReport {
  /** The stage. */
  stage: Stage;
  /** Every request of the load, with its answer. */
  records: RequestRecord[];
  /** The checks, in order (with `interrupted`, only what was left behind). */
  checks: Check[];
  /** What the watchdog did around the fault or the operation, rendered. */
  timeline: string[];
  /** The trace file. */
  tracePath: string;
  /** The run as a sequence diagram: Markdown (Mermaid) and HTML. */
  diagram: { markdown: string; html: string };
  /** Whether the run was interrupted (its signal aborted) before its checks. */
  interrupted: boolean;
  /** Whether every check passed (false when interrupted). */
  passed: boolean;
}

/** Requests were sent, and every one got exactly its right answer. */
export function answersCheck(records: RequestRecord[]): Check[] {
  const wrong = records.filter((r) => r.got !== null && r.got !== expectedAnswer(r.line));
  const missing = records.filter((r) => r.got === null);
  return [
    { what: "requests sent under load", ok: records.length > 0, detail: String(records.length) },
    {
      what: "every request answered, and right",
      ok: wrong.length === 0 && missing.length === 0,
      detail: wrong.length + missing.length === 0
        ? `${records.length} right answers`
        : `${wrong.length} wrong (${
          wrong.slice(0, 2).map((w) => `${w.line} → ${w.got}`).join("; ")
        }), ` +
          `${missing.length} unanswered (${missing.slice(0, 2).map((m) => m.failure).join("; ")})`,
    },
  ];
}

/** What the checks of what a run left are called: an interrupted run reports only these. */
export const LEFTOVER_CHECKS = [
  "watchdog stopped cleanly",
  "no lasting zombie (sampled every 100 ms)",
  "no orphan role process",
  "nothing left behind",
];

/** What the run left: the watchdog's exit, zombies sampled, orphans of `segmentName`, leftovers. */
export function leftoverChecks(
  stop: StopReport,
  segmentName: string,
  zombies: Set<number>,
): Check[] {
  const orphans = processesOfSegment(segmentName);
  return [
    {
      what: "watchdog stopped cleanly",
      ok: stop.watchdog.code === 0,
      detail: `exit code ${stop.watchdog.code}`,
    },
    {
      what: "no lasting zombie (sampled every 100 ms)",
      ok: zombies.size === 0,
      detail: [...zombies].join(", ") || "none",
    },
    {
      what: "no orphan role process",
      ok: orphans.length === 0,
      detail: orphans.map((o) => o.pid).join(", ") || "none",
    },
    {
      what: "nothing left behind",
      ok: isClean(stop.leftovers),
      detail: JSON.stringify(stop.leftovers),
    },
  ];
}

/** Runs `steps`; an interruption (`signal` aborted) ends them where they are, any other error throws. */
export async function interruptibly(signal: AbortSignal | undefined, steps: () => Promise<void>) {
  try {
    await steps();
  } catch (e) {
    if (!signal?.aborted) throw e;
  }
}
