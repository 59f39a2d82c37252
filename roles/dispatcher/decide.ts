/**
 * The dispatcher's decisions about one request, as pure code: what follows an attempt that
 * failed, and what a worker's answer means for the request it holds. The dispatcher reads the
 * pipes and acts; these are tested on plain data.
 *
 * @module
 */

import type { AnswerKind, StageFlow } from "../stages.ts";

/** Attempts a request gets: its first, and one retry on another worker. */
export const MAX_ATTEMPTS = 2;

/** What follows a request's attempt that failed (its worker died, or could not read it). */
export type AfterFailure =
  /** Its REDIRECT was its reply already: the client asks again through the dispatcher. */
  | "replied"
  /** Its worker said it was calling the client, which may have its answer: not sent again. */
  | "not retried"
  /** The dispatcher is stopping: `ERR shutting-down`. */
  | "shutting down"
  /** Once more, on another worker, first in the queue. */
  | "retry"
  /** Tried enough: `ERR unavailable`. */
  | "unavailable";

/** The facts of a request that {@link afterFailure} weighs. */
export interface FailedRequest {
  /** Whether it has had its reply. */
  replied: boolean;
  /** Whether its worker said it was calling the client. */
  calling: boolean;
  /** Attempts made so far. */
  attempts: number;
}

/** What follows a failed attempt of `job`, in a stage whose flow is `flow`. */
export function afterFailure(
  job: FailedRequest,
  flow: Pick<StageFlow, "redirectAfter">,
  stopping: boolean,
): AfterFailure {
  if (flow.redirectAfter && job.replied) return "replied";
  if (job.calling) return "not retried";
  if (stopping) return "shutting down";
  return job.attempts < MAX_ATTEMPTS ? "retry" : "unavailable";
}

/** What a worker's answer means for the request it holds (`held`, null for none). */
export type AnswerMeaning = "stale" | AnswerKind;

/**
 * The meaning of `answer` (null: not an answer) from a worker holding request `held`: its kind,
 * if it answers that very request; else `stale` (a late answer, a predecessor's, a forged one).
 */
export function meaningOf(
  answer: { kind: AnswerKind; id: number } | null,
  held: { id: number } | null,
): AnswerMeaning {
  if (answer === null || held === null || answer.id !== held.id) return "stale";
  return answer.kind;
}
