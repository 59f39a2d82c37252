import assert from "node:assert/strict";
import { InstanceLock, InstanceLockedError, lockHolderPid, RuntimeDir } from "../ipc/mod.ts";
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
