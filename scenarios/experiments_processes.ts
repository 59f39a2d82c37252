/**
 * The experiments on processes and signals: `zombie` (2.b), `sigchld` and `sigchld-variants`
 * (3.c), `shared-memory` (1.a). Their processes are helpers (`experiment_helper.ts`, or the Python
 * programs of `examples/python/experiments/`): the same modes, the same observations.
 *
 * @module
 */

import { becomeSubreaper, listDirectory, processInfo, reapAdopted } from "../ipc/mod.ts";
import type { ExperimentRun, Observation } from "./experiment_run.ts";

/** 2.b: a zombie until its parent reaps it; an orphan adopted and reaped by its adopter. */
export async function zombie(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const { picture } = run;
  const parent = run.helper(["zombie-parent", "1500"]);
  const next = run.lines(parent, "the busy parent's lines");
  const child = Number((await next())?.split(" ")[1]);
  picture.lane(String(child), `its child ${child}`);
  picture.link(String(parent.pid), String(child), "spawn");
  picture.state(String(parent.pid), "running", "busy: no wait()");
  const state = await run.watchFor(
    "the unreaped child's state",
    () => processInfo(child)?.state ?? "gone",
    (s) => s === "Z",
    1000,
  );
  if (state === "Z") picture.state(String(child), "zombie", "Z: exited, not reaped");
  seen.push({
    what: "a child that exited, not yet reaped by its busy parent, is a zombie (state Z)",
    ok: state === "Z",
    seen: `pid ${child}: state ${state}, parent ${processInfo(child)?.ppid ?? "-"}`,
  });
  const reaped = await next();
  const after = processInfo(child);
  if (after === null) {
    picture.link(String(parent.pid), String(child), "waitpid");
    picture.mark(String(child), "reaped");
    picture.state(String(child), null);
  }
  seen.push({
    what: "once the parent reaps it (waitpid), the zombie is gone from /proc",
    ok: reaped === "reaped" && after === null,
    seen: after === null
      ? `pid ${child} gone after "${reaped}"`
      : `pid ${child} still ${after.state}`,
  });
  await run.wait("the busy parent's exit", parent.status);

  // Orphans are adopted by init, or by the nearest "subreaper": this process, so that it can show
  // the adoption and do the reaping itself, leaving no zombie on a machine whose init may not.
  becomeSubreaper();
  const me = String(Deno.pid);
  picture.lane(me, `this process ${Deno.pid} (subreaper)`);
  const orphanParent = run.helper(["orphan-parent", "0.4"]);
  const orphan = Number((await run.lines(orphanParent, "the orphan's pid")())?.split(" ")[1]);
  picture.lane(String(orphan), `orphan ${orphan} (sleep 0.4)`);
  picture.link(String(orphanParent.pid), String(orphan), "spawn");
  run.adopt(orphan);
  await run.wait("the orphan's parent's exit", orphanParent.status);
  const adopted = await run.watchFor(
    "the orphan's adoption",
    () => processInfo(orphan)?.ppid ?? 0,
    (p) => p === Deno.pid,
    1000,
  );
  if (adopted === Deno.pid) picture.link(me, String(orphan), "adopted");
  seen.push({
    what: "when its parent exits first, the child is orphaned and adopted (re-parented)",
    ok: adopted === Deno.pid,
    seen:
      `pid ${orphan}: parent ${orphanParent.pid} exited, new parent ${adopted} (this process, the subreaper)`,
  });
  const exited = await run.watchFor(
    "the orphan's exit",
    () => processInfo(orphan)?.state ?? "gone",
    (s) => s === "Z",
    3000,
  );
  if (exited === "Z") picture.state(String(orphan), "zombie", "Z");
  let gone = false;
  for (
    const deadline = performance.now() + 3000;
    !gone && performance.now() < deadline;
    await run.sleep("reaping the orphan", 5)
  ) {
    gone = reapAdopted(orphan);
  }
  if (gone) {
    picture.link(me, String(orphan), "waitpid");
    picture.mark(String(orphan), "reaped by its adopter");
    picture.state(String(orphan), null);
  }
  picture.state(me, null);
  seen.push({
    what: "the adopter reaps the orphan when it exits: nothing is left",
    ok: exited === "Z" && gone && processInfo(orphan) === null,
    seen: `state ${exited} after its exit, then reaped: ${
      processInfo(orphan) === null ? "gone" : "still there"
    }`,
  });
  return seen;
}

/** 3.c: SIGCHLD comes when the child dies. */
export async function sigchld(run: ExperimentRun): Promise<Observation[]> {
  const parent = run.helper(["sigchld-parent", "200"]);
  const next = run.lines(parent, "the parent's lines");
  const first = await next();
  const signalled = first?.match(/^SIGCHLD (\d+)$/);
  const after = signalled ? Number(signalled[1]) : null;
  const exit = signalled ? await next() : first;
  await run.wait("the parent's exit", parent.status);
  return [{
    what:
      "the parent is told of its child's death by SIGCHLD, when it dies (200 ms after its start)",
    // The child sleeps 200 ms; a signal much later than its death was not sent by the death.
    ok: after !== null && after >= 195 && after < 1200 && exit === "exit 0",
    seen: `${after === null ? "no SIGCHLD" : `SIGCHLD ${after} ms`} after spawning a child that ` +
      `sleeps 200 ms; then its exit status: ${exit?.replace("exit ", "code ") ?? "none"}`,
  }];
}

/** What became of an exited child nothing waited for, as the helper's `ignored`/`default` say. */
function unwaited(seen: string, waited: string): string {
  return `${seen === "zombie" ? "a zombie" : seen} in /proc, then waitpid ` +
    (waited === "status" ? "gave its exit status" : `answered ${waited}`);
}

/** 3.c: SIGCHLD on stop and continue, deaths merged into one signal, SIG_IGN. */
export async function sigchldVariants(run: ExperimentRun): Promise<Observation[]> {
  const said = async (args: string[]) => {
    const helper = run.helper(args);
    const next = run.lines(helper, `the ${args[0]} parent's lines`);
    const line = await next();
    const more = args[0] === "stop-continue" ? await next() : null;
    await run.wait(`the ${args[0]} parent's exit`, helper.status);
    return [line, more].filter((l) => l !== null).map((l) => l!.split(" "));
  };
  const [[, stopSignals, stopHow], [, continueSignals, continueHow]] = await said([
    "stop-continue",
  ]);
  const [[, deaths, signals, reaped]] = await said(["merged", "5"]);
  const [[, ignoredSeen, ignoredWaited]] = await said(["ignored"]);
  const [[, defaultSeen, defaultWaited]] = await said(["default"]);
  return [{
    what: "SIGCHLD also comes when a child is stopped, and when it is continued",
    ok: Number(stopSignals) >= 1 && Number(continueSignals) >= 1 &&
      ["T", "SIGSTOP"].includes(stopHow) && ["S", "R", "WIFCONTINUED"].includes(continueHow),
    // Deno shows the child's state in /proc; Python, what waitpid(WUNTRACED | WCONTINUED) said.
    seen: `SIGSTOP: ${stopSignals} SIGCHLD (${stopHow}); SIGCONT: ${continueSignals} SIGCHLD ` +
      `(${continueHow})`,
  }, {
    what: "deaths that come together merge into fewer SIGCHLDs: a handler reaps in a loop",
    ok: Number(signals) >= 1 && Number(signals) < Number(deaths) && reaped === deaths,
    seen: `${deaths} children died while the parent could not take signals: ${signals} SIGCHLD; ` +
      `${reaped} reaped by the loop`,
  }, {
    what: "with SIGCHLD set to SIG_IGN the kernel reaps the children: no zombie, no status",
    ok: ignoredSeen === "gone" && ignoredWaited === "ECHILD" && defaultSeen === "zombie" &&
      defaultWaited === "status",
    seen: `an exited child nothing waited for; with SIG_IGN: ` +
      `${unwaited(ignoredSeen, ignoredWaited)}; with the default: ` +
      unwaited(defaultSeen, defaultWaited),
  }];
}

/** 1.a: a named segment between unrelated processes; in Python, SharedMemory's trap. */
export async function sharedMemory(run: ExperimentRun): Promise<Observation[]> {
  const seen: Observation[] = [];
  const name = `osps-t${Deno.pid}-shm-${crypto.randomUUID().slice(0, 8)}`;
  const file = `/dev/shm/${name}`;
  const exists = () => listDirectory("/dev/shm").includes(name);
  run.defer(() => exists() && Deno.removeSync(file));
  const creator = run.helper(["shm-create", name], "piped");
  const created = run.lines(creator, "the creator's lines");
  await created();
  run.picture.lane("segment", `segment ${file}`, "exists");
  const segmentGone = (why: string) => {
    if (exists()) return;
    run.picture.mark("segment", why);
    run.picture.state("segment", null);
  };
  const read = async (how: string) => {
    const reader = run.helper(["shm-read", name, how], "piped");
    return { reader, said: await run.lines(reader, `the ${how} reader's line`)() };
  };
  const crashing = await read("hold");
  crashing.reader.kill("SIGKILL");
  const crash = await run.wait("the reader's crash", crashing.reader.status);
  const after = await read("exit");
  await run.wait("the second reader's exit", after.reader.status);
  seen.push({
    what: "two unrelated processes share a named segment; one crashes, the segment survives",
    ok: crashing.said === "read hello" && crash.signal === "SIGKILL" && exists() &&
      after.said === "read hello",
    seen: `a reader said "${crashing.said}", was killed by ${crash.signal}; ${file} ` +
      `${exists() ? "still there" : "gone"}, and the next reader said "${after.said}"`,
  });
  if (run.language === "python") {
    seen.push({
      what: "Python: attaching by mmap (not SharedMemory) leaves the segment in place at exit",
      ok: after.said === "read hello" && exists(),
      seen: `after the reader's exit: ${file} ${exists() ? "still there" : "gone"}`,
    });
    const tracked = await read("track");
    const status = await run.wait("the SharedMemory reader's exit", tracked.reader.status);
    const gone = await run.watchFor("the segment's fate", () => !exists(), (g) => g, 2000);
    segmentGone("unlinked by the reader's resource tracker");
    seen.push({
      what: "the trap: a process that only attaches through SharedMemory unlinks it at its exit",
      ok: tracked.said === "read hello" && status.success && gone,
      seen: `it said "${tracked.said}" and exited ${status.code}: ${file} ` +
        `${gone ? "gone (its resource tracker unlinked it)" : "still there"}`,
    });
  }
  const stdin = creator.stdin.getWriter();
  await run.wait("telling the creator to unlink", stdin.write(new TextEncoder().encode("go\n")));
  await run.wait("closing the creator's stdin", stdin.close());
  const unlinked = await created();
  await run.wait("the creator's exit", creator.status);
  segmentGone("unlinked by its creator");
  seen.push({
    what: "the segment lasts until someone unlinks it",
    ok: (unlinked === "unlinked" || unlinked === "already gone") && !exists(),
    seen: `the creator said "${unlinked}": ${file} ${exists() ? "still there" : "gone"}`,
  });
  return seen;
}
