import assert from "node:assert/strict";
import { freePortBlock } from "../check/mod.ts";
import * as libc from "../ipc/libc.ts";
import { sendSignal } from "../ipc/mod.ts";
import { traceFiles } from "../roles/mod.ts";
import { readTrace, startSystem } from "../scenarios/mod.ts";
import {
  cliArgs,
  cliCommand,
  killAndReap,
  LineReader,
  RawConn,
  stopUp,
  waitUntil,
} from "./helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const cli = cliCommand;

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await cli(args).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

/** The README's walk-throughs: each `deno task up …` line and the transcript after it. */
function walkThroughs(): { up: string; lines: string[] }[] {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  const start = readme.indexOf("### By hand, with netcat");
  const section = readme.slice(start, readme.indexOf("\n## ", start));
  return [...section.matchAll(/```sh\n(deno task up [^\n]*)\n```\n\n```text\n([\s\S]*?)```/g)]
    .map((m) => ({ up: m[1], lines: m[2].trimEnd().split("\n") }));
}

/** A string as a regular expression matching itself. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

Deno.test("the README's netcat walk-throughs work as written (replayed line by line)", async () => {
  const walks = walkThroughs();
  assert.deepEqual(walks.map((w) => /--stage (\S+)/.exec(w.up)?.[1]), [
    "ideal",
    "relay",
    "worker-calls-client",
  ]);
  for (const walk of walks) {
    const option = (name: string) => new RegExp(`--${name} (\\S+)`).exec(walk.up)?.[1];
    const workers = Number(option("workers"));
    const base = freePortBlock(workers);
    // The README's ports, here: 2222 and up the system's, 5000 a free one for nc -l.
    const callee = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const ports = (text: string) =>
      text.replace(
        /\b(222\d|5000)\b/g,
        (p) => p === "5000" ? String(callee.addr.port) : String(Number(p) - 2222 + base),
      );
    const out = Deno.makeTempDirSync({ prefix: "osps-test-walk-" });
    const stage = option("stage")!;
    const system = await startSystem({
      stage: stage === "ideal" ? "client-calls-worker" : stage as "relay" | "worker-calls-client",
      workers,
      port: base,
      claimTimeoutMs: option("claim-timeout") ? Number(option("claim-timeout")) : undefined,
      tracePath: `${out}/trace.jsonl`,
    });
    // A person types slower than a worker's "free" answer travels: before a request to the
    // dispatcher, the replay waits until the dispatcher has heard from every worker it sent a
    // client to (its trace, written within 100 ms, shows one order and one answer per REDIRECT).
    let redirects = 0;
    const settled = () => {
      const events = system.trace().filter((e) => e.role === "dispatcher");
      return events.filter((e) => e.event === "order").length === redirects &&
        events.filter((e) => e.event === "answer").length === redirects;
    };
    const terminals = new Map<string, RawConn | Deno.TcpListener>();
    const open: RawConn[] = [];
    const tokens = new Map<string, string>();
    const conn = async (t: string): Promise<RawConn> => {
      const c = terminals.get(t);
      if (c instanceof RawConn) return c;
      if (c === undefined) throw new Error(`terminal ${t} has no connection`);
      const accepted = RawConn.wrap(await c.accept());
      open.push(accepted);
      terminals.set(t, accepted);
      return accepted;
    };
    try {
      for (const line of walk.lines) {
        const m = /^terminal (\d) ([$<>]) (.*)$/.exec(line);
        assert.ok(m !== null, `unreadable walk-through line: ${line}`);
        const [, t, kind, raw] = m;
        const text = ports(raw).replace(/p4711r\d+/g, (k) => tokens.get(k) ?? k);
        if (kind === "$") {
          const listen = /^nc -l 127\.0\.0\.1 (\d+)$/.exec(text);
          const connect = /^nc 127\.0\.0\.1 (\d+)$/.exec(text);
          if (listen) {
            terminals.set(t, callee);
          } else {
            assert.ok(connect !== null, `unknown command: ${line}`);
            const c = await RawConn.open(Number(connect[1]));
            open.push(c);
            terminals.set(t, c);
          }
        } else if (kind === ">") {
          const c = await conn(t);
          if (redirects > 0 && (c.conn.remoteAddr as Deno.NetAddr).port === base) {
            await waitUntil("the dispatcher to hear from every worker it ordered", settled, 5000);
          }
          await c.send(`${text}\n`);
        } else {
          const expected = new RegExp(
            `^${literal(ports(raw)).replace(/p4711r\d+/g, "(p\\d+r\\d+)")}$`,
          );
          const got = await (await conn(t)).line();
          const match = expected.exec(got ?? "");
          assert.ok(match !== null, `README line: ${line}\ngot: ${got}`);
          if (raw.startsWith("REDIRECT ")) redirects++;
          const token = /p4711r\d+/.exec(raw)?.[0];
          if (token && !tokens.has(token)) tokens.set(token, match[1]);
        }
      }
      const quit = /^terminal (\d) > QUIT$/.exec(walk.lines.at(-1)!);
      if (quit) assert.equal(await (await conn(quit[1])).line(), null, "QUIT closed it");
    } finally {
      for (const c of open) c[Symbol.dispose]();
      callee.close();
      await system.stop();
      Deno.removeSync(out, { recursive: true });
    }
  }
});

Deno.test("up runs the system until SIGINT, client talks to it; both exit with the right codes", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-up-" });
  const trace = `${out}/trace.jsonl`;
  const up = cli(["up", "--stage", "relay", "--workers", "2", "--port", "0", "--trace", trace])
    .spawn();
  try {
    const lines = new LineReader(up.stdout);
    const [, port] = await lines.until(/^osps up: stage relay, dispatcher 127\.0\.0\.1:(\d+)/);
    await lines.until(/^Ctrl-C to stop; 'main\.ts status --instance p\d+' shows the roles\.$/);
    const one = await run(["client", "requetetype2", "100", "--port", port]);
    assert.equal(one.code, 0, one.err);
    assert.equal(one.out, "25\n");
    const echo = await run(["client", "requetetype1", "a  b", "--port", port]);
    assert.equal(echo.out, "a  b\n", "payload kept byte for byte");
    const bad = await run(["client", "requetetype2", "x", "--port", port]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^ERR bad-argument /);
    const many = await run([
      "client",
      "requetetype1",
      "hi",
      "--port",
      port,
      "--repeat",
      "5",
      "--concurrency",
      "3",
    ]);
    assert.equal(many.code, 0, many.err);
    assert.match(many.out, /15 answers of 15: 15 OK, 0 ERR; latency p50 [\d.]+ ms, p99 [\d.]+ ms/);
    const errs = await run(["client", "requetetype2", "x", "--port", port, "--repeat", "3"]);
    assert.equal(errs.code, 1);
    assert.match(errs.out, /3 answers of 3: 0 OK, 3 ERR \(bad-argument 3\); /);
    const quit = await run(["client", "QUIT", "--port", port]);
    assert.equal(quit.code, 0, quit.err);
    assert.match(
      quit.out,
      /^sent QUIT; the dispatcher at 127\.0\.0\.1:\d+ closed the connection\n$/,
    );
    sendSignal(up.pid, "SIGINT");
    const rest = await lines.rest();
    assert.equal((await up.status).code, 0, rest);
    assert.match(rest, /SIGINT: stopped in order \(dispatcher first, then workers\)/);
    assert.match(rest, /dispatcher: exited with code 0, reaped/);
    assert.match(rest, /worker 2: exited with code 0, reaped/);
    assert.match(rest, /shared segments left: none/);
    const gone = await run(["client", "requetetype1", "x", "--port", port, "--retries", "0"]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /cannot reach the dispatcher/);
    const roles = new Set(readTrace(trace).map((e) => e.role));
    assert.deepEqual(
      [...roles].sort(),
      ["dispatcher", "watchdog", "worker 1", "worker 2"],
      "every role traced the run",
    );
  } finally {
    await stopUp(up);
    Deno.removeSync(out, { recursive: true });
  }
});

Deno.test("up traces only when asked; a traced run under load keeps its trace within --trace-max-bytes", async () => {
  const out = Deno.makeTempDirSync({ prefix: "osps-test-up-" });
  const trace = `${out}/trace.jsonl`;
  // Each process appends its events in batches of up to 64 KiB: with a bound of 256 KiB, the
  // workers' last batches (written after the dispatcher's stop, phased before theirs) can rotate
  // the file once at most after it, and the dispatcher's stop stays in FILE or FILE.1.
  const bound = 256 * 1024;
  try {
    for (const args of [[], ["--trace", ""]]) {
      const quiet = cli(["up", "--stage", "relay", "--workers", "1", "--port", "0", ...args])
        .spawn();
      try {
        const lines = new LineReader(quiet.stdout);
        await lines.until(/no trace \(--trace FILE to record one\)/);
        sendSignal(quiet.pid, "SIGINT");
        await lines.rest();
        assert.equal((await quiet.status).code, 0, args.join(" "));
      } finally {
        await stopUp(quiet);
      }
    }
    const bad = await run(["up", "--trace", trace, "--trace-max-bytes", "100"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--trace-max-bytes must be a whole number from 4096/);
    const args = ["--trace", trace, "--trace-max-bytes", String(bound)];
    const up = cli(["up", "--stage", "relay", "--workers", "2", "--port", "0", ...args]).spawn();
    try {
      const lines = new LineReader(up.stdout);
      const [, port] = await lines.until(/dispatcher 127\.0\.0\.1:(\d+)/);
      await lines.until(/trace .*trace\.jsonl \(bound 262144 bytes, then .*trace\.jsonl\.1\)/);
      // About 2.5 KB of trace per request: 4000 requests make 10 MB, 40 times the bound.
      const load = await run([
        "client",
        "requetetype1",
        "x",
        "--port",
        port,
        "--repeat",
        "1000",
        "--concurrency",
        "4",
      ]);
      assert.equal(load.code, 0, load.err);
      sendSignal(up.pid, "SIGINT");
      await lines.rest();
      assert.equal((await up.status).code, 0);
    } finally {
      await stopUp(up);
    }
    const files = traceFiles(trace);
    assert.deepEqual(files, [`${trace}.lifecycle`, `${trace}.1`, trace], "rotated");
    for (const f of files) {
      // One 64 KiB batch past the bound, at most, from each of the 4 processes.
      const size = Deno.statSync(f).size;
      assert.ok(size <= bound + 4 * 64 * 1024, `${f}: ${size} bytes, bound ${bound}`);
    }
    const events = readTrace(trace);
    for (const role of ["dispatcher", "worker 1", "worker 2"]) {
      assert.ok(events.some((e) => e.role === role && e.event === "stop"), `${role}'s stop is in`);
    }
    assert.ok(events.some((e) => e.event === "reply" && e.req === 4000), "the last reply is in");
    const drawn = await run(["trace", trace]);
    assert.equal(drawn.code, 0, drawn.err);
    assert.match(drawn.out, /sequence diagram: .*trace\.sequence\.md/);
  } finally {
    Deno.removeSync(out, { recursive: true });
  }
});

Deno.test("up and client refuse bad options with a usage error", async () => {
  for (
    const args of [["up", "--stage", "nope"], ["up", "--workers", "0"], ["client"], [
      "client",
      "x",
      "--port",
      "no",
    ]]
  ) {
    const r = await run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.err, /^error: /);
  }
  for (const n of ["0", "-1"]) {
    const bad = await run(["up", "--workers", n]);
    assert.equal(
      bad.err,
      `error: --workers must be a whole number from 1 to 64, got "${n}"\n` +
        "(main.ts up --help shows every option)\n",
      "the error and one line about --help, not the whole help text",
    );
  }
  for (const args of [["up", "--help"], ["client", "--help"], ["bench", "--help"]]) {
    const r = await run(args);
    assert.equal(r.code, 0);
    assert.match(r.out, /Usage: deno task /);
  }
});

Deno.test("up on ports another program holds names the port and the role", async () => {
  const base = freePortBlock(3);
  // Worker 2's port (base + 2) is taken by someone else.
  const squatter = Deno.listen({ hostname: "127.0.0.1", port: base + 2 });
  try {
    const r = await run(["up", "--stage", "ideal", "--workers", "3", "--port", String(base)]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(`worker 2: cannot listen on 127\\.0\\.0\\.1:${base + 2}: address in use`),
    );
    assert.match(r.out, /stopped the instance: worker 2 exited with code 1 while the instance/);
  } finally {
    squatter.close();
  }
});

Deno.test("up on a privileged port without the privilege says so and what to do", async () => {
  // Root may listen on port 80: in a user namespace of its own it may not (the network belongs
  // to the first one), as an ordinary user may not.
  const args = ["up", "--port", "80", "--workers", "1", "--instance", `p80t${Deno.pid}`];
  const command = libc.getuid() === 0
    ? new Deno.Command("unshare", {
      args: ["-r", Deno.execPath(), ...cliArgs(args)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    })
    : cliCommand(args);
  const o = await command.output();
  const err = new TextDecoder().decode(o.stderr);
  assert.equal(o.code, 1, err);
  assert.match(
    err,
    /^dispatcher: cannot listen on 127\.0\.0\.1:80: permission denied: ports below 1024 need privileges \(root, or CAP_NET_BIND_SERVICE\); choose --port 1024 or above$/m,
  );
});

Deno.test("a second up for a running instance refuses, naming its pid; status shows the roles; scale and reload act on it", async () => {
  const instance = `cli${Deno.pid}`;
  const out = Deno.makeTempDirSync({ prefix: "osps-test-up-" });
  const args = [
    "up",
    "--stage",
    "relay",
    "--workers",
    "2",
    "--port",
    "0",
    "--instance",
    instance,
    "--trace",
    `${out}/t.jsonl`,
  ];
  const first = cli(args).spawn();
  try {
    const lines = new LineReader(first.stdout);
    const [, port] = await lines.until(/dispatcher 127\.0\.0\.1:(\d+) .*watchdog pid (\d+)/);
    await lines.until(/^Ctrl-C to stop/);
    const second = await run(args);
    assert.equal(second.code, 1);
    assert.match(
      second.err,
      new RegExp(`another osps instance is running \\(pid ${first.pid}, lock `),
    );
    const table = await run(["status", "--instance", instance]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, new RegExp(`osps instance ${instance}, stage relay\\n`));
    assert.match(table.out, /\nwatchdog +\d+ +yes +ready /);
    assert.match(table.out, new RegExp(`\\ndispatcher +\\d+ +yes +ready +${port} `));
    assert.match(table.out, /\nworker 2 +\d+ +yes +ready /);
    const json = JSON.parse((await run(["status", "--instance", instance, "--json"])).out);
    assert.equal(json.running, true);
    assert.deepEqual(json.roles.map((r: { role: string; alive: boolean }) => [r.role, r.alive]), [
      ["watchdog", true],
      ["dispatcher", true],
      ["worker 1", true],
      ["worker 2", true],
      ["standby", true],
    ]);
    assert.equal(json.roles[0].pid, first.pid, "the watchdog is the up process");
    const served = await run(["client", "requetetype1", "still served", "--port", port]);
    assert.equal(served.out, "still served\n", "the refused second up touched nothing");
    // Scaling and a rolling reload from the command line, each followed until done.
    const up3 = await run(["scale", "3", "--instance", instance]);
    assert.equal(up3.code, 0, up3.err);
    assert.match(up3.out, /^2 → 3 workers: 3 ready, 0 not yet/m);
    const reload = await run(["reload", "--instance", instance]);
    assert.equal(reload.code, 0, reload.err);
    for (const role of ["worker 1", "worker 2", "worker 3", "dispatcher"]) {
      assert.match(reload.out, new RegExp(`^${role}: pid \\d+ → \\d+, ready$`, "m"));
    }
    assert.match(reload.out, /^reloaded in \d+ ms$/m);
    const down = await run(["scale", "1", "--instance", instance]);
    assert.equal(down.code, 0, down.err);
    assert.match(down.out, /^3 → 1 workers: 1 ready/m);
    assert.equal((await run(["scale", "0", "--instance", instance])).code, 2);
    assert.equal((await run(["scale", "--instance", instance])).code, 2);
    const after = await run(["client", "requetetype2", "1000", "--port", port]);
    assert.equal(after.out, "168\n", "served after the reload, by one worker");
    sendSignal(first.pid, "SIGINT");
    await lines.rest();
    assert.equal((await first.status).code, 0);
    const none = await run(["status", "--instance", instance]);
    assert.equal(none.code, 1);
    assert.match(none.err, new RegExp(`no osps instance ${instance} is running`));
    const nothing = await run(["reload", "--instance", instance]);
    assert.equal(nothing.code, 1);
    assert.match(nothing.err, new RegExp(`no osps instance ${instance} is running`));
  } finally {
    await stopUp(first, instance);
    Deno.removeSync(out, { recursive: true });
  }
});

/**
 * Reads a child's stdout until `until` holds of what came, then interrupts it (`interrupt`,
 * SIGINT by default) and reads the rest.
 */
async function untilThenInterrupt(
  child: Deno.ChildProcess,
  until: (text: string) => boolean,
  interrupt: () => unknown = () => sendSignal(child.pid, "SIGINT"),
): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!until(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  await interrupt();
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
  return text;
}

Deno.test("status --watch refreshes until SIGINT; in a terminal it leaves it as it was", async () => {
  const args = ["status", "--watch", "--interval", "50", "--instance", `none${Deno.pid}`];
  // In a terminal (`script` gives the command a pseudo-terminal of its own). `exec`: the shell
  // `script` starts ($SHELL, dash on Debian when unset) must not stay between the terminal and
  // the command, or dash answers the terminal's SIGINT by exiting 130 itself.
  const tty = new Deno.Command("script", {
    args: [
      "-qefc",
      ["exec", ...[Deno.execPath(), ...cliArgs(args)].map((w) => `'${w}'`)].join(" "),
      "/dev/null",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    // Ctrl-C typed into the terminal: its line discipline signals the foreground process.
    const ctrlC = () => tty.stdin.getWriter().write(new Uint8Array([0x03]));
    const text = await untilThenInterrupt(
      tty,
      (t) => (t.match(/Ctrl-C to quit/g) ?? []).length >= 2,
      ctrlC,
    );
    assert.match(text, /no osps instance none\d+ is running .*; waiting for one/);
    assert.equal((await tty.status).code, 0);
    assert.ok(text.includes("\x1b[?1049h\x1b[?25l"), "entered the alternate screen, cursor hidden");
    assert.ok(text.trimEnd().endsWith("\x1b[?25h\x1b[?1049l"), "cursor shown, screen restored");
  } finally {
    await killAndReap(tty);
  }
  // Into a pipe: plain snapshots, no terminal escapes.
  const piped = cli(args).spawn();
  try {
    const text = await untilThenInterrupt(
      piped,
      (t) => (t.match(/waiting for one/g) ?? []).length >= 2,
    );
    assert.equal((await piped.status).code, 0);
    assert.ok(!text.includes("\x1b"), "no escape sequence in a pipe");
    assert.match(text, /^\d{4}-\d\d-\d\dT[\d:.]+Z\nno osps instance none\d+ is running/m);
  } finally {
    await killAndReap(piped);
    await piped.stderr.cancel().catch(() => {});
  }
});

Deno.test("the README's experiment script runs from a folder outside the repository, as it says", async () => {
  const readme = Deno.readTextFileSync(`${ROOT}README.md`);
  const section = readme.slice(readme.indexOf("## Your own experiments"));
  const script = /```ts\n([\s\S]*?)```/.exec(section)![1];
  const run = /^\/\/ {3}(deno run .*)\\\n\/\/ {5}(.*)$/m.exec(script)!;
  const words = `${run[1]} ${run[2]}`.split(/\s+/).filter((w) => w !== "");
  const dir = Deno.makeTempDirSync({ prefix: "osps-test-script-" });
  try {
    Deno.writeTextFileSync(`${dir}/my_experiment.ts`, script.replaceAll("/path/to/osps/", ROOT));
    const args = words.slice(1).map((w) => w.replace("/path/to/osps/", ROOT));
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", ...args.slice(1)],
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(o.stdout);
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    assert.match(out, /result: "168"/);
    assert.match(out, /"worker 1": 1/, "the frozen worker was restarted");
    assert.match(out, /^\d+ trace events$/m);
    assert.ok(Deno.statSync(`${dir}/my_trace.jsonl`).isFile, "its trace where it stands");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
