/**
 * Experiments that back the answers of `docs/questions.md` (the course project's questions). Each
 * observes real processes, pipes and signals, reports what it saw, and fails if the observation
 * does not hold; each runs its processes in Deno or, with the `python` language, as the Python
 * programs of `examples/python/experiments/`, under the same observations.
 *
 * - `zombie`: a child that exits while its parent does not reap it is in state Z in /proc;
 *   reaping removes it; an orphan is adopted (re-parented) and reaped by its adopter.
 * - `pipe-buffering`: bytes sitting in a writer's buffer do not reach the reader until flushed;
 *   messages of at most PIPE_BUF bytes from concurrent writers stay whole, larger ones interleave.
 * - `sigchld`: a parent is told of its child's death by SIGCHLD, when it dies.
 * - `frozen-pipe`: an order written to a frozen worker's pipe does nothing, and a third writer's
 *   messages interleave with the dispatcher's; the watchdog's heartbeat-and-signal path restarts
 *   the worker.
 * - `fifo-open`: a FIFO's open blocks until the other end comes; EOF once the last writer left.
 * - `pipe-capacity`: PIPE_BUF (4096) is not the capacity (65536); a full pipe blocks its writer.
 * - `sigchld-variants`: SIGCHLD on stop and continue; deaths merged into one; SIG_IGN.
 * - `shared-memory`: a named segment shared by unrelated processes outlives a crash until it is
 *   unlinked; in Python, SharedMemory's resource tracker unlinks it behind the creator's back.
 *
 * @module
 */

import {
  type ExperimentLanguage,
  ExperimentRun,
  type ExperimentRunOptions,
  type Observation,
} from "./experiment_run.ts";
import { fifoOpen, pipeBuffering, pipeCapacity } from "./experiments_pipes.ts";
import { sharedMemory, sigchld, sigchldVariants, zombie } from "./experiments_processes.ts";
import { frozenPipe, frozenPipePython } from "./experiments_frozen.ts";
import type { Picture, PictureData } from "./experiment_picture.ts";

export type { Observation } from "./experiment_run.ts";

/** The experiments. */
export const EXPERIMENTS = [
  "zombie",
  "pipe-buffering",
  "sigchld",
  "frozen-pipe",
  "fifo-open",
  "pipe-capacity",
  "sigchld-variants",
  "shared-memory",
] as const;

/** One experiment's name. */
export type ExperimentName = typeof EXPERIMENTS[number];

/** An experiment's result. */
export interface ExperimentReport {
  /** The experiment. */
  name: ExperimentName;
  /** The question of the seed it backs. */
  question: string;
  /** The language its helper programs were written in. */
  language: ExperimentLanguage;
  /** What it observed, in order. */
  observations: Observation[];
  /** Whether every observation held. */
  passed: boolean;
  /** What happened, drawn (`renderExperimentPage` makes it a page). */
  picture: PictureData;
}

const QUESTIONS: Record<ExperimentName, string> = {
  "zombie": "2.b — what is a zombie, who must stop first, who reaps whom",
  "pipe-buffering": "notes — buffered writes in pipes, flush; atomic writes up to PIPE_BUF",
  "sigchld": "3.c — is a parent told by a signal that its child stopped?",
  "frozen-pipe": "3.b — ordering a frozen worker to restart through its pipe",
  "fifo-open": "notes — a named pipe's blocking open, and its end of file",
  "pipe-capacity": "notes and 3.b — PIPE_BUF versus a pipe's capacity; a full pipe blocks",
  "sigchld-variants": "3.c — SIGCHLD on stop and continue, merged deaths, SIG_IGN",
  "shared-memory": "1.a — a shared memory segment between unrelated processes",
};

/**
 * Runs one experiment within its time bound (`options.timeoutMs`, default 30 s); aborting
 * `options.signal` (SIGINT, SIGTERM) ends it the same way. On every path, what it started is
 * killed, reaped and removed; a run cut short reports the step it was at as a failed observation.
 */
export async function runExperiment(
  name: ExperimentName,
  options: ExperimentRunOptions = {},
): Promise<ExperimentReport> {
  const python = options.language === "python";
  const experiment = {
    zombie,
    "pipe-buffering": pipeBuffering,
    sigchld,
    "frozen-pipe": python ? frozenPipePython : frozenPipe,
    "fifo-open": fifoOpen,
    "pipe-capacity": pipeCapacity,
    "sigchld-variants": sigchldVariants,
    "shared-memory": sharedMemory,
  }[name];
  let observations: Observation[];
  let picture: Picture;
  {
    await using run = new ExperimentRun(options);
    picture = run.picture;
    try {
      observations = await experiment(run);
    } catch (e) {
      if (!run.signal.aborted) throw e;
      const why = run.signal.reason instanceof Error
        ? run.signal.reason.message
        : run.signal.reason;
      observations = [{ what: "the experiment runs to its end", ok: false, seen: String(why) }];
    }
  }
  return {
    name,
    question: QUESTIONS[name],
    language: options.language ?? "deno",
    observations,
    passed: observations.every((o) => o.ok),
    // Drawn once the run has ended and reaped everything: the helpers' exits are in it.
    picture: picture.data(),
  };
}
