import assert from "node:assert/strict";
import {
  BENCH_STAGES,
  formatIpcBench,
  formatRecoveryBench,
  formatStagesBench,
  IPC_METHODS,
  runIpcBench,
  runRecoveryBench,
  runStagesBench,
  stageVerdicts,
} from "../bench/mod.ts";
import { checkLeftovers, isClean, readTrace } from "../scenarios/mod.ts";

// The short version of `deno task bench:ipc`: it measures, reports, and cleans up. Its speed
// target lives in the benchmark's report, not here.
Deno.test("bench ipc (short): the three waits measured in alternating rounds, nothing left", async () => {
  const result = await runIpcBench({ roundTrips: 300, rounds: 3 });
  for (const m of IPC_METHODS) {
    const s = result.methods[m];
    assert.equal(s.count, 300, m);
    assert.ok(s.p50 > 0 && s.p50 <= s.p99, `${m}: ${JSON.stringify(s)}`);
    assert.ok(Number.isFinite(s.cpuUs) && s.cpuUs >= 0, `${m}: ${JSON.stringify(s)}`);
  }
  const { socket, blocking } = result.methods;
  assert.ok(Math.abs(result.ratio - socket.p50 / blocking.p50) < 1e-9, "the ratio of the p50s");
  // The verdict follows the ratio measured, whichever way this machine's run went.
  const verdict = /target <= 1\.5: (met|NOT met)/.exec(formatIpcBench(result))?.[1];
  assert.equal(verdict, result.ratio <= 1.5 ? "met" : "NOT met", formatIpcBench(result));
  const left = checkLeftovers({ paths: [result.runtimeDir] });
  assert.ok(isClean(left), JSON.stringify(left));
});

// The short version of `deno task bench:stages`: every stage, traced and not, from a load-generator
// process; every answer its own, CPU counted for every role, the verdicts printed.
Deno.test("bench stages (short): every stage answers every request right, CPU per role, the table says so", async () => {
  const traceDir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const result = await runStagesBench({
      clients: 3,
      requests: 100,
      warmup: 5,
      cold: 20,
      single: 40,
      referenceTrips: 100,
      pythonRequests: 400,
      floorRequests: 2000,
      traceDir,
    });
    assert.deepEqual(result.stages.map((s) => s.stage), [...BENCH_STAGES]);
    for (const s of result.stages) {
      for (const l of [s.load, s.traced]) {
        assert.equal(l.requests, 300, s.stage);
        assert.equal(l.right, 300, `${s.stage}: ${l.wrong.join("; ")}`);
        // 300 requests take well over one 10 ms clock tick of the instance's CPU.
        assert.ok(l.cpuUs.total > 0, `${s.stage}: ${JSON.stringify(l.cpuUs)}`);
        const { dispatcher, workers, watchdog, total } = l.cpuUs;
        assert.ok(Math.abs(dispatcher + workers + watchdog - total) < 1e-6, s.stage);
      }
      assert.equal(s.cold.right, 60, `${s.stage} cold: ${s.cold.wrong.join("; ")}`);
      assert.equal(s.single.right, 40, s.stage);
      assert.ok(s.clean, s.stage);
      // osps and Python, the same load in alternating rounds, every answer right.
      for (const f of [s.python.python, s.python.osps]) {
        assert.equal(f.requests, 1200, `${s.stage} ${f.name}`);
        assert.equal(f.right, 1200, `${s.stage} ${f.name}`);
        assert.equal(f.rounds.length, 3);
      }
      assert.ok(s.python.cpuRatio > 0 && Number.isFinite(s.python.cpuRatio), s.stage);
      // Every process's CPU is given to one part of the design.
      for (const f of [s.python.python, s.python.osps]) {
        const parts = Object.values(f.cpuUsByRole).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(parts - f.cpuUsPerRequest) < 1e-6, `${s.stage} ${f.name}`);
      }
      assert.ok(stageVerdicts(s).lossless, s.stage);
      // The traced run left its trace, events of every role in it.
      const roles = new Set(readTrace(`${traceDir}/trace-${s.stage}.jsonl`).map((e) => e.role));
      for (const role of ["dispatcher", "worker 1", "watchdog"]) assert.ok(roles.has(role), role);
    }
    assert.ok(result.reference.sumUs > 0 && Number.isFinite(result.relayRatio));
    const table = formatStagesBench(result);
    // Each verdict follows its ratio, measured in this run, whichever way it went.
    for (const s of result.stages) {
      const { python, osps } = s.python;
      assert.ok(
        Math.abs(s.python.cpuRatio - osps.cpuUsPerRequest / python.cpuUsPerRequest) < 1e-9,
      );
      const row = table.split("\n").find((l) => l.startsWith(`| ${s.stage} | `) && l.includes("÷"));
      const said = [...row!.matchAll(/[≤≥] [\d.]+: (met|NOT met)/g)].map((m) => m[1]);
      const held = [
        s.python.cpuRatio <= 0.8,
        s.python.throughputRatio >= 1.25,
        s.traceRatio <= 1.3,
      ];
      assert.deepEqual(said, held.map((ok) => ok ? "met" : "NOT met"), row);
    }
    assert.match(table, /no answer lost, wrong or duplicated, nothing left behind: yes/);
    assert.match(table, /\| relay \| off, cold \| \d+ \|/);
    assert.match(table, /\| client-calls-worker \| workers \| \d+ \| \d+ \| /);
    // The floors: both servers of both kinds measured, the table saying so.
    assert.deepEqual(result.floors.map((x) => x.mode), ["connection", "kept"]);
    for (const x of result.floors) assert.ok(x.denoUs > 0 && x.pythonUs > 0, JSON.stringify(x));
    assert.match(
      table,
      /\| accept, read a line, write a line, close \| \d+\.\d \| \d+\.\d \| \d+\.\d\d \|/,
    );
  } finally {
    Deno.removeSync(traceDir, { recursive: true });
  }
});

// The short version of `deno task bench:recovery`: one trial per fault, a quicker heartbeat.
Deno.test("bench recovery (short): every fault is detected and recovered, the table has its rows", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  try {
    const result = await runRecoveryBench({
      trials: 1,
      heartbeatTimeoutMs: 400,
      tracePath: `${dir}/trace.jsonl`,
    });
    assert.equal(result.rows.length, 9);
    for (const row of [...result.rows.slice(0, 6), result.rows[7]]) {
      assert.ok(row.detect !== null && row.detect.n === 1, row.fault);
    }
    for (const row of result.rows) {
      assert.ok(row.servedAgain.n >= 1 && row.servedAgain.median > 0, row.fault);
    }
    // The reload and the scaling lose nothing of the load that runs meanwhile.
    assert.deepEqual(result.rows.slice(6, 8).map((row) => row.lost), [0, 0]);
    // 4 new workers each took an order after they were ready.
    assert.equal(result.rows[7].servedAgain.n, 4);
    const table = formatRecoveryBench(result);
    assert.match(table, /\| worker freeze \(SIGSTOP\)/);
    assert.match(table, /\| dispatcher crash, --no-standby/);
    assert.match(table, /\| one-for-all: worker crash, every role/);
    assert.match(
      table,
      /\| rolling reload, 4 workers \+ dispatcher .*\(until reloaded\) .*\| 0 \|/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
