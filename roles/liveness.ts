/**
 * Is a role alive? One judgement, used by the watchdog (a role whose heartbeat is too old is
 * frozen: kill and restart it) and by the dispatcher (a worker whose heartbeat is not fresh gets
 * no work). Pure functions of the beat and of now, both read from CLOCK_MONOTONIC
 * (`monotonicMs`): the same clock in every process, never stepped, so a wall-clock jump (NTP, a
 * date set by hand) changes no verdict.
 *
 * @module
 */

/** How often a role beats, ms. */
export const HEARTBEAT_INTERVAL_MS = 100;

/** A beat this far ahead of now still counts (clock reads race the write by microseconds). */
const FUTURE_SLACK_MS = 50;

/** The age past which the dispatcher gives a worker no work: three missed beats. */
export const FRESH_BEAT_MS = 3 * HEARTBEAT_INTERVAL_MS;

/**
 * Whether `beat` can be a heartbeat at all: a number, not from the future, not from before the
 * role's process started (`notBefore`). Anything else is garbage another process wrote into the
 * slot; the role rewrites its beat at its next one.
 */
export function plausibleBeat(beat: number, now: number, notBefore = -Infinity): boolean {
  return Number.isFinite(beat) && beat >= notBefore && beat <= now + FUTURE_SLACK_MS;
}

/** Whether a worker beat recently enough to be given work. */
export function freshBeat(beat: number, now: number, freshMs = FRESH_BEAT_MS): boolean {
  return plausibleBeat(beat, now) && now - beat <= freshMs;
}

/** What the watchdog concludes from a role's last plausible beat. */
export type Verdict = { frozen: false } | { frozen: true; ageMs: number };

/** Whether a role whose last plausible beat is `lastBeat` is frozen at `now` (older than the timeout). */
export function judgeBeat(lastBeat: number, now: number, timeoutMs: number): Verdict {
  const ageMs = now - lastBeat;
  return ageMs > timeoutMs ? { frozen: true, ageMs } : { frozen: false };
}
