import assert from "node:assert/strict";
import {
  becomeSubreaper,
  childrenOf,
  collectChild,
  isRunning,
  NoSuchProcessError,
  processExists,
  processInfo,
  reapAdopted,
  sendSignal,
  SignalQueue,
  spawnUnwaited,
  SysCallError,
  zombieChildrenOf,
} from "../ipc/mod.ts";
import { ROLE_PERMISSIONS, roleCommand, withTimeout } from "../roles/mod.ts";
import { killAndReap, LineReader, spawnFixture, waitUntil } from "./helpers.ts";

Deno.test("parent-death signal: SIGKILL the parent, the child exits within 1 s", async () => {
  // Orphans are re-parented to this process instead of init, so the test can reap its grandchild.
  becomeSubreaper();
  const parent = spawnFixture("pdeath_parent.ts");
  let grandchild = 0;
  try {
    const [, pid] = await new LineReader(parent.stdout).until(/^armed (\d+)$/);
    grandchild = Number(pid);
    assert.ok(isRunning(grandchild));
    parent.kill("SIGKILL");
    assert.equal((await parent.status).signal, "SIGKILL");
    const took = await waitUntil(
      `grandchild ${grandchild} to exit`,
      () => !isRunning(grandchild),
      1000,
    );
    assert.ok(took < 1000, `took ${took} ms`);
  } finally {
    await killAndReap(parent);
    if (grandchild) {
      if (isRunning(grandchild)) sendSignal(grandchild, "SIGKILL");
      await waitUntil(`grandchild ${grandchild} reaped`, () => reapAdopted(grandchild), 2000);
    }
  }
  assert.equal(processInfo(grandchild), null, "reaped, not a zombie");
});

Deno.test("setParentDeathSignal refuses when the given parent is not the parent", async () => {
  const child = spawnFixture("pdeath_child.ts", ["1"]);
  try {
    const out = await new LineReader(child.stdout).rest();
    assert.match(out, /parent pid 1 is gone \(parent is now \d+\)/);
    assert.equal((await child.status).code, 3);
  } finally {
    await killAndReap(child);
  }
});

Deno.test("signals are queued in arrival order and handed to the loop", async () => {
  using queue = new SignalQueue(["SIGUSR1", "SIGUSR2"]);
  // A signal listener does not keep the event loop alive: the bounded wait's timer does.
  const next = () => withTimeout(queue.next(), 2000);
  sendSignal(Deno.pid, "SIGUSR1");
  assert.equal(await next(), "SIGUSR1");
  sendSignal(Deno.pid, "SIGUSR2");
  assert.equal(await next(), "SIGUSR2");
  sendSignal(Deno.pid, "SIGUSR1");
  assert.equal(await next(), "SIGUSR1");
  const pending = queue.next();
  queue.close();
  assert.equal(await pending, null);
});

Deno.test("liveness, children and zombies are read from /proc", async () => {
  assert.ok(processExists(Deno.pid));
  assert.equal(processInfo(Deno.pid)?.state !== "Z", true);
  const child = spawnFixture("pdeath_child.ts", ["1"]);
  assert.equal((await child.status).code, 3);
  await child.stdout.cancel();
  assert.equal(processExists(child.pid), false, "reaped by Deno once its status was awaited");
  assert.throws(() => sendSignal(child.pid, "SIGTERM"), NoSuchProcessError);

  const sleeper = spawnFixture("pdeath_child.ts", [String(Deno.pid)]);
  try {
    await new LineReader(sleeper.stdout).until(/^armed/);
    assert.ok(childrenOf(Deno.pid).some((p) => p.pid === sleeper.pid));
    sendSignal(sleeper.pid, "SIGSTOP");
    await waitUntil("state T", () => processInfo(sleeper.pid)?.state === "T", 1000);
    sendSignal(sleeper.pid, "SIGKILL");
  } finally {
    await killAndReap(sleeper);
  }
  assert.deepEqual(zombieChildrenOf(Deno.pid), []);
});

// The experiments' helper parent spawns a child that exits at once, then blocks its event loop
// for 1.5 s: the child stays unreaped meanwhile, and is reaped after.
Deno.test("an exited child not yet reaped is a zombie with one thread left; Deno runs several", async () => {
  const parent = roleCommand(
    new URL("../scenarios/experiment_helper.ts", import.meta.url),
    ["zombie-parent", "1500"],
    { stdin: "null", stdout: "piped", stderr: "inherit" },
    [...ROLE_PERMISSIONS, "--allow-run"],
  ).spawn();
  try {
    const lines = new LineReader(parent.stdout);
    const child = Number((await lines.until(/^child \d+$/))[0].split(" ")[1]);
    await waitUntil(
      "the child a zombie",
      () => zombieChildrenOf(parent.pid).some((p) => p.pid === child),
      1000,
    );
    const zombie = zombieChildrenOf(parent.pid).find((p) => p.pid === child)!;
    assert.deepEqual([zombie.state, zombie.threads], ["Z", 1]);
    assert.ok(processInfo(Deno.pid)!.threads > 1, "a Deno process runs several threads");
    await lines.until(/^reaped$/, 5000);
    assert.equal(processInfo(child), null, "reaped by its parent");
  } finally {
    await killAndReap(parent);
  }
});

Deno.test("a child Deno does not know of stays a zombie until collected; a missing program is ENOENT", async () => {
  const pid = spawnUnwaited(["true"]);
  try {
    await waitUntil("the child a zombie", () => processInfo(pid)?.state === "Z", 2000);
    assert.ok(childrenOf(Deno.pid).some((p) => p.pid === pid), "a child of this process");
  } finally {
    await waitUntil("the child collected", () => collectChild(pid) !== "running", 2000);
  }
  assert.equal(processInfo(pid), null, "collected: gone from /proc");
  assert.equal(collectChild(pid), "ECHILD", "nothing left to wait for");
  assert.throws(
    () => spawnUnwaited(["osps-no-such-program"]),
    (e) =>
      e instanceof SysCallError && e.code === "ENOENT" && /osps-no-such-program/.test(e.message),
  );
});
