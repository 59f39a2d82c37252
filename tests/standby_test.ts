import assert from "node:assert/strict";
import * as libc from "../ipc/libc.ts";
import { childrenOf, oomScoreAdj, sendSignal } from "../ipc/mod.ts";
import {
  OspsClient,
  roleCommand,
  standbyOrderLine,
  SYSTEM_ROLE_PERMISSIONS,
} from "../roles/mod.ts";
import { isClean, type RunningSystem, startSystem, type SystemOptions } from "../scenarios/mod.ts";
import type { TracedEvent } from "../roles/mod.ts";
import { LineReader } from "./helpers.ts";

const STANDBY = new URL("../roles/standby/main.ts", import.meta.url);

/** The pids the watchdog's trace gives for `event` (its detail starts `pid N`). */
function pidsOf(system: RunningSystem, event: string, peer?: string): number[] {
  return system.trace()
    .filter((e: TracedEvent) => e.role === "watchdog" && e.event === event && e.peer === peer)
    .map((e) => Number(/^pid (\d+)/.exec(e.detail ?? "")?.[1]));
}

/** Waits (bounded) until the standby `pid` has loaded everything. */
async function loaded(system: RunningSystem, pid: number): Promise<void> {
  await system.waitFor(
    `standby ${pid} to load`,
    () => pidsOf(system, "standby loaded").includes(pid),
    10_000,
  );
}

/** Answers `n` echo requests through the dispatcher, each checked. */
async function served(system: RunningSystem, n: number): Promise<void> {
  await using client = await OspsClient.connect({ port: system.port });
  for (let i = 0; i < n; i++) {
    const r = await client.request(`requetetype1 after ${i}`);
    assert.deepEqual(r.ok && r.result, `after ${i}`);
  }
}

/**
 * Runs `body` on a traced system started with `options`; stops it, checks it left nothing and
 * removes its trace, whatever happens.
 */
async function withSystem(
  options: Omit<SystemOptions, "tracePath">,
  body: (system: RunningSystem) => Promise<void>,
): Promise<void> {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({ ...options, tracePath: `${out}/t.jsonl` });
  try {
    await body(system);
  } finally {
    const report = await system.stop();
    Deno.removeSync(out, { recursive: true });
    assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
  }
}

Deno.test("a crashed worker's place is taken by the standby, and a new standby waits", async () => {
  await withSystem({ stage: "relay", workers: 2 }, async (system) => {
    await system.waitFor("a standby", () => pidsOf(system, "standby").length === 1, 5000);
    const [standby] = pidsOf(system, "standby");
    assert.ok(
      childrenOf(system.watchdog.pid).some((c) => c.pid === standby),
      "the standby is the watchdog's child",
    );
    await loaded(system, standby);
    const old = system.role("worker 1").pid;
    sendSignal(old, "SIGKILL");
    await system.waitFor(
      "worker 1 in the standby",
      () => system.role("worker 1").pid === standby,
      5000,
    );
    // The trace is written in batches: the restart's event comes shortly.
    await system.waitFor(
      "the restart's event",
      () => pidsOf(system, "restart", "worker 1").length === 1,
      5000,
    );
    assert.deepEqual(pidsOf(system, "restart", "worker 1"), [standby]);
    await system.waitFor("a second standby", () => pidsOf(system, "standby").length === 2, 5000);
    const [, next] = pidsOf(system, "standby");
    assert.ok(![old, standby].includes(next), "the next standby is a new process");
    await served(system, 20);
    await loaded(system, next);
    // The dispatcher's turn: it too becomes the standby's.
    sendSignal(system.role("dispatcher").pid, "SIGKILL");
    await system.waitFor(
      "the dispatcher in the standby",
      () => system.role("dispatcher").pid === next,
      5000,
    );
    await served(system, 20);
  });
});

Deno.test("a standby that died is not handed a role: the restart spawns, then a new standby waits", async () => {
  await withSystem({ stage: "relay", workers: 1 }, async (system) => {
    await system.waitFor("a standby", () => pidsOf(system, "standby").length === 1, 5000);
    const [standby] = pidsOf(system, "standby");
    sendSignal(standby, "SIGKILL");
    await system.waitFor(
      "the standby's exit",
      () => pidsOf(system, "standby exit").includes(standby),
      5000,
    );
    sendSignal(system.role("worker 1").pid, "SIGKILL");
    await system.waitFor(
      "worker 1 restarted",
      () => pidsOf(system, "restart", "worker 1").length === 1,
      5000,
    );
    const [restarted] = pidsOf(system, "restart", "worker 1");
    assert.notEqual(restarted, standby);
    await system.waitFor("a new standby", () => pidsOf(system, "standby").length === 2, 5000);
    await served(system, 10);
  });
});

// A standby stopped by a signal (SIGSTOP) was handed the next role, which then stayed down for
// the whole start timeout (10 s): with the dispatcher, 10 s without service.
Deno.test("a stopped standby is not handed a role: ended, and the role is spawned at once", async () => {
  await withSystem({ stage: "relay", workers: 2 }, async (system) => {
    await system.waitFor("a standby", () => pidsOf(system, "standby").length === 1, 5000);
    const [standby] = pidsOf(system, "standby");
    await loaded(system, standby);
    sendSignal(standby, "SIGSTOP");
    const t0 = performance.now();
    const pid = system.signal("dispatcher", "SIGKILL");
    await system.waitFor(
      "the dispatcher again",
      (s) => s.role("dispatcher").pid !== pid && pidsOf(s, "ready", "dispatcher").length === 2,
      5000,
    );
    const took = performance.now() - t0;
    assert.ok(took < 1000, `the dispatcher answered again after ${took.toFixed(0)} ms`);
    assert.notEqual(system.role("dispatcher").pid, standby, "not the stopped standby");
    assert.ok(
      system.trace().some((e) =>
        e.event === "standby exit" && e.detail?.startsWith(`pid ${standby} was stopped by a signal`)
      ),
    );
    await served(system, 5);
  });
});

// A role stopped while it starts would never say it is ready: it is killed after the heartbeat
// timeout and restarted, not left for the 10 s start timeout (nor hold the stop for 6 s).
Deno.test("a role stopped by a signal while it starts is killed and restarted", async () => {
  await withSystem({ stage: "relay", workers: 2, standby: false }, async (system) => {
    const pid = system.signal("worker 2", "SIGKILL");
    await system.waitFor("worker 2's next process", (s) => s.role("worker 2").pid !== pid, 5000);
    const starting = system.role("worker 2").pid;
    sendSignal(starting, "SIGSTOP");
    const t0 = performance.now();
    await system.waitFor(
      "worker 2 killed and restarted",
      (s) => s.role("worker 2").pid !== starting && pidsOf(s, "ready", "worker 2").length === 2,
      5000,
    );
    assert.ok(performance.now() - t0 < 3000, "within the heartbeat timeout and a start");
    assert.ok(
      system.trace().some((e) =>
        e.event === "frozen" && e.peer === "worker 2" &&
        e.detail === "stopped by a signal while it starts; SIGKILL"
      ),
    );
    await served(system, 5);
  });
});

// The idle standby was the OOM killer's first pick among equals by chance only; now by design,
// and the watchdog (where allowed) its last.
Deno.test("the standby goes first when memory runs out, the watchdog last, the roles between", async () => {
  await withSystem({ stage: "relay", workers: 1 }, async (system) => {
    await system.waitFor("a standby", () => pidsOf(system, "standby").length === 1, 5000);
    const [standby] = pidsOf(system, "standby");
    await loaded(system, standby);
    assert.equal(oomScoreAdj(standby), 1000);
    assert.equal(oomScoreAdj(system.role("worker 1").pid), 0);
    assert.equal(oomScoreAdj(system.role("dispatcher").pid), 0);
    // Lowering it takes CAP_SYS_RESOURCE (bit 24 of the effective capabilities).
    const status = new TextDecoder().decode(libc.readWholeFile("/proc/self/status")!);
    const caps = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
    assert.equal(oomScoreAdj(system.watchdog.pid), (caps >> 24n) & 1n ? -500 : 0);
    // Once it is a role, it is one like the others.
    system.signal("worker 1", "SIGKILL");
    await system.waitFor(
      "the standby as worker 1",
      (s) => s.role("worker 1").pid === standby,
      5000,
    );
    await system.waitFor(
      "it is ready",
      () => pidsOf(system, "ready", "worker 1").length === 2,
      5000,
    );
    assert.equal(oomScoreAdj(standby), 0);
  });
});

Deno.test("--no-standby: no standby process, a restart spawns a new one", async () => {
  await withSystem({ stage: "relay", workers: 2, standby: false }, async (system) => {
    const roles = system.roles.map((r) => r.pid).sort();
    assert.deepEqual(childrenOf(system.watchdog.pid).map((c) => c.pid).sort(), roles);
    sendSignal(system.role("worker 2").pid, "SIGKILL");
    await system.waitFor(
      "worker 2 restarted",
      () => pidsOf(system, "restart", "worker 2").length === 1,
      5000,
    );
    await served(system, 10);
    assert.deepEqual(pidsOf(system, "standby"), []);
    assert.ok(!system.trace().some((e) => /standby/.test(e.detail ?? "")));
  });
});

/** Runs the standby program by hand; `input` goes to its stdin. */
async function standbyWith(
  input: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = roleCommand(
    STANDBY,
    ["--segment", "/osps-none", "--parent-pid", String(Deno.pid)],
    { stdin: "piped", stdout: "piped", stderr: "piped" },
    SYSTEM_ROLE_PERMISSIONS,
  ).spawn();
  const lines = new LineReader(child.stdout);
  assert.equal(await lines.next(), "standby loaded");
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    lines.rest(),
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, stdout, stderr };
}

Deno.test("the standby program: leaves at end of stdin, refuses a line that is not an order", async () => {
  assert.deepEqual(await standbyWith(""), { code: 0, stdout: "", stderr: "" });
  const bad = await standbyWith("requetetype1 hello\n");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^standby: not an order: "requetetype1 hello"/);
  // An order whose role cannot start says so as that role would, with its exit code.
  const role = await standbyWith(
    standbyOrderLine({ program: "worker", args: ["--stage", "relay"] }),
  );
  assert.equal(role.code, 2);
  assert.match(role.stderr, /^worker: --segment is required/);
});
