/**
 * Is a role alive? One judgement for the whole system: a role is alive while its last plausible
 * heartbeat is at most a timeout old. The watchdog judges with the heartbeat timeout (1 s by
 * default: past it, the role is frozen, killed and restarted); the dispatcher judges its workers
 * with {@link FRESH_BEAT_MS} (three missed beats: no more work for that worker). Pure functions of
 * the beat and of now, both read from CLOCK_MONOTONIC (`monotonicMs`): the same clock in every
 * process, never stepped, so a wall-clock jump (NTP, a date set by hand) changes no verdict.
 *
 * @module
 */

/** How often a role beats, ms. */
export const HEARTBEAT_INTERVAL_MS = 100;

/** A beat this far ahead of now still counts (clock reads race the write by microseconds). */
const FUTURE_SLACK_MS = 50;

/** The age past which the dispatcher gives a worker no work: three missed beats. */
export const FRESH_BEAT_MS = 3 * HEARTBEAT_INTERVAL_MS;

/** A verdict: alive, or not, and how old the last beat is (null: no plausible beat at all). */
export type Verdict = { alive: true; ageMs: number } | { alive: false; ageMs: number | null };

/**
 * Whether `beat` can be a heartbeat at all: a number, not from the future, not from before the
 * role's process started (`notBefore`). Anything else is garbage another process wrote into the
 * slot; the role rewrites its beat at its next one.
 */
export function plausibleBeat(beat: number, now: number, notBefore = -Infinity): boolean {
  return Number.isFinite(beat) && beat >= notBefore && beat <= now + FUTURE_SLACK_MS;
}

/** The judgement: alive if `beat` is plausible and at most `timeoutMs` old at `now`. */
export function judgeBeat(
  beat: number,
  now: number,
  timeoutMs: number,
  notBefore = -Infinity,
): Verdict {
  if (!plausibleBeat(beat, now, notBefore)) return { alive: false, ageMs: null };
  return byAge(now - beat, timeoutMs);
}

/** The rule itself: alive while the last beat is at most `timeoutMs` old. */
function byAge(ageMs: number, timeoutMs: number): Verdict {
  return ageMs <= timeoutMs ? { alive: true, ageMs } : { alive: false, ageMs };
}

/**
 * The beats of one process as its supervisor sees them: the latest plausible value read from its
 * slot. A garbage value is no beat, and does not erase the last real one.
 */
export class BeatRecord {
  #startedAt: number;
  #last: number;

  /** A process started at `startedAt` (monotonic ms): it counts as having beaten then. */
  constructor(startedAt: number) {
    this.#startedAt = startedAt;
    this.#last = startedAt;
  }

  /** Takes the value read from the slot at `now`, if it is a plausible and newer beat. */
  heard(beat: number, now: number): void {
    if (plausibleBeat(beat, now, this.#startedAt) && beat > this.#last) this.#last = beat;
  }

  /** The judgement of the latest beat heard (checked when it was heard), at `now`. */
  judge(now: number, timeoutMs: number): Verdict {
    return byAge(now - this.#last, timeoutMs);
  }
}
