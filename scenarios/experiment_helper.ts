/**
 * The processes the experiments observe, one concept per mode:
 *
 * - `zombie-parent`: spawns a child that exits at once, prints its pid, then blocks its own event
 *   loop for a while (Deno reaps children only while its loop turns): the child stays a zombie
 *   until the loop runs again and reaps it.
 * - `orphan-parent`: spawns a child that sleeps a while, prints its pid, and exits without
 *   waiting: the child is orphaned and adopted.
 * - `corked-writer <fifo>`: writes a message through a Node.js write stream that is corked (the
 *   bytes stay in the writer's memory), prints "written", waits for a line on stdin, then uncorks
 *   (flushes) and prints "flushed".
 * - `bulk-writer <fifo> <letter> <size> <count>`: opens the FIFO, prints "open", waits for a line
 *   on stdin, then writes `count` messages of `size` bytes of `letter` with plain blocking writes.
 *
 * Run by `scenarios/experiments.ts`.
 *
 * @module
 */

import { createWriteStream } from "node:fs";

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
  } else if (mode === "corked-writer") {
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
  } else {
    console.error(`unknown mode ${mode}`);
    Deno.exit(2);
  }
}
