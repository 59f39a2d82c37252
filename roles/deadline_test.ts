import assert from "node:assert/strict";
import { DEADLINE_TICK_MS, deadlineAfter, type DeadlineClock, Deadlines } from "./deadline.ts";

/** A clock that moves only when told, ticking as real time would. */
class ManualClock implements DeadlineClock {
  #t = 0;
  #tick: (() => void) | null = null;
  #nextTick = 0;
  now(): number {
    return this.#t;
  }
  every(ms: number, tick: () => void): () => void {
    this.#tick = tick;
    this.#nextTick = this.#t + ms;
    return () => this.#tick = null;
  }
  /** Whether a tick is set (some deadline pending). */
  get ticking(): boolean {
    return this.#tick !== null;
  }
  /** Moves `ms` forward, ticking at each tick's time on the way. */
  advance(ms: number): void {
    const end = this.#t + ms;
    while (this.#tick !== null && this.#nextTick <= end) {
      this.#t = this.#nextTick;
      this.#nextTick += DEADLINE_TICK_MS;
      this.#tick();
    }
    this.#t = end;
  }
}

Deno.test("a deadline fires once, at the first tick at or after its time; a cancelled one never", () => {
  const clock = new ManualClock();
  const set = new Deadlines(clock);
  const fired: string[] = [];
  const due = set.after(30, () => fired.push(`due at ${clock.now()}`));
  set.after(30, () => fired.push("cancelled")).cancel();
  clock.advance(49);
  assert.deepEqual(fired, [], "not before its tick");
  clock.advance(1);
  assert.deepEqual(fired, ["due at 50"]);
  assert.ok(due.fired);
  clock.advance(500);
  assert.deepEqual(fired, ["due at 50"], "once");
  assert.equal(clock.ticking, false, "no tick once none is pending");
});

Deno.test("a restarted deadline fires from its new start; a fired one can be restarted", () => {
  const clock = new ManualClock();
  const set = new Deadlines(clock);
  let count = 0;
  const d = set.after(20, () => count++);
  clock.advance(10);
  d.restart(80); // due at 90: the tick at 100
  clock.advance(80);
  assert.equal(count, 0, "moved forward: not fired at its first time");
  clock.advance(10);
  assert.equal(count, 1);
  d.restart(10);
  assert.equal(set.pending, 1);
  clock.advance(DEADLINE_TICK_MS);
  assert.equal(count, 2);
});

Deno.test("on real time, a deadline fires, never before its time", async () => {
  const t0 = performance.now();
  const { promise, resolve } = Promise.withResolvers<number>();
  deadlineAfter(30, () => resolve(performance.now() - t0));
  // The tick never keeps the process alive: this test's own timer does.
  const keepAlive = setTimeout(() => {}, 5000);
  const firedAt = await promise;
  clearTimeout(keepAlive);
  assert.ok(firedAt >= 30, `fired at ${firedAt} ms`);
});
