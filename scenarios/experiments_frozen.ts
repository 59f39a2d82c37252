/**
 * The experiment of question 3.b, `frozen-pipe`: ordering a frozen worker through its own pipe does
 * nothing, a third writer interleaves with the dispatcher, the watchdog's heartbeat path works. On
 * osps's own system, or (`--python`) on the Python one of `examples/python/experiments/`.
 *
 * @module
 */

import {
  becomeSubreaper,
  FifoWriter,
  processInfo,
  RuntimeDir,
  sendSignal,
  workerSlot,
} from "../ipc/mod.ts";
import { freshTraceFile, type TracedEvent, withTimeout } from "../roles/mod.ts";
import { WaitTimeoutError } from "../roles/timers.ts";
import { runClients } from "./clients.ts";
import type { ExperimentRun, Observation } from "./experiment_run.ts";
import { type RunningSystem, startSystem, type SystemOptions } from "./harness.ts";
import { waitForTrace } from "./timeline.ts";

/** Starts a system for the run: stopped at its end whatever happens, even during its start. */
function system(run: ExperimentRun, options: SystemOptions): Promise<RunningSystem> {
  const starting = startSystem(options);
  // A start that failed has nothing to stop: its failure reaches the run through the wait below.
  run.defer(async () => await (await starting.catch(() => null))?.stop());
  return run.wait("starting a system", starting);
}

/** 3.b on osps's system. */
export async function frozenPipe(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const out = Deno.makeTempDirSync({ prefix: "osps-experiment-" });
  run.defer(() => Deno.removeSync(out, { recursive: true }));
  {
    // A watchdog that would take a minute to notice a freeze: the pipe is all there is.
    const tracePath = freshTraceFile(`${out}/trace.jsonl`);
    const slow = await system(run, {
      stage: "relay",
      workers: 1,
      heartbeatTimeoutMs: 60_000,
      tracePath,
    });
    const { picture } = run;
    const me = String(Deno.pid);
    picture.lane(me, `this process ${Deno.pid} (a third writer)`);
    {
      const pid = slow.signal("worker 1", "SIGSTOP");
      picture.lane(String(pid), `worker 1, pid ${pid}`, "stopped");
      picture.link(me, String(pid), "SIGSTOP");
      const third = FifoWriter.openNow(`${slow.runtimeDir}/dwtube1`);
      run.defer(() => third.close());
      third.send("restart");
      picture.link(me, String(pid), '"restart" into dwtube1');
      const clients = runClients(slow.port, 1, () => ["requetetype1 during the freeze"]);
      await run.sleep("the frozen worker, first order", 300);
      third.send("restart");
      picture.link(me, String(pid), '"restart"');
      await run.sleep("the frozen worker, second order", 700);
      const state = processInfo(pid)?.state;
      seen.push({
        what: "an order sent to a frozen worker through its own pipe does nothing",
        ok: state === "T" && slow.role("worker 1").pid === pid,
        seen:
          `1 s later worker 1 is still pid ${pid}, state ${state} (stopped); the orders wait in the pipe`,
      });
      slow.signal("worker 1", "SIGCONT");
      picture.link(me, String(pid), "SIGCONT");
      picture.state(String(pid), "running");
      await run.wait("the request after SIGCONT", clients);
      const ping = (e: TracedEvent) => e.role === "worker 1" && e.event === "order";
      // The worker writes its trace events within 100 ms: wait for its ping of the request.
      const events = await run.wait(
        "the worker's trace",
        waitForTrace(tracePath, (all) => all.some((e) => ping(e) && e.detail?.startsWith("job"))),
      ) ?? slow.trace();
      const frames = events.filter(ping).map((e) => e.detail);
      picture.mark(String(pid), `read: ${frames.join(", ")}`);
      const between = frames.indexOf("restart") < frames.findIndex((f) => f?.startsWith("job")) &&
        frames.lastIndexOf("restart") > frames.findIndex((f) => f?.startsWith("job"));
      seen.push({
        what: "a third writer's messages interleave with the dispatcher's on the same pipe",
        ok: between,
        seen: `worker 1 read, in order: ${frames.join(", ")}`,
      });
      await run.wait("stopping the first system", slow.stop());
      picture.state(String(pid), null);
    }
    const fast = await system(run, { stage: "relay", workers: 1, heartbeatTimeoutMs: 1000 });
    {
      const pid = fast.signal("worker 1", "SIGSTOP");
      picture.lane(String(pid), `worker 1, pid ${pid} (heartbeat 1 s)`, "stopped");
      picture.link(me, String(pid), "SIGSTOP");
      const t = performance.now();
      const slot = fast.segment.slot(workerSlot(1));
      const generation = slot.get("generation");
      await run.wait(
        "the watchdog restarting worker 1",
        fast.waitFor(
          "worker 1 restarted",
          () => slot.get("generation") > generation && slot.get("state") === 2,
          5000,
        ).catch((e) => {
          // Not restarted in time: the observation below says so.
          if (!(e instanceof WaitTimeoutError)) throw e;
        }),
      );
      const restarted = fast.role("worker 1").pid;
      if (restarted !== pid) {
        picture.mark(String(pid), "stale heartbeat: killed by the watchdog");
        picture.state(String(pid), null);
        picture.lane(String(restarted), `worker 1, pid ${restarted} (restarted)`);
      }
      seen.push({
        what:
          "the watchdog's path — a stale heartbeat, then SIGTERM/SIGKILL — restarts the frozen worker",
        ok: restarted !== pid && processInfo(pid) === null,
        seen: `pid ${pid} → ${restarted} in ${
          (performance.now() - t).toFixed(0)
        } ms (heartbeat timeout 1000 ms)`,
      });
    }
  }
  return seen;
}

/**
 * 3.b in Python (`examples/python/experiments/frozen_pipe.py`): a watchdog, its worker reading
 * orders from a named pipe and beating in a segment, and other writers of that pipe. The same
 * observations as with osps's own system.
 */
export async function frozenPipePython(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  // The worker outlives a watchdog killed at the bound: adopted here, it is killed and reaped.
  becomeSubreaper();
  const dir = RuntimeDir.create({ prefix: "osps-experiment-" });
  run.defer(() => dir.remove());
  const fifo = dir.fifo("dwtube1");
  const segment = (name: string) => {
    const path = `/dev/shm/osps-t${Deno.pid}-${name}-${crypto.randomUUID().slice(0, 8)}`;
    run.defer(() => Deno.remove(path).catch(() => {}));
    return path;
  };
  const watchdog = async (timeoutMs: number) => {
    const process = run.helper(["watchdog", fifo, segment("beat"), String(timeoutMs)]);
    const next = run.lines(process, "the Python watchdog's lines");
    const pid = Number((await next())?.split(" ")[1]);
    run.adopt(pid);
    const ready = await next();
    if (ready !== "ready") throw new Error(`the Python worker said ${ready}, not ready`);
    return { process, next, pid };
  };
  const write = (line: string) =>
    run.wait(`writing "${line}"`, run.helper(["writer", fifo, line]).status);
  {
    // A watchdog that would take a minute to notice a freeze: the pipe is all there is.
    const slow = await watchdog(60_000);
    run.picture.lane(String(slow.pid), `worker ${slow.pid}`);
    run.picture.link(String(slow.process.pid), String(slow.pid), "spawn");
    sendSignal(slow.pid, "SIGSTOP");
    run.picture.state(String(slow.pid), "stopped");
    await write("restart");
    await write("job 1");
    await run.sleep("the frozen worker, first order", 300);
    await write("restart");
    await run.sleep("the frozen worker, second order", 700);
    const state = processInfo(slow.pid)?.state;
    seen.push({
      what: "an order sent to a frozen worker through its own pipe does nothing",
      ok: state === "T",
      seen: `1 s later the worker is still pid ${slow.pid}, state ${state} (stopped); ` +
        "the orders wait in the pipe",
    });
    sendSignal(slow.pid, "SIGCONT");
    run.picture.state(String(slow.pid), "running");
    const frames = [];
    while (frames.length < 3) frames.push((await slow.next())?.replace(/^read /, ""));
    seen.push({
      what: "a third writer's messages interleave with the dispatcher's on the same pipe",
      ok: frames.join(", ") === "restart, job 1, restart",
      seen: `the worker read, in order: ${frames.join(", ")}`,
    });
    slow.process.kill("SIGTERM");
    await run.wait("the first watchdog's exit", slow.process.status);
    run.picture.state(String(slow.pid), null);
  }
  const fast = await watchdog(1000);
  run.picture.lane(String(fast.pid), `worker ${fast.pid} (heartbeat 1 s)`);
  run.picture.link(String(fast.process.pid), String(fast.pid), "spawn");
  const t = performance.now();
  sendSignal(fast.pid, "SIGSTOP");
  run.picture.state(String(fast.pid), "stopped");
  const restarted = await run.wait(
    "the watchdog restarting the worker",
    withTimeout(fast.next(), 5000),
  );
  const [said, old, pid] = restarted?.split(" ") ?? [];
  if (said === "restarted") {
    run.picture.mark(String(fast.pid), "stale heartbeat: SIGTERM, SIGKILL");
    run.picture.state(String(fast.pid), null);
    run.picture.lane(pid, `worker ${pid} (restarted)`);
    run.picture.link(String(fast.process.pid), pid, "spawn");
  }
  seen.push({
    what:
      "the watchdog's path — a stale heartbeat, then SIGTERM/SIGKILL — restarts the frozen worker",
    ok: said === "restarted" && Number(old) === fast.pid && Number(pid) !== fast.pid &&
      processInfo(fast.pid) === null,
    seen: `pid ${fast.pid} → ${pid ?? "none"} in ${
      (performance.now() - t).toFixed(0)
    } ms (heartbeat timeout 1000 ms)`,
  });
  run.adopt(Number(pid));
  fast.process.kill("SIGTERM");
  await run.wait("the second watchdog's exit", fast.process.status);
  run.picture.state(pid, null);
  return seen;
}
