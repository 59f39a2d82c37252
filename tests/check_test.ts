// `deno task check`, the short version: the plain Python implementation passes every check,
// and a command that cannot be checked gets a clear verdict at once, with nothing left running.
// tests/check_matrix.ts (deno task test:check, run by CI) holds the rest: every stage, osps,
// each broken variant flagged in its own group only, and the worse kinds of bad input.
import assert from "node:assert/strict";
import { architectureChecks, checkStage, GROUPS } from "../check/mod.ts";
import {
  assertNothingLeft,
  failedChecks,
  pythonCommand,
  shownReport,
  smallCheck,
} from "./check/helpers.ts";
import { cliCommand } from "./helpers.ts";

Deno.test("check: the plain Python implementation passes every check in relay, every group run", async () => {
  const r = await smallCheck("relay", pythonCommand());
  assert.deepEqual(failedChecks(r), [], shownReport(r));
  assert.ok(r.passed);
  for (const g of GROUPS) {
    assert.ok(r.checks.some((c) => c.group === g && c.verdict === "pass"), `${g} ran`);
  }
  assert.equal(r.checks.filter((c) => c.verdict === "skip").length, 0);
  assert.equal(r.architecture?.workers.length, 2);
  assert.equal(r.load?.summary.right, 4 * 200);
  assert.ok((r.load?.cpuUsPerRequest ?? 0) > 0);
  assert.equal(r.faults.length, 4);
  assertNothingLeft(`osps-py-${r.port}`);
});

Deno.test("check: a command that is not there, one that exits at once, one that never listens, one that listens elsewhere", async () => {
  const cases: [string, string[], RegExp][] = [
    ["not there", ["/no/such/server", "{port}"], /cannot start .*no\/such\/server/],
    [
      "exits at once",
      ["python3", "-c", "import sys; print('bye'); sys.exit(3)"],
      /ended before it listened: exited with code 3; its last output: bye/,
    ],
    ["never listens", ["sleep", "30"], /nothing listened on 127\.0\.0\.1:\d+ within 1 s$/],
    [
      "listens elsewhere",
      [
        "python3",
        "-c",
        // Port 0: any free port but the one given (a fixed other port may be taken).
        "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); time.sleep(30)",
      ],
      /within 3 s \(it listens on 127\.0\.0\.1:\d+\)/,
    ],
  ];
  for (const [what, command, detail] of cases) {
    // Long enough for python3 to be up and listening elsewhere on a loaded machine.
    const startTimeoutMs = what === "listens elsewhere" ? 3000 : 1000;
    const t0 = performance.now();
    const r = await checkStage({ stage: "relay", command, workers: 2, startTimeoutMs });
    assert.ok(performance.now() - t0 < startTimeoutMs + 4000, `${what}: bounded`);
    assert.equal(r.passed, false, what);
    const start = r.checks[0];
    assert.equal(start.verdict, "fail", what);
    assert.match(start.detail, detail, `${what}: ${start.detail}`);
    assert.deepEqual(
      r.checks.slice(1).map((c) => c.verdict),
      ["skip", "skip", "skip", "skip"],
      `${what}: the other groups are skipped`,
    );
    assertNothingLeft("osps-py-");
  }
});

Deno.test("check: the architecture checks read the course's design, and say what is missing", () => {
  const a = {
    processes: [
      {
        pid: 10,
        ppid: 1,
        role: "supervisor" as const,
        command: "sup",
        listens: [],
        maps: [],
        pipes: [],
      },
      {
        pid: 11,
        ppid: 10,
        role: "dispatcher" as const,
        command: "d",
        listens: ["127.0.0.1:7000"],
        maps: ["/dev/shm/x"],
        pipes: [],
      },
      {
        pid: 12,
        ppid: 10,
        role: "worker" as const,
        command: "w",
        listens: [],
        maps: ["/dev/shm/x"],
        pipes: [],
      },
    ],
    dispatcher: 11,
    workers: [12],
    supervisor: 10,
    shared: [{ name: "/dev/shm/x", pids: [10, 11, 12] }],
    pipes: [
      { path: "/tmp/r/a", holders: [{ pid: 11, mode: "w" }, { pid: 12, mode: "r" }] },
      { path: "/tmp/r/b", holders: [{ pid: 11, mode: "r" }, { pid: 12, mode: "w" }] },
    ],
  };
  assert.deepEqual(architectureChecks(a, 7000, 1).map((c) => c.verdict), [
    "pass",
    "pass",
    "pass",
    "pass",
    "pass",
  ]);
  const two = architectureChecks(a, 7000, 2);
  assert.equal(two[1].verdict, "fail");
  assert.match(two[1].detail, /processes sharing named pipes with the dispatcher: 1 \(pids 12\)/);
  const onePipe = architectureChecks({ ...a, pipes: a.pipes.slice(0, 1) }, 7000, 1);
  assert.equal(onePipe[3].verdict, "fail");
  assert.equal(onePipe[3].detail, "12: 1");
  const none = architectureChecks({ ...a, dispatcher: null }, 7000, 1);
  assert.deepEqual(none.map((c) => c.verdict), ["fail"]);
});

Deno.test("check: Ctrl-C in the middle kills and removes everything, exit 130; usage errors exit 2", async () => {
  const child = cliCommand([
    "check",
    "--stage",
    "relay",
    "--workers",
    "2",
    "--",
    ...pythonCommand(),
  ]).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("  contract")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  child.kill("SIGINT");
  for (let r = await reader.read(); !r.done; r = await reader.read()) out += r.value;
  const status = await child.status;
  await child.stderr.cancel();
  assert.equal(status.code, 130, out);
  assert.match(out, /check: interrupted; everything it started was killed and removed/);
  assertNothingLeft("osps-py-");
  for (
    const args of [["check", "--stage", "nope"], ["check", "--compare"], ["check", "--"], [
      "check",
      "--workers",
      "0",
    ]]
  ) {
    const r = await cliCommand(args).output();
    assert.equal(r.code, 2, args.join(" "));
    assert.match(new TextDecoder().decode(r.stderr), /^error: /);
  }
});
