/**
 * What the tests of `check` share: the Python implementation's command, a check of it with a
 * small load, and what must hold after any check (nothing of the system left).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type CheckOptions,
  checkStage,
  formatStageReport,
  pythonExampleCommand,
  type StageReport,
} from "../../check/mod.ts";
import type { Stage } from "../../roles/mod.ts";
import { listDirectory, listProcesses } from "../../ipc/mod.ts";

/** examples/python/server.py's command line, with `--broken` if given. */
export const pythonCommand = pythonExampleCommand;

/** A check of `stage` with a small load (4 clients × 200 requests, 2 workers). */
export async function smallCheck(
  stage: Stage,
  command: string[],
  more: Partial<CheckOptions> = {},
): Promise<StageReport> {
  return await checkStage({
    stage,
    command,
    workers: 2,
    clients: 4,
    warmup: 50,
    requests: 200,
    recoveryBoundMs: 5000,
    ...more,
  });
}

/** The groups with a failed check. */
export function failedGroups(r: StageReport): string[] {
  return [...new Set(r.checks.filter((c) => c.verdict === "fail").map((c) => c.group))].sort();
}

/** The names of the failed checks. */
export function failedChecks(r: StageReport): string[] {
  return r.checks.filter((c) => c.verdict === "fail").map((c) => c.name);
}

/** The report as text, for an assertion's message. */
export function shownReport(r: StageReport): string {
  return formatStageReport(r).join("\n");
}

/**
 * Nothing of the system is left: no child of this process (running or a zombie) but Deno ones,
 * no /tmp or /dev/shm entry whose name holds `marker`.
 */
export function assertNothingLeft(marker: string): void {
  const children = listProcesses().filter((p) => p.ppid === Deno.pid && !/deno/.test(p.comm));
  assert.deepEqual(children.map((p) => `${p.pid} ${p.comm} ${p.state}`), [], "a child left");
  for (const dir of ["/tmp", "/dev/shm"]) {
    const left = listDirectory(dir).filter((name) => name.includes(marker));
    assert.deepEqual(left, [], `left in ${dir}`);
  }
}
