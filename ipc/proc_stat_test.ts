import assert from "node:assert/strict";
import { isReapableZombie, parseProcStat } from "./proc_stat.ts";

// Lines as /proc/<pid>/stat gives them (num_threads is field 20).
const line = (state: string, threads: number) =>
  `4242 (deno (w 1)) ${state} 4200 4210 4220 0 -1 4194368 900 0 0 0 12 3 5 2 20 0 ${threads} 0 ` +
  "1658154 3133440 362 18446744073709551615 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

Deno.test("a stat line: pid, command with parentheses, state, parent, session, threads, CPU ticks (its own, its reaped children's), start", () => {
  assert.deepEqual(parseProcStat(4242, line("S", 9)), {
    pid: 4242,
    comm: "deno (w 1)",
    state: "S",
    ppid: 4200,
    session: 4220,
    threads: 9,
    userTicks: 12,
    systemTicks: 3,
    reapedChildrenTicks: 7,
    startTicks: 1658154,
  });
});

Deno.test("a zombie can be reaped once its last thread is gone, not while its threads exit", () => {
  assert.equal(isReapableZombie(parseProcStat(4242, line("Z", 1))), true);
  assert.equal(isReapableZombie(parseProcStat(4242, line("Z", 3))), false, "still dying");
  assert.equal(isReapableZombie(parseProcStat(4242, line("S", 1))), false);
  assert.equal(isReapableZombie(parseProcStat(4242, line("T", 1))), false);
});
