/**
 * What `deno task check` prints and writes: a verdict per check and per group, what a failed
 * check sent and got, the architecture as a table, the fault schedule; the summary line
 * `check: N passed, N failed`; and the JSON report.
 *
 * @module
 */

import { formatArchitecture } from "./architecture.ts";
import type { StageReport } from "./run.ts";
import { type CheckResult, GROUPS, groupVerdict } from "./verdict.ts";

const MARK = { pass: "ok  ", fail: "FAIL", skip: "skip" } as const;

/** One stage's report, as lines. */
export function formatStageReport(r: StageReport): string[] {
  const lines = [`check ${r.stage}: ${r.command.join(" ")}`];
  for (const group of GROUPS) {
    const mine = r.checks.filter((c) => c.group === group);
    if (mine.length === 0) continue;
    const passed = mine.filter((c) => c.verdict === "pass").length;
    lines.push(
      `  ${group.padEnd(13)}${
        groupVerdict(r.checks, group).toUpperCase()
      }  ${passed} of ${mine.length}${group === "faults" ? `  (${r.schedule})` : ""}`,
    );
    for (const c of mine) {
      lines.push(`    ${MARK[c.verdict]} ${c.name}: ${clip(c.detail, 160)}`);
      if (c.verdict === "fail" && c.exchange?.length) {
        lines.push(...c.exchange.slice(0, 12).map((l) => `           ${l}`));
        if (c.exchange.length > 12) lines.push(`           … ${c.exchange.length - 12} more lines`);
      }
    }
    if (group === "architecture" && r.architecture) {
      lines.push(
        ...formatArchitecture(r.architecture).map((l) =>
          `         ${l.replaceAll("\n", "\n         ")}`
        ),
      );
    }
  }
  if (r.interrupted) lines.push("  interrupted: everything it started was killed and removed");
  lines.push(`  ${r.stage}: ${summaryLine(r.checks).replace(/^check: /, "")}`);
  return lines;
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** `check: N passed, N failed` (and skipped, where some were), over `checks`. */
export function summaryLine(checks: CheckResult[]): string {
  const n = (v: string) => checks.filter((c) => c.verdict === v).length;
  const skipped = n("skip");
  return `check: ${n("pass")} passed, ${n("fail")} failed${skipped ? `, ${skipped} skipped` : ""}`;
}

/** One stage's JSON report: `{stage, seed, checks, load, architecture, faults}`. */
export function stageJson(r: StageReport): Record<string, unknown> {
  return {
    stage: r.stage,
    seed: r.seed,
    schedule: r.schedule,
    command: r.command,
    port: r.port,
    workers: r.workers,
    passed: r.passed,
    interrupted: r.interrupted,
    checks: r.checks.map(({ group, name, verdict, detail, exchange }) => ({
      group,
      name,
      verdict,
      detail,
      ...(exchange ? { exchange } : {}),
    })),
    load: r.load && {
      clients: r.load.clients,
      ...r.load.summary,
      throughput: r.load.throughput,
      cpuUsPerRequest: r.load.cpuUsPerRequest,
      cpuUsByPid: r.load.cpuUsByPid,
      ticks: r.load.ticks,
    },
    architecture: r.architecture,
    faults: r.faults,
  };
}
