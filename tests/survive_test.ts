// The watchdog survives what a child, the kernel or a local user does to it: every way a child
// can die, a /dev/shm too small, a failed fork, a stopped standby, forged and scribbled
// segments, replaced pipes and lock files.
import assert from "node:assert/strict";
import * as libc from "../ipc/libc.ts";
import {
  defaultRuntimeBase,
  isRunning,
  ROLE_STATE,
  sendSignal,
  SharedSegment,
  waitExit,
  workerSlot,
} from "../ipc/mod.ts";
import {
  OspsClient,
  SYSTEM_ROLE_PERMISSIONS,
  watchdogArgs,
  type WatchdogOptions,
  withTimeout,
} from "../roles/mod.ts";
import { isClean, readTrace, startSystem, waitForTrace } from "../scenarios/mod.ts";
import {
  cliArgs,
  cliCommand,
  killAndReap,
  LineReader,
  RawConn,
  RawShm,
  removeShm,
  spawnFixture,
  stopUp,
  waitUntil,
} from "./helpers.ts";

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

/**
 * `main.ts <args>` in a mount namespace of its own, after the shell commands `before` (mounts),
 * then `after` (what it prints is in `out`; the command's own output is dropped).
 */
async function inMountNamespace(
  before: string,
  args: string[],
  env: Record<string, string> = {},
  after = "",
): Promise<{ code: number; out: string; err: string }> {
  const command = [Deno.execPath(), ...cliArgs(args)].map((w) => `'${w}'`).join(" ");
  const unshare = libc.getuid() === 0 ? ["-m"] : ["-r", "-m"];
  const o = await new Deno.Command("unshare", {
    args: [...unshare, "sh", "-c", `${before} ${command} >/dev/null; code=$?${after}; exit $code`],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: o.code, out: text(o.stdout), err: text(o.stderr) };
}

/** `main.ts <args>` in a mount namespace whose /dev/shm is a tmpfs of `size`. */
function withSmallShm(size: string, args: string[]): Promise<{ code: number; err: string }> {
  return inMountNamespace(`mount -t tmpfs -o size=${size} tmpfs /dev/shm &&`, args);
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

/**
 * A watchdog run by a Deno binary of its own (a hard link, or a copy), for faults that need the
 * binary gone; with its trace in `dir`. Resolves once it printed `ready`.
 */
async function watchdogOn(
  deno: string,
  dir: string,
  options: Partial<WatchdogOptions> = {},
): Promise<{ watchdog: Deno.ChildProcess; instance: string; port: number }> {
  const instance = `sv${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  const args = watchdogArgs({
    stage: "relay",
    workers: 2,
    host: "127.0.0.1",
    port: 0,
    instance,
    runtimeBase: defaultRuntimeBase(),
    queueLimit: 64,
    requestTimeoutMs: 10_000,
    claimTimeoutMs: 5000,
    idleTimeoutMs: 60_000,
    graceMs: 2000,
    logLevel: "error",
    trace: `${dir}/trace.jsonl`,
    ...options,
  });
  const watchdog = new Deno.Command(deno, {
    args: [
      "run",
      "--quiet",
      "--config",
      `${ROOT}/deno.json`,
      ...SYSTEM_ROLE_PERMISSIONS,
      "--allow-run",
      `${ROOT}/roles/watchdog/main.ts`,
      ...args,
      "--parent-pid",
      String(Deno.pid),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    detached: true,
  }).spawn();
  const ready = await new LineReader(watchdog.stdout).until(/^ready (\d+) /, 20_000);
  return { watchdog, instance, port: Number(ready[1]) };
}

/** A hard link to this Deno binary in `dir` (a copy if it is on another file system). */
function linkDeno(dir: string): string {
  const path = `${dir}/deno`;
  try {
    Deno.linkSync(Deno.execPath(), path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotSupported || (e as { code?: string }).code === "EXDEV")) {
      throw e;
    }
    Deno.copyFileSync(Deno.execPath(), path);
  }
  return path;
}

// A fork that fails (EAGAIN in a full pids cgroup; here, the binary gone) during a restart used
// to end the whole instance with an uncaught error from the supervisor's spawn.
Deno.test("a restart whose process cannot be started goes through the restart policy", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-spawn-" });
  const { watchdog, instance, port } = await watchdogOn(linkDeno(dir), dir, { standby: false });
  try {
    // From now on no process of this instance can be started: its binary is gone.
    Deno.removeSync(`${dir}/deno`);
    using segment = SharedSegment.open(`/osps-${instance}`, { readOnly: true });
    const worker = segment.slot(workerSlot(1));
    sendSignal(worker.get("pid"), "SIGKILL");
    await waitUntil(
      "worker 1 marked failed",
      () => worker.get("state") === ROLE_STATE.failed,
      10_000,
    );
    assert.ok(isRunning(watchdog.pid), "the watchdog goes on");
    await using client = await OspsClient.connect({ port });
    assert.equal((await client.request("requetetype2 100")).ok, true, "worker 2 serves");
    // The watchdog writes its events within 100 ms.
    const all = await waitForTrace(
      `${dir}/trace.jsonl`,
      (es) => es.some((e) => e.peer === "worker 1" && e.event === "failed"),
    );
    const events = (all ?? []).filter((e) => e.peer === "worker 1");
    const failedSpawns = events.filter((e) => e.event === "spawn failed");
    assert.equal(failedSpawns.length, 5, "each of its 5 restarts, with its backoff");
    assert.match(failedSpawns[0].detail!, /could not be started \(.*No such file or directory/);
    assert.ok(events.some((e) => e.event === "failed"));
  } finally {
    sendSignal(watchdog.pid, "SIGTERM");
    const status = await waitExit(watchdog);
    await watchdog.stdout.cancel().catch(() => {});
    Deno.removeSync(dir, { recursive: true });
    assert.equal(status.code, 0, "a clean stop");
  }
});

// OTP escalates when a child it cannot do without keeps failing; the instance used to run on,
// its port refusing for good, and exit 0 later.
Deno.test("the dispatcher in a crash loop ends the instance, with a non-zero exit and a clear line", async () => {
  const system = await startSystem({ stage: "relay", workers: 1, logLevel: "fatal" });
  system.crashAtStart("dispatcher", true);
  try {
    system.signal("dispatcher", "SIGKILL");
    const status = await waitExit(system.watchdog);
    assert.equal(status.code, 1);
  } finally {
    const report = await system.stop();
    assert.match(
      report.stderr,
      /watchdog: stopped the instance: the dispatcher failed: 5 restarts within 10000 ms, the last one exited with code 4; nothing can be served without it/,
    );
    assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
  }
});

// A failed worker slot used to stay failed for the instance's life: it is tried again after a
// pause, and at once when an operator asks (deno task reset-failed).
Deno.test("a failed worker is tried again: by reset-failed at once", async () => {
  const system = await startSystem({ stage: "relay", workers: 2, logLevel: "fatal" });
  try {
    system.crashAtStart("worker 2", true);
    system.signal("worker 2", "SIGKILL");
    const { slot } = system.role("worker 2");
    await system.waitFor(
      "worker 2 failed",
      (s) => s.segment.slot(slot).get("state") === ROLE_STATE.failed,
      10_000,
    );
    system.crashAtStart("worker 2", false);
    const o = await cliCommand(["reset-failed", "--instance", system.instance]).output();
    const out = new TextDecoder().decode(o.stdout);
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    assert.match(out, /^worker 2: tried again, ready \(pid \d+\)$/m);
    assert.equal(system.segment.slot(slot).get("state"), ROLE_STATE.ready);
    const again = await cliCommand(["reset-failed", "--instance", system.instance]).output();
    assert.match(new TextDecoder().decode(again.stdout), /^no slot of instance \S+ is failed$/m);
  } finally {
    await system.stop();
  }
});

// Four bytes at offset 0 and every later start of a role was refused: the dispatcher ended
// failed, and status died of an uncaught SegmentHeaderError.
Deno.test("a corrupted segment header is written again by the watchdog; status says what it saw", async () => {
  const system = await startSystem({ stage: "relay", workers: 1 });
  try {
    using raw = RawShm.open(system.segmentName);
    raw.bytes().set([0xde, 0xad, 0xbe, 0xef], 0);
    const pid = system.signal("worker 1", "SIGKILL");
    await system.waitFor(
      "worker 1 back",
      (s) =>
        s.role("worker 1").pid !== pid &&
        s.segment.slot(s.role("worker 1").slot).get("state") === ROLE_STATE.ready,
      5000,
    );
    assert.equal(system.restarts()["worker 1"], 1, "it started the first time again");
    assert.deepEqual([...raw.bytes().subarray(0, 4)], [0x4f, 0x53, 0x50, 0x53], '"OSPS" again');
    await using client = await OspsClient.connect({ port: system.port });
    assert.equal((await client.request("requetetype1 x")).ok, true);
  } finally {
    await system.stop();
  }
  // A segment that is not an osps one (here, a stranger's at the name status looks for).
  const name = `st${Deno.pid}`;
  using _foreign = RawShm.open(`/osps-${name}`, 4096);
  try {
    const o = await cliCommand(["status", "--instance", name]).output();
    const err = new TextDecoder().decode(o.stderr);
    assert.equal(o.code, 1);
    assert.match(err, /^error: shared segment \/osps-st\d+ is refused: magic is 0x00000000/);
    assert.equal(err.trim().split("\n").length, 1, err);
  } finally {
    removeShm(`/osps-${name}`);
  }
});

// A pipe deleted or replaced by a regular file made its worker crash-loop to failed in 1.7 s.
Deno.test("a worker's pipe removed or replaced is made again before its restart", async () => {
  const system = await startSystem({ stage: "relay", workers: 2 });
  try {
    Deno.removeSync(`${system.runtimeDir}/dwtube1`);
    Deno.removeSync(`${system.runtimeDir}/wdtube1`);
    Deno.writeTextFileSync(`${system.runtimeDir}/wdtube1`, "not a pipe");
    const pid = system.signal("worker 1", "SIGKILL");
    await system.waitFor(
      "worker 1 back",
      (s) =>
        s.role("worker 1").pid !== pid &&
        s.segment.slot(s.role("worker 1").slot).get("state") === ROLE_STATE.ready,
      5000,
    );
    assert.ok(Deno.lstatSync(`${system.runtimeDir}/wdtube1`).isFifo);
    assert.equal(system.restarts()["worker 1"], 1, "no crash loop");
    // Both workers serve: the dispatcher follows the new pipes.
    system.signal("worker 2", "SIGSTOP");
    await using client = await OspsClient.connect({ port: system.port, timeoutMs: 5000 });
    for (let i = 0; i < 4; i++) {
      assert.equal((await client.request(`requetetype1 ${i}`)).ok, true, `request ${i}`);
    }
  } finally {
    await system.stop();
  }
});

// A symbolic link planted at the lock's name used to be followed: its target was overwritten.
Deno.test("a symbolic link at the lock's name is refused, and its target left untouched", async () => {
  const base = Deno.makeTempDirSync({ prefix: "osps-test-base-" });
  const target = `${base}/precious`;
  Deno.writeTextFileSync(target, "keep me\n");
  const instance = `ln${Deno.pid}`;
  Deno.mkdirSync(`${base}/osps-${instance}`, { mode: 0o700 });
  Deno.chmodSync(`${base}/osps-${instance}`, 0o700);
  Deno.symlinkSync(target, `${base}/osps-${instance}/osps.lock`);
  try {
    const o = await cliCommand(["up", "--port", "0", "--instance", instance], {
      XDG_RUNTIME_DIR: base,
    })
      .output();
    const err = new TextDecoder().decode(o.stderr);
    assert.equal(o.code, 1, err);
    assert.match(err, /^error: cannot start instance ln\d+: open\(.*osps\.lock\) failed: ELOOP/);
    assert.equal(Deno.readTextFileSync(target), "keep me\n");
    assert.equal(err.trim().split("\n").length, 1, err);
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

// Start-up failures came out as `Uncaught (in promise)` stack traces; a full runtime file system
// also left the directory and an empty lock.
Deno.test("start-up failures are one line naming the path and the errno, and leave nothing", async () => {
  const base = Deno.makeTempDirSync({ prefix: "osps-test-base-" });
  try {
    // A directory of another user at the instance's name.
    Deno.mkdirSync(`${base}/osps-other`, { mode: 0o700 });
    Deno.chmodSync(`${base}/osps-other`, 0o700);
    if (libc.getuid() === 0) Deno.chownSync(`${base}/osps-other`, 65534, 65534);
    const other = await cliCommand(["up", "--port", "0", "--instance", "other"], {
      XDG_RUNTIME_DIR: base,
    }).output();
    const err = new TextDecoder().decode(other.stderr);
    assert.equal(other.code, 1, err);
    assert.equal(err.trim().split("\n").length, 1, err);
    assert.match(
      err,
      libc.getuid() === 0
        ? /^error: cannot start instance other: .*osps-other.* belongs to uid 65534/
        : /^error: /,
    );
    // A runtime file system that is full: the lock cannot be written.
    const full = await inMountNamespace(
      `mount -t tmpfs -o size=8k tmpfs '${base}' && head -c 8192 /dev/zero > '${base}/filler'; `,
      ["up", "--port", "0", "--instance", "full"],
      { XDG_RUNTIME_DIR: base },
      `; ls -A '${base}'`,
    );
    assert.equal(full.code, 1, full.err);
    assert.match(full.err, /^error: cannot start instance full: .*ENOSPC/);
    assert.equal(full.err.trim().split("\n").length, 1, full.err);
    assert.equal(full.out.trim(), "filler", "nothing left beside what was there");
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
});

// /dev/shm is every user's: anyone may plant an object at an instance's name. The next `up` used
// to trust the pids in it, SIGKILL any process whose command line merely contained the name,
// and remove another user's object.
Deno.test("a forged segment: another user's or mode is refused; a stranger named in one is not killed", async () => {
  const instance = `fg${Deno.pid}`;
  const name = `/osps-${instance}`;
  // A process that is none of the instance's, though the name is inside its arguments.
  const lockDir = Deno.makeTempDirSync({ prefix: "osps-test-victim-" });
  const victim = spawnFixture("lock_holder.ts", [
    `${lockDir}/x.lock`,
    `${name}0`,
    `--segment`,
    `${name}-not`,
  ]);
  try {
    assert.equal(await new LineReader(victim.stdout).next(), "locked");
    // Mode 0644: refused, left as it is, nobody signalled.
    {
      using raw = RawShm.open(name, 4096, 0o644);
      raw.bytes().fill(7);
      const o = await cliCommand(["up", "--port", "0", "--instance", instance]).output();
      const err = new TextDecoder().decode(o.stderr);
      assert.equal(o.code, 1, err);
      assert.match(
        err,
        /^error: cannot start instance fg\d+: shared segment \/osps-fg\d+ is refused: it belongs to uid \d+ with mode 0644/,
      );
      assert.equal(raw.bytes()[100], 7, "untouched");
      removeShm(name);
    }
    // A well-formed segment of this user whose registry names the stranger: the segment is
    // removed as a dead instance's, the stranger lives on.
    {
      const forged = SharedSegment.create(name, { workers: 1 });
      forged.slot(workerSlot(1)).set("pid", victim.pid);
      forged.close();
      const up = cliCommand(["up", "--port", "0", "--instance", instance]).spawn();
      try {
        await new LineReader(up.stdout).until(/^Ctrl-C to stop/);
        assert.ok(isRunning(victim.pid), "the stranger was not killed");
      } finally {
        await stopUp(up, instance);
      }
    }
  } finally {
    await killAndReap(victim);
    removeShm(name);
    Deno.removeSync(lockDir, { recursive: true });
  }
});

// A worker that said it is calling the client may have answered it before it died: its request
// is never given to another worker (one answered and killed before its answer was run again, the
// second worker calling the client while it waited for its next request).
Deno.test("worker-calls-client: a worker that dies calling the client is not retried; the client asks again", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-out-" });
  const system = await startSystem({
    stage: "worker-calls-client",
    workers: 2,
    tracePath: `${out}/trace.jsonl`,
  });
  const callee = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    using c = await RawConn.open(system.port);
    assert.equal(await c.ask(`LISTEN ${callee.addr.port}`), "OK");
    const wait = /^WAIT (\S+)$/.exec(await c.ask("requetetype1 once") ?? "");
    assert.ok(wait !== null);
    // The worker calls: it is killed before it is sent the line.
    using call = RawConn.wrap(await callee.accept());
    assert.equal(await call.line(), `READY ${wait[1]}`);
    const busy = system.roles.find((r) =>
      r.kind === "worker" && system.segment.slot(r.slot).get("state") === ROLE_STATE.busy
    )!;
    system.signal(busy.name, "SIGKILL");
    assert.equal(await call.line(), null, "the call ends without an answer");
    const events = await waitForTrace(
      `${out}/trace.jsonl`,
      (es) => es.some((e) => e.event === "not retried"),
    );
    assert.ok(events !== null, "the dispatcher does not give the request to another worker");
    // No second call for that token; the client sends its request again, for a new one.
    const next = callee.accept();
    assert.equal(await withTimeout(next, 1000), null, "no other worker calls for the request");
    const again = /^WAIT (\S+)$/.exec(await c.ask("requetetype1 once") ?? "");
    assert.ok(again !== null && again[1] !== wait[1]);
    using answer = RawConn.wrap(await next);
    assert.equal(await answer.line(), `READY ${again[1]}`);
    assert.equal(await answer.ask("requetetype1 once"), "OK once");
  } finally {
    callee.close();
    await system.stop();
    Deno.removeSync(out, { recursive: true });
  }
});

// Under `ulimit -n 64` the connection cap silently became 1.
Deno.test("an open-file limit that leaves few client connections is warned of; one that leaves none refused", async () => {
  const up = (limit: number) => {
    const command = [Deno.execPath(), ...cliArgs(["up", "--port", "0", "--workers", "2"])]
      .map((w) => `'${w}'`).join(" ");
    return new Deno.Command("sh", {
      args: ["-c", `ulimit -n ${limit} && exec ${command}`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  };
  const none = await up(64).output();
  const err = new TextDecoder().decode(none.stderr);
  assert.equal(none.code, 1, err);
  assert.match(
    err,
    /dispatcher: the dispatcher cannot hold a client connection: the open-file limit is 64, and 72 descriptors are kept/,
  );
  const few = up(90);
  try {
    const lines = new LineReader(few.stderr);
    const warning = await lines.until(/holds at most 18 client connections/);
    assert.match(warning.input, /the open-file limit is 90, and 72 descriptors are kept/);
  } finally {
    await stopUp(few);
  }
});

// CLOCK_MONOTONIC is every process's clock only within one time namespace: read from another,
// status showed heartbeat ages like −999,999,965 ms.
Deno.test("status from another time namespace says it cannot read the heartbeats", async () => {
  const system = await startSystem({ stage: "relay", workers: 1 });
  try {
    const o = await new Deno.Command("unshare", {
      args: [
        ...(libc.getuid() === 0 ? [] : ["-r"]),
        "-T",
        "--monotonic",
        "100000",
        "--fork",
        Deno.execPath(),
        ...cliArgs(["status", "--instance", system.instance, "--json"]),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    const status = JSON.parse(new TextDecoder().decode(o.stdout));
    assert.match(status.clock, /not this process's \(another time namespace\?\)/);
    assert.ok(status.roles.every((r: { heartbeatAgeMs: number }) => r.heartbeatAgeMs === -1));
    const here = JSON.parse(
      new TextDecoder().decode(
        (await cliCommand(["status", "--instance", system.instance, "--json"]).output()).stdout,
      ),
    );
    assert.equal(here.clock, null);
    assert.ok(here.roles[0].heartbeatAgeMs >= 0 && here.roles[0].heartbeatAgeMs < 1000);
  } finally {
    await system.stop();
  }
});
