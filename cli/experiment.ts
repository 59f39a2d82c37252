/**
 * `main.ts experiment <name>`: the experiments behind `docs/questions.md`.
 *
 * @module
 */

import { type ExperimentName, EXPERIMENTS, runExperiment } from "../scenarios/mod.ts";
import { type Command, parse, UsageError } from "./common.ts";

const USAGE = `Usage: main.ts experiment <name>

Experiments that back the answers to the course project's questions (docs/questions.md). Each
observes real processes, pipes and signals, prints what it saw, and exits 1 if an observation
does not hold.

  zombie           a child that exits unreaped is a zombie (state Z); reaping removes it; an
                   orphan is adopted and reaped by its adopter                          (2.b)
  pipe-buffering   buffered writes stay in the writer until flushed; writes up to PIPE_BUF from
                   concurrent writers stay whole, larger ones interleave      (notes on pipes)
  sigchld          a parent learns of its child's death by SIGCHLD                     (3.c)
  frozen-pipe      an order sent to a frozen worker through its pipe does nothing, a third
                   writer interleaves with the dispatcher; the watchdog's path works   (3.b)`;

/** `main.ts experiment`. */
export const experimentCommand: Command = {
  summary: "run an experiment behind docs/questions.md",
  usage: USAGE,
  run: async (args) => {
    const [name, ...rest] = args;
    const { values } = parse(rest, {});
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    if (!(EXPERIMENTS as readonly string[]).includes(name ?? "")) {
      throw new UsageError(`unknown experiment ${JSON.stringify(name ?? "")}`);
    }
    const report = await runExperiment(name as ExperimentName);
    console.log(`experiment ${report.name} (question ${report.question})`);
    for (const o of report.observations) {
      console.log(`  ${o.ok ? "ok  " : "FAIL"} ${o.what}\n       seen: ${o.seen}`);
    }
    console.log(report.passed ? "result: the observations hold" : "result: FAILED");
    return report.passed ? 0 : 1;
  },
};
