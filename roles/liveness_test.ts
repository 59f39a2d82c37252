import assert from "node:assert/strict";
import { BeatRecord, FRESH_BEAT_MS, HEARTBEAT_INTERVAL_MS, judgeBeat } from "./liveness.ts";

/**
 * A role beats every 100 ms for 10 s (and stops at `freezeAt`, if given) while the wall clock is
 * stepped by `stepMs` at 5.05 s, between two beats (NTP, a date set by hand). The watchdog judges
 * every 50 ms as it does, keeping the latest plausible beat: on the monotonic clock, as the toolkit
 * does, and on the wall clock, as it did. Returns when each first found the role frozen (ms of the
 * run, monotonic), or null.
 */
function firstFrozen(
  stepMs: number,
  freezeAt = Infinity,
): Record<"monotonic" | "wall", number | null> {
  const timeout = 1000;
  // The wall clock as it was judged: with no bound at the process's start.
  const clock = (offset: number, startedAt: number) => ({
    offset,
    beat: offset,
    record: new BeatRecord(startedAt),
    frozenAt: null as number | null,
  });
  const clocks = { monotonic: clock(0, 0), wall: clock(1_800_000_000_000, -Infinity) };
  for (let t = 0; t <= 10_000; t += 25) {
    if (t === 5050) clocks.wall.offset += stepMs;
    for (const c of Object.values(clocks)) {
      const now = t + c.offset;
      if (t % HEARTBEAT_INTERVAL_MS === 0 && t < freezeAt) c.beat = now;
      if (t % 50 === 25) {
        c.record.heard(c.beat, now);
        if (c.frozenAt === null && !c.record.judge(now, timeout).alive) c.frozenAt = t;
      }
    }
  }
  return { monotonic: clocks.monotonic.frozenAt, wall: clocks.wall.frozenAt };
}

Deno.test("a wall-clock step forward freezes no role; it did on the wall clock", () => {
  const seen = firstFrozen(3_600_000);
  assert.equal(seen.monotonic, null);
  assert.equal(seen.wall, 5075, "on the wall clock, the first tick after the step");
});

Deno.test("after a wall-clock step back, a real freeze is still seen; on the wall clock it was not", () => {
  assert.deepEqual(firstFrozen(-3_600_000), { monotonic: null, wall: null });
  const seen = firstFrozen(-3_600_000, 7000);
  assert.ok(seen.monotonic !== null && seen.monotonic > 7900 && seen.monotonic <= 8100);
  assert.equal(
    seen.wall,
    null,
    "on the wall clock, blind until the clock catches up, an hour later",
  );
});

Deno.test("a role is alive until its last beat is older than the timeout, not after", () => {
  assert.deepEqual(judgeBeat(10_000, 10_999, 1000), { alive: true, ageMs: 999 });
  assert.deepEqual(judgeBeat(10_000, 11_000, 1000), { alive: true, ageMs: 1000 });
  assert.deepEqual(judgeBeat(10_000, 11_001, 1000), { alive: false, ageMs: 1001 });
  const now = 50_000;
  assert.ok(judgeBeat(now - FRESH_BEAT_MS, now, FRESH_BEAT_MS).alive);
  assert.ok(!judgeBeat(now - FRESH_BEAT_MS - 1, now, FRESH_BEAT_MS).alive, "three missed beats");
});

Deno.test("only a plausible value is a beat: garbage is no beat and erases no real one", () => {
  const now = 50_000;
  assert.ok(judgeBeat(now + 49, now, 1000).alive, "a beat written a few µs after now was read");
  for (const garbage of [NaN, Infinity, -Infinity, now + 1000, 39_999]) {
    assert.deepEqual(judgeBeat(garbage, now, 1e9, 40_000), { alive: false, ageMs: null });
  }
  const record = new BeatRecord(40_000);
  record.heard(49_000, now);
  for (const garbage of [NaN, now + 1000, 39_999, 0]) record.heard(garbage, now);
  assert.deepEqual(record.judge(now, 1000), { alive: true, ageMs: 1000 });
  assert.deepEqual(record.judge(now + 1, 1000), { alive: false, ageMs: 1001 });
});
