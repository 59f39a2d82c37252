// The watchdog survives what a child, the kernel or a local user does to it: every way a child
// can die, a /dev/shm too small, a failed fork, a stopped standby, forged and scribbled
// segments, replaced pipes and lock files.
import assert from "node:assert/strict";
import * as libc from "../ipc/libc.ts";
import { ROLE_STATE, sendSignal } from "../ipc/mod.ts";
import { OspsClient } from "../roles/mod.ts";
import { readTrace, startSystem } from "../scenarios/mod.ts";
import { CLI_PERMISSIONS } from "./helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

// A role that hits V8's heap limit dies of SIGTRAP, an abort of SIGABRT; real-time signals have no
// name Deno knows (its child status rejects for them).
Deno.test("a role killed by any fatal signal, named or not, is restarted and reported by name", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({ stage: "relay", workers: 2, tracePath: `${out}/trace.jsonl` });
  try {
    const signals = ["SIGABRT", "SIGTRAP", "SIGILL", "SIGFPE", "SIGXCPU", "SIGSYS", 40] as const;
    // In turn into the two workers: each stays under the crash-loop limit (5 restarts in 10 s).
    for (const [i, signal] of signals.entries()) {
      const worker = `worker ${1 + i % 2}`;
      const pid = system.role(worker).pid;
      if (typeof signal === "number") libc.kill(pid, signal);
      else sendSignal(pid, signal);
      await system.waitFor(
        `${worker} restarted after ${signal} and ready`,
        (s) =>
          s.restarts()[worker] === Math.floor(i / 2) + 1 && s.role(worker).pid !== pid &&
          s.segment.slot(s.role(worker).slot).get("state") === ROLE_STATE.ready,
        5000,
      );
    }
    await using client = await OspsClient.connect({ port: system.port });
    assert.deepEqual((await client.request("requetetype2 100")).ok, true);
    const exits = readTrace(`${out}/trace.jsonl`).filter((e) =>
      e.role === "watchdog" && e.event === "exit"
    ).map((e) => e.detail?.replace(/^pid \d+ /, ""));
    assert.deepEqual(exits, [
      "killed by SIGABRT (6)",
      "killed by SIGTRAP (5)",
      "killed by SIGILL (4)",
      "killed by SIGFPE (8)",
      "killed by SIGXCPU (24)",
      "killed by SIGSYS (31)",
      "killed by signal 40",
    ]);
  } finally {
    const report = await system.stop();
    Deno.removeSync(out, { recursive: true });
    assert.equal(report.watchdog.code, 0, "the watchdog went on to a clean stop");
  }
});

/** `main.ts <args>` in a mount namespace whose /dev/shm is a tmpfs of `size`. */
async function withSmallShm(size: string, args: string[]): Promise<{ code: number; err: string }> {
  const command = [
    Deno.execPath(),
    "run",
    "--quiet",
    ...CLI_PERMISSIONS,
    `${ROOT}/main.ts`,
    ...args,
  ]
    .map((w) => `'${w}'`).join(" ");
  const unshare = libc.getuid() === 0 ? ["-m"] : ["-r", "-m"];
  const o = await new Deno.Command("unshare", {
    args: [...unshare, "sh", "-c", `mount -t tmpfs -o size=${size} tmpfs /dev/shm && ${command}`],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: o.code, err: new TextDecoder().decode(o.stderr) };
}

// tmpfs takes an ftruncate past its size: without the reservation, the first request SIGBUSed the
// dispatcher, long after `up` had said it was running.
Deno.test("a /dev/shm too small for the segment is refused at start, in one line", async () => {
  const instance = `shm${Deno.pid}`;
  const { code, err } = await withSmallShm("16k", ["up", "--port", "0", "--instance", instance]);
  assert.equal(code, 1, err);
  assert.match(
    err,
    new RegExp(
      `^error: cannot start instance ${instance}: no room in /dev/shm for the shared segment ` +
        `/osps-${instance} \\(\\d+ bytes, ENOSPC\\)`,
    ),
  );
  assert.equal(err.trim().split("\n").length, 1, err);
});
