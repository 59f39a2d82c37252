import assert from "node:assert/strict";
import { defaultRuntimeBase, SharedSegment } from "../ipc/mod.ts";
import { withTimeout } from "../roles/timers.ts";
import { LineReader } from "./helpers.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** `deno task <args>` in a process group of its own, as a terminal runs a foreground job. */
function taskInItsOwnGroup(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "--config", CONFIG, ...args],
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Kills what is left of the group and of the instance, for a test's `finally`. */
async function cleanUp(task: Deno.ChildProcess, instance: string | null): Promise<void> {
  try {
    Deno.kill(-task.pid, "SIGKILL");
  } catch (e) {
    // The group is gone.
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await task.status;
  await task.stdout.cancel().catch(() => {});
  await task.stderr.cancel().catch(() => {});
  if (instance === null) return;
  if (SharedSegment.exists(`/osps-${instance}`)) SharedSegment.unlink(`/osps-${instance}`);
  Deno.removeSync(`${defaultRuntimeBase()}/osps-${instance}`, { recursive: true });
}

// The terminal sends Ctrl-C's SIGINT to the whole foreground group (deno task, the watchdog, and
// before this was fixed every role), and `deno task` forwards it to the watchdog once more.
Deno.test("Ctrl-C on deno task up (SIGINT to its group): the ordered stop, every role exits 0", async () => {
  const task = taskInItsOwnGroup(["up", "--port", "0", "--workers", "2", "--stage", "relay"]);
  let instance: string | null = null;
  try {
    const lines = new LineReader(task.stdout);
    const [, name] = await lines.until(/^osps up: .* instance (\S+)$/);
    instance = name;
    await lines.until(/^ {2}standby: pid \d+/);
    await lines.until(/^Ctrl-C to stop/);
    Deno.kill(-task.pid, "SIGINT");
    const status = await withTimeout(task.status, 15_000);
    assert.ok(status !== null, "deno task up ended after one Ctrl-C");
    const out = await lines.rest();
    const err = new TextDecoder().decode(await new Response(task.stderr).arrayBuffer());
    assert.equal(status.code, 0, `${out}\n${err}`);
    assert.match(out, /^SIGINT: stopped in order \(dispatcher first, then workers\)$/m);
    for (const role of ["dispatcher", "worker 1", "worker 2", "standby"]) {
      assert.match(out, new RegExp(`^  ${role}: exited with code 0, reaped`, "m"), out);
    }
    assert.doesNotMatch(`${out}${err}`, /SIGKILL|second "?SIGINT/);
    assert.match(out, /^ {2}shared segments left: none$/m);
    instance = null;
  } finally {
    await cleanUp(task, instance);
  }
});
