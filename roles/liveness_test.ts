import assert from "node:assert/strict";
import {
  FRESH_BEAT_MS,
  freshBeat,
  HEARTBEAT_INTERVAL_MS,
  judgeBeat,
  plausibleBeat,
} from "./liveness.ts";

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
  const clocks = {
    monotonic: { offset: 0, beat: 0, last: 0, frozenAt: null as number | null },
    wall: { offset: 1_800_000_000_000, beat: 0, last: 0, frozenAt: null as number | null },
  };
  clocks.wall.beat = clocks.wall.last = clocks.wall.offset;
  for (let t = 0; t <= 10_000; t += 25) {
    if (t === 5050) clocks.wall.offset += stepMs;
    for (const c of Object.values(clocks)) {
      const now = t + c.offset;
      if (t % HEARTBEAT_INTERVAL_MS === 0 && t < freezeAt) c.beat = now;
      if (t % 50 === 25) {
        if (plausibleBeat(c.beat, now) && c.beat > c.last) c.last = c.beat;
        if (c.frozenAt === null && judgeBeat(c.last, now, timeout).frozen) c.frozenAt = t;
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

Deno.test("a role is frozen once its last beat is older than the timeout, not before", () => {
  assert.deepEqual(judgeBeat(10_000, 10_999, 1000), { frozen: false });
  assert.deepEqual(judgeBeat(10_000, 11_000, 1000), { frozen: false });
  assert.deepEqual(judgeBeat(10_000, 11_001, 1000), { frozen: true, ageMs: 1001 });
});

Deno.test("only a plausible value is a beat; only a recent one earns a worker work", () => {
  const now = 50_000;
  assert.ok(plausibleBeat(now - 10, now, 40_000));
  assert.ok(plausibleBeat(now + 49, now), "a beat written a few µs after now was read");
  for (const garbage of [NaN, Infinity, -Infinity, now + 1000, 39_999]) {
    assert.ok(!plausibleBeat(garbage, now, 40_000), String(garbage));
  }
  assert.ok(freshBeat(now - FRESH_BEAT_MS, now));
  assert.ok(!freshBeat(now - FRESH_BEAT_MS - 1, now), "three missed beats: no work");
  assert.ok(!freshBeat(now + 1000, now), "a beat from the future is garbage");
});
