import assert from "node:assert/strict";
import { checkLeftovers, isClean, runPingPong } from "../scenarios/mod.ts";
import { sendSignal } from "../ipc/mod.ts";
import { cliCommand, killAndReap, LineReader } from "./helpers.ts";

const spawnCli = (args: string[]) => cliCommand(args).spawn();

Deno.test("ping-pong: N exchanges in order, the child ends first, nothing is left", async () => {
  const seen: number[] = [];
  const report = await runPingPong({ count: 25, onExchange: (e) => seen.push(e.n) });
  assert.equal(report.error, null);
  assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => i + 1));
  assert.ok(
    report.exchanges.every((e) => e.rttUs > 0 && e.childStampUs > 0 && e.childStampUs < e.rttUs),
  );
  assert.equal(report.childStatus?.code, 0);
  assert.equal(report.aborted, false);
  assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
});

Deno.test("ping-pong: an interrupt stops in order after the exchange in flight", async () => {
  const controller = new AbortController();
  const report = await runPingPong({
    count: 1_000_000,
    signal: controller.signal,
    onExchange: (e) => e.n === 5 && controller.abort(),
  });
  assert.equal(report.aborted, true);
  assert.equal(report.error, null);
  assert.equal(report.exchanges.length, 5);
  assert.equal(report.childStatus?.code, 0, "the child was told to stop, not killed");
  assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
});

Deno.test("ping-pong: a child killed mid-run is reported and everything is still cleaned", async () => {
  let childPid = 0;
  const report = await runPingPong({
    count: 1_000_000,
    onStart: (s) => (childPid = s.childPid),
    onExchange: (e) => e.n === 3 && sendSignal(childPid, "SIGKILL"),
  });
  assert.match(report.error ?? "", /no pong|EPIPE|closed/);
  assert.equal(report.childStatus?.signal, "SIGKILL");
  assert.ok(isClean(report.leftovers), JSON.stringify(report.leftovers));
});

Deno.test("scenario pingpong CLI prints every exchange and its proof, exit 0", async () => {
  const child = spawnCli(["scenario", "pingpong", "--count", "4"]);
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  for (let n = 1; n <= 4; n++) {
    assert.match(text, new RegExp(`#\\s+${n}\\s+ping → dwtube1 \\(shm seq ${n}\\)`));
  }
  assert.match(text, /child pid \d+: exited with code 0, reaped/);
  assert.match(text, /zombie children: none/);
  assert.match(text, /pipes and directories left: none/);
  assert.match(text, /shared segments left: none/);
  assert.match(text, /result: OK/);
});

Deno.test("scenario pingpong CLI: SIGINT mid-run still cleans up, exit 130", async () => {
  const child = spawnCli(["scenario", "pingpong", "--count", "1000000"]);
  try {
    const lines = new LineReader(child.stdout);
    const [, segment, dir] = await lines.until(/segment (\S+) \(mailbox 1\), pipes in (\S+):/);
    await lines.until(/#\s+1\s+ping/);
    sendSignal(child.pid, "SIGINT");
    const rest = await lines.rest();
    assert.equal((await child.status).code, 130);
    assert.match(rest, /child pid \d+: exited with code 0, reaped/);
    assert.match(rest, /interrupted after \d+ of 1000000 exchanges/);
    const left = checkLeftovers({ paths: [dir], segments: [segment] });
    assert.ok(isClean(left), JSON.stringify(left));
  } finally {
    await killAndReap(child);
    await child.stderr.cancel().catch(() => {});
  }
});

Deno.test("CLI: --help everywhere, bad input is a usage error with exit 2", async () => {
  for (
    const args of [["--help"], ["help", "scenario"], ["scenario", "--help"], ["bench", "--help"]]
  ) {
    const out = await spawnCli(args).output();
    assert.equal(out.code, 0, args.join(" "));
    assert.match(new TextDecoder().decode(out.stdout), /Usage: deno task /);
  }
  for (
    const args of [["nope"], ["scenario", "nope"], ["scenario", "pingpong", "--count", "-3"], [
      "scenario",
      "pingpong",
      "--log-level",
      "bogus",
    ], [
      "bench",
      "ipc",
      "--x",
    ]]
  ) {
    const out = await spawnCli(args).output();
    assert.equal(out.code, 2, args.join(" "));
    assert.match(new TextDecoder().decode(out.stderr), /^error: /);
  }
});
