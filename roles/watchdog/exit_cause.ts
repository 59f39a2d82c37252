/**
 * Why a role was killed, where the kernel says: a SIGKILL that comes with a new OOM kill counted
 * by the kernel (/proc/vmstat) was the OOM killer's, not an operator's.
 *
 * @module
 */

import { oomKillCount, type ProcessExit } from "../../ipc/mod.ts";

/** The kernel's count of OOM kills when last looked at. */
let oomKills = oomKillCount();

/**
 * What to add to a role's end to say why it came (`": out of memory, …"`), or "" when nothing
 * more is known. Reads the kernel's OOM kill count at each SIGKILL.
 */
export function explainExit(exit: ProcessExit): string {
  if (exit.signal !== "SIGKILL") return "";
  const now = oomKillCount();
  const before = oomKills;
  oomKills = now;
  return now !== null && before !== null && now > before
    ? ": out of memory (the kernel's OOM killer killed it)"
    : "";
}
