/**
 * What every check of `deno task check` gives: its group, its name, a verdict and what it saw.
 *
 * @module
 */

/** The groups of checks, in the order they are reported. */
export const GROUPS = ["contract", "load", "architecture", "faults", "cleanup"] as const;

/** A group of checks. */
export type Group = typeof GROUPS[number];

/** A check's verdict: `skip` when what it needs could not be had (said in its detail). */
export type Verdict = "pass" | "fail" | "skip";

/** One check's outcome. */
export interface CheckResult {
  /** Its group. */
  group: Group;
  /** What it checks, in a few words. */
  name: string;
  /** Its verdict. */
  verdict: Verdict;
  /** What it saw, in one line: the figure, or what was expected and what came. */
  detail: string;
  /** What was sent and what came back, a line each (`> ` sent, `< ` received), where it talked. */
  exchange?: string[];
}

/** A check result: `pass` if `ok`, else `fail`. */
export function verdictOf(
  group: Group,
  name: string,
  ok: boolean,
  detail: string,
  exchange?: string[],
): CheckResult {
  return { group, name, verdict: ok ? "pass" : "fail", detail, ...(exchange ? { exchange } : {}) };
}

/** A check that could not run, and why. */
export function skipped(group: Group, name: string, why: string): CheckResult {
  return { group, name, verdict: "skip", detail: why };
}

/** The verdict of a group: `fail` if one check failed, `skip` if none ran, else `pass`. */
export function groupVerdict(checks: CheckResult[], group: Group): Verdict {
  const mine = checks.filter((c) => c.group === group);
  if (mine.some((c) => c.verdict === "fail")) return "fail";
  return mine.some((c) => c.verdict === "pass") ? "pass" : "skip";
}
