/**
 * The processes the experiments observe, one concept per mode:
 *
 * - `zombie-parent`: spawns a child that exits at once, prints its pid, then blocks its own event
 *   loop for a while (Deno reaps children only while its loop turns): the child stays a zombie
 *   until the loop runs again and reaps it.
 * - `orphan-parent`: spawns a child that sleeps a while, prints its pid, and exits without
 *   waiting: the child is orphaned and adopted.
 * - `buffered-writer <fifo>`: writes a message through a Node.js write stream that is corked (the
 *   bytes stay in the writer's memory, as in a Python file object's buffer), prints "written",
 *   waits for a line on stdin, then uncorks (flushes) and prints "flushed".
 * - `bulk-writer <fifo> <letter> <size> <count>`: opens the FIFO, prints "open", waits for a line
 *   on stdin, then writes `count` messages of `size` bytes of `letter` with plain blocking writes.
 * - `sigchld-parent <ms>`: listens for SIGCHLD, spawns a child that sleeps `ms`, prints
 *   "SIGCHLD <ms after the spawn>" when the signal comes, then "exit <the child's code>".
 *
 * - `fifo-reader <fifo>`: prints "opening", opens the FIFO for reading (blocking until a writer
 *   comes), prints "opened", then "read <line>" for each line and "EOF" at its end.
 * - `fifo-writer <fifo> <line>`: prints "opening", opens the FIFO for writing (blocking until a
 *   reader comes), prints "opened", waits for a line on stdin, writes `line`, and exits.
 * - `full-writer <fifo> <bytes>`: opens the FIFO for writing, prints "PIPE_BUF <n>" and
 *   "capacity <n>", writes `bytes` bytes in one blocking write, then prints "wrote <n>".
 * - `stop-continue`: stops a child of its own, then continues it, counting SIGCHLDs: prints
 *   "stopped <SIGCHLDs> <its state>" and "continued <SIGCHLDs> <its state>".
 * - `merged <n>`: n children die while this process's loop is blocked: prints
 *   "merged <deaths> <SIGCHLDs the loop saw> <reaped>".
 * - `ignored` and `default`: with SIGCHLD set to SIG_IGN, or left as it is, starts a child that
 *   exits at once and that nothing waits for (posix_spawnp, not Deno's spawn, which reaps): prints
 *   "<mode> <the exited child in /proc: zombie or gone> <waitpid's answer: status or ECHILD>".
 * - `shm-create <name>`: creates the shared memory segment `name`, writes "hello" in it, prints
 *   "created", and on a line on stdin unlinks it and prints "unlinked".
 * - `shm-read <name> hold|exit`: maps the existing segment, prints "read <its first 5 bytes>",
 *   then waits for a line on stdin (`hold`: to be killed meanwhile) or exits (`exit`).
 *
 * Run by `scenarios/experiments.ts`; `examples/python/experiments/` holds the same modes in Python.
 *
 * @module
 */

import { createWriteStream } from "node:fs";
import {
  collectChild,
  ignoreChildExits,
  pipeSizes,
  processInfo,
  SharedBytes,
  spawnUnwaited,
} from "../ipc/mod.ts";

/** Blocks this thread (and so the event loop) for `ms`. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function line(): Promise<string> {
  const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.trim();
}

if (import.meta.main) {
  const [mode, ...args] = Deno.args;
  if (mode === "zombie-parent") {
    const child = new Deno.Command("true", { stdout: "null" }).spawn();
    console.log(`child ${child.pid}`);
    blockFor(Number(args[0] ?? 1500));
    await child.status;
    console.log("reaped");
  } else if (mode === "orphan-parent") {
    const child = new Deno.Command("sleep", { args: [args[0] ?? "0.5"], stdout: "null" }).spawn();
    child.unref();
    console.log(`child ${child.pid}`);
    Deno.exit(0);
  } else if (mode === "buffered-writer") {
    const stream = createWriteStream(args[0]);
    await new Promise((resolve) => stream.once("open", resolve));
    stream.cork();
    stream.write("hello through a buffered writer\n");
    console.log("written");
    await line();
    stream.uncork();
    await new Promise((resolve) => stream.end(resolve));
    console.log("flushed");
  } else if (mode === "bulk-writer") {
    const [path, letter, size, count] = args;
    using fifo = Deno.openSync(path, { write: true });
    console.log("open");
    await line();
    const message = new TextEncoder().encode(letter.repeat(Number(size)));
    for (let i = 0; i < Number(count); i++) {
      for (let at = 0; at < message.length;) at += fifo.writeSync(message.subarray(at));
    }
  } else if (mode === "sigchld-parent") {
    const ms = Number(args[0] ?? 200);
    let seen = () => {};
    const arrived = new Promise<number>((resolve) => seen = () => resolve(performance.now()));
    Deno.addSignalListener("SIGCHLD", seen);
    const start = performance.now();
    const child = new Deno.Command("sleep", { args: [String(ms / 1000)], stdout: "null" }).spawn();
    const status = await child.status;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const at = await Promise.race([
      arrived,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 1000)),
    ]);
    clearTimeout(timer);
    Deno.removeSignalListener("SIGCHLD", seen);
    if (at !== null) console.log(`SIGCHLD ${(at - start).toFixed(0)}`);
    console.log(`exit ${status.code}`);
  } else if (mode === "fifo-reader") {
    console.log("opening");
    // A blocking open: this thread waits in the kernel until a writer opens the other end.
    const pipe = Deno.openSync(args[0], { read: true });
    console.log("opened");
    let pending = "";
    // The stream ends at EOF (once the last writer has closed its end), and closes the file.
    for await (const chunk of pipe.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop()!;
      for (const text of lines) console.log(`read ${text}`);
    }
    console.log("EOF");
  } else if (mode === "fifo-writer") {
    console.log("opening");
    const pipe = Deno.openSync(args[0], { write: true });
    console.log("opened");
    await line();
    pipe.writeSync(new TextEncoder().encode(`${args[1]}\n`));
    pipe.close();
  } else if (mode === "full-writer") {
    const pipe = Deno.openSync(args[0], { write: true });
    // PIPE_BUF: writes up to this size are atomic. The capacity: what the pipe holds.
    const { atomic, capacity } = pipeSizes(args[0]);
    console.log(`PIPE_BUF ${atomic}`);
    console.log(`capacity ${capacity}`);
    // One write of more than the capacity: it blocks, in the kernel, until the reader makes room.
    const written = pipe.writeSync(new Uint8Array(Number(args[1])).fill(0x78));
    console.log(`wrote ${written}`);
    pipe.close();
  } else if (mode === "stop-continue") {
    let received = 0;
    Deno.addSignalListener("SIGCHLD", () => received++);
    const child = new Deno.Command("sleep", { args: ["10"], stdout: "null" }).spawn();
    const settle = async (state: string) => {
      for (
        let i = 0;
        i < 3000 && (received === 0 || processInfo(child.pid)?.state !== state);
        i++
      ) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const seen = received;
      received = 0;
      return `${seen} ${processInfo(child.pid)?.state}`;
    };
    child.kill("SIGSTOP");
    console.log(`stopped ${await settle("T")}`);
    child.kill("SIGCONT");
    console.log(`continued ${await settle("S")}`);
    child.kill("SIGKILL");
    await child.status;
    Deno.exit(0);
  } else if (mode === "merged") {
    let received = 0;
    Deno.addSignalListener("SIGCHLD", () => received++);
    const n = Number(args[0] ?? 5);
    const children = Array.from(
      { length: n },
      () => new Deno.Command("sleep", { args: ["0.1"], stdout: "null" }).spawn(),
    );
    // The loop is blocked while they die: the signals wait, and are seen as one.
    blockFor(600);
    const statuses = await Promise.all(children.map((c) => c.status));
    await new Promise((resolve) => setTimeout(resolve, 50));
    console.log(`merged ${n} ${received} ${statuses.length}`);
    Deno.exit(0);
  } else if (mode === "ignored" || mode === "default") {
    if (mode === "ignored") ignoreChildExits();
    const pid = spawnUnwaited(["true"]);
    const seenInProc = () => {
      const state = processInfo(pid)?.state;
      return state === undefined ? "gone" : state === "Z" ? "zombie" : "running";
    };
    for (let i = 0; i < 300 && seenInProc() === "running"; i++) blockFor(1);
    // What /proc says before waitpid, which would reap a zombie.
    const seen = seenInProc();
    console.log(`${mode} ${seen} ${collectChild(pid)}`);
    Deno.exit(0);
  } else if (mode === "shm-create") {
    const segment = SharedBytes.create(`/${args[0]}`, 4096);
    segment.bytes.set(new TextEncoder().encode("hello"));
    console.log("created");
    await line();
    segment.close();
    // The creator removes it: it lasts until someone does.
    SharedBytes.unlink(`/${args[0]}`);
    console.log("unlinked");
  } else if (mode === "shm-read") {
    const segment = SharedBytes.open(`/${args[0]}`);
    console.log(`read ${new TextDecoder().decode(segment.bytes.subarray(0, 5))}`);
    if (args[1] === "hold") await line();
    segment.close();
  } else {
    console.error(`unknown mode ${mode}`);
    Deno.exit(2);
  }
}
