import assert from "node:assert/strict";
import { InstanceLock, InstanceLockedError, lockHolderPid, RuntimeDir } from "../ipc/mod.ts";
import { roleCommand } from "../roles/mod.ts";
import { killAndReap, LineReader, spawnFixture, waitUntil } from "./helpers.ts";

Deno.test("the instance lock: refused while another process holds it, free once it is SIGKILLed", async () => {
  const dir = RuntimeDir.create({ prefix: "osps-test-" });
  const path = dir.file("osps.lock");
  const holder = spawnFixture("lock_holder.ts", [path]);
  try {
    assert.equal(await new LineReader(holder.stdout).next(), "locked");
    assert.ok(InstanceLock.isHeld(path));
    assert.throws(() => InstanceLock.acquire(path), (e) => {
      assert.ok(e instanceof InstanceLockedError);
      assert.equal(e.pid, holder.pid);
      assert.match(e.message, new RegExp(`another osps instance is running \\(pid ${holder.pid}`));
      return true;
    });
    assert.equal(lockHolderPid(path), holder.pid, "the refused attempt wrote nothing");
    holder.kill("SIGKILL");
    await holder.status;
    await waitUntil(
      "the kernel to drop the dead holder's lock",
      () => !InstanceLock.isHeld(path),
      1000,
    );
    using lock = InstanceLock.acquire(path);
    assert.equal(lockHolderPid(path), Deno.pid);
    lock.release();
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound, "released and removed");
  } finally {
    await killAndReap(holder);
    dir.remove();
  }
});

// status --watch asks twice a second whether an instance runs: asking used to take the lock
// for an instant, and an `up` started in that instant was refused as "another instance".
Deno.test("asking whether the lock is held never takes it: a process that takes it is never refused", async () => {
  const dir = RuntimeDir.create({ prefix: "osps-test-" });
  const path = dir.file("osps.lock");
  const prober = roleCommand(new URL("./fixtures/lock_prober.ts", import.meta.url), [path], {
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const lines = new LineReader(prober.stdout);
    assert.equal(await lines.next(), "probing");
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      try {
        InstanceLock.acquire(path).release();
      } catch (e) {
        if (!(e instanceof InstanceLockedError)) throw e;
        refused++;
      }
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await prober.stdin.close();
    const looks = Number(await lines.next());
    assert.ok(looks > 1000, `the prober looked ${looks} times meanwhile`);
    assert.equal(refused, 0, "never refused because someone was looking");
  } finally {
    await killAndReap(prober);
    dir.remove();
  }
});
