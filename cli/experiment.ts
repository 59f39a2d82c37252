/**
 * `main.ts experiment <name>`: the experiments behind `docs/questions.md`.
 *
 * @module
 */

import {
  type ExperimentName,
  type ExperimentReport,
  EXPERIMENTS,
  experimentTraces,
  newTraces,
  renderExperimentPage,
  runExperiment,
} from "../scenarios/mod.ts";
import { count } from "../roles/mod.ts";
import { type Command, interruptible, intOption, parse, UsageError } from "./common.ts";
import { defaultOut, shown, userPath, writableDir } from "./paths.ts";

const USAGE = `Usage: deno task experiment <name> [--python] [--timeout MS] [--out DIR]
       deno task experiment all [--python] [--repeat N] [--timeout MS] [--out DIR]
       (deno task experiment:<name> is the same; deno task experiment:repeat runs all 30 times,
        experiment:repeat:python all in Python 10 times)

Experiments that back the answers to the course project's questions (docs/questions.md). Each
observes real processes, pipes and signals, prints what it saw, and exits 1 if an observation
does not hold.

  zombie           a child that exits unreaped is a zombie (state Z); reaping removes it; an
                   orphan is adopted and reaped by its adopter                          (2.b)
  pipe-buffering   buffered writes stay in the writer until flushed; writes up to PIPE_BUF from
                   concurrent writers stay whole, larger ones interleave      (notes on pipes)
  sigchld          a parent learns of its child's death by SIGCHLD                     (3.c)
  frozen-pipe      an order sent to a frozen worker through its pipe does nothing, a third
                   writer interleaves with the dispatcher; the watchdog's path works   (3.b)
  fifo-open        opening a named pipe blocks until the other end comes; the reader sees
                   EOF only when the last writer has left                     (notes on pipes)
  pipe-capacity    PIPE_BUF (4096, atomic writes) is not the capacity (65536); a writer to a
                   full pipe blocks until the reader makes room         (notes on pipes, 3.b)
  sigchld-variants SIGCHLD on a child's stop and continue; deaths merged into one signal;
                   SIGCHLD set to SIG_IGN: the kernel reaps                            (3.c)
  shared-memory    two unrelated processes share a named segment, which survives a crash
                   until unlinked; in Python, SharedMemory's resource-tracker trap     (1.a)
  all              every one of them, --repeat N times in a row (default 1), checking after
                   each run that it left nothing: no process, directory or segment

--python runs the same experiment with the course's language: the processes observed are the
short Python programs of examples/python/experiments/ (standard library only), and the same
observations must hold.

Every run has a time bound (--timeout, default 30000 ms) and says at which step it passed it;
on every exit — done, failed, past its bound, SIGINT, SIGTERM — its processes are killed and
reaped and what it created is removed. Each run writes its observations, as JSON, to
DIR/<name>.json, and a page that draws what happened — a lane per process, pipe or segment, its
states over time (running, asleep in the kernel, stopped, zombie), spawns, adoptions, signals —
to DIR/<name>.html (<name>.python.* with --python; --out DIR; default: out/experiments/).
Exit status: 0 when every observation held, 1 otherwise, 130 when interrupted.`;

function print(report: ExperimentReport): void {
  const language = report.language === "python" ? ", in Python" : "";
  console.log(`experiment ${report.name}${language} (question ${report.question})`);
  for (const o of report.observations) {
    console.log(`  ${o.ok ? "ok  " : "FAIL"} ${o.what}\n       seen: ${o.seen}`);
  }
}

/** `main.ts experiment`. */
export const experimentCommand: Command = {
  summary: "run an experiment behind docs/questions.md",
  usage: USAGE,
  run: async (args) => {
    const [name, ...rest] = args;
    const { values } = parse(rest, {
      repeat: { type: "string" },
      timeout: { type: "string" },
      out: { type: "string" },
      python: { type: "boolean" },
    });
    if (values.help || name === "--help" || name === "-h") {
      console.log(USAGE);
      return 0;
    }
    const names = name === "all" ? [...EXPERIMENTS] : [name as ExperimentName];
    if (name !== "all" && !(EXPERIMENTS as readonly string[]).includes(name ?? "")) {
      throw new UsageError(`unknown experiment ${JSON.stringify(name ?? "")}`);
    }
    const language = values.python ? "python" : "deno";
    const repeat = intOption("repeat", values.repeat, 1, 1, 10_000);
    const timeoutMs = intOption("timeout", values.timeout, 30_000, 100, 3_600_000);
    const out = writableDir(
      values.out === undefined ? defaultOut("experiments") : userPath(values.out),
    );
    return await interruptible(async (signal) => {
      let failures = 0;
      for (let round = 1; round <= repeat && !signal.aborted; round++) {
        for (const n of names) {
          const before = experimentTraces();
          const report = await runExperiment(n, { timeoutMs, signal, language });
          const file = `${out}/${n}${language === "python" ? ".python" : ""}`;
          Deno.writeTextFileSync(`${file}.json`, JSON.stringify(report, null, 2) + "\n");
          Deno.writeTextFileSync(`${file}.html`, renderExperimentPage(report));
          const left = newTraces(before, experimentTraces());
          if (repeat === 1 || !report.passed || left.length > 0) print(report);
          if (left.length > 0) console.log(`  FAIL it left: ${left.join(", ")}`);
          if (!report.passed || left.length > 0) failures++;
          if (signal.aborted) break;
        }
        if (repeat > 1) console.log(`round ${round}/${repeat}: ${failures} failed so far`);
      }
      const ok = failures === 0 && !signal.aborted;
      console.log(
        signal.aborted
          ? `result: interrupted (${signal.reason?.message ?? signal.reason}); cleaned up`
          : ok
          ? `result: the observations hold (${shown(out)}/)`
          : `result: FAILED (${count(failures, "run")})`,
      );
      return signal.aborted ? 130 : ok ? 0 : 1;
    });
  },
};
