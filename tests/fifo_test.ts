import assert from "node:assert/strict";
import {
  BrokenPipeError,
  encodeFrame,
  FifoReader,
  type FifoWait,
  FifoWriter,
  FrameError,
  FrameTooLargeError,
  makePrivateDirectory,
  MAX_FRAME_PAYLOAD,
  NoReaderError,
  NotAFifoError,
  PipeFullError,
  RuntimeDir,
  RuntimeDirError,
} from "../ipc/mod.ts";
import { withUmask } from "../ipc/libc.ts";
import { expectedBody } from "./fixtures/fifo_message.ts";
import { killAndReap, LineReader, spawnFixture, waitUntil } from "./helpers.ts";

/** One frame through a fresh pipe watched with `wait`: the event loop has turned meanwhile. */
async function roundTrip(dir: RuntimeDir, wait: FifoWait): Promise<void> {
  using reader = FifoReader.open(dir.fifo("round-trip"), { wait });
  using writer = await FifoWriter.open(reader.path);
  writer.send("there and back");
  assert.equal(await reader.receiveText(), "there and back");
}

/** Runs `fn` in a fresh runtime directory, removed afterwards whatever happens. */
async function inRuntimeDir(fn: (dir: RuntimeDir) => Promise<void> | void): Promise<void> {
  const dir = RuntimeDir.create({ prefix: "osps-test-" });
  try {
    await fn(dir);
  } finally {
    dir.remove();
  }
}

Deno.test("pipes are 0600 in a 0700 runtime directory; a foreign directory is refused", async () => {
  await inRuntimeDir((dir) => {
    assert.equal(Deno.statSync(dir.path).mode! & 0o777, 0o700);
    const path = dir.fifo("dwtube1");
    const info = Deno.lstatSync(path);
    assert.ok(info.isFifo);
    assert.equal(info.mode! & 0o777, 0o600);
    Deno.chmodSync(dir.path, 0o755);
    assert.throws(() => RuntimeDir.open(dir.path), RuntimeDirError);
    assert.throws(() => dir.fifo("dwtube1"), /mkfifo\(.*dwtube1\) failed: EEXIST/);
    assert.throws(() => dir.file("../escape"), TypeError);
    Deno.writeTextFileSync(dir.file("plain"), "x");
    assert.throws(() => FifoReader.open(dir.file("plain")), NotAFifoError);
  });
});

// Created with their mode, not chmod-ed by path afterwards (a window in which the path could be
// another file); opened, then checked on the descriptor (the path may name another file by then).
Deno.test("pipes and directories get their mode as they are created, whatever the umask; what opens is checked", async () => {
  await inRuntimeDir(async (dir) => {
    for (const mask of [0o777, 0o022, 0o000]) {
      const path = withUmask(mask, () => dir.fifo(`p${mask}`));
      assert.equal(Deno.lstatSync(path).mode! & 0o777, 0o600, `umask ${mask.toString(8)}`);
      const sub = `${dir.path}/d${mask}`;
      withUmask(mask, () => makePrivateDirectory(sub));
      assert.equal(Deno.lstatSync(sub).mode! & 0o777, 0o700, `umask ${mask.toString(8)}`);
    }
    const fifo = dir.fifo("real");
    Deno.symlinkSync(fifo, dir.file("link"));
    Deno.writeTextFileSync(dir.file("plain"), "x");
    Deno.mkdirSync(dir.file("folder"));
    for (const name of ["link", "plain", "folder"]) {
      assert.throws(() => FifoReader.open(dir.file(name)), NotAFifoError, name);
      assert.throws(() => FifoWriter.openNow(dir.file(name)), NotAFifoError, name);
      await assert.rejects(() => FifoWriter.open(dir.file(name)), NotAFifoError, name);
    }
  });
});

for (const wait of ["socket", "poll"] as const) {
  Deno.test(`[${wait} wait] 4 writer processes x 5000 framed messages: none torn, none lost, then EOF`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("many");
      using reader = FifoReader.open(path, { wait });
      const writers = [0, 1, 2, 3].map((id) =>
        spawnFixture("fifo_writer.ts", [path, String(id), "5000"])
      );
      try {
        const next = [0, 0, 0, 0];
        let frames = 0;
        let switches = 0;
        let last = -1;
        for await (const frame of reader) {
          const text = new TextDecoder().decode(frame);
          const m = /^(\d):(\d+):([A-Z]*)$/.exec(text);
          assert.ok(m, `torn or foreign frame: ${JSON.stringify(text.slice(0, 60))}…`);
          const [id, seq] = [Number(m[1]), Number(m[2])];
          assert.equal(seq, next[id], `writer ${id}: expected message ${next[id]}, got ${seq}`);
          assert.equal(m[3], expectedBody(id, seq), `writer ${id} message ${seq} has a wrong body`);
          next[id]++;
          frames++;
          if (id !== last) switches++;
          last = id;
        }
        assert.deepEqual(next, [5000, 5000, 5000, 5000]);
        assert.equal(frames, 20000);
        assert.ok(
          switches > 100,
          `writers barely overlapped (${switches} switches): test proves little`,
        );
        for (const w of writers) assert.equal((await w.status).code, 0);
      } finally {
        await Promise.all(writers.map(killAndReap));
      }
    });
  });

  Deno.test(`[${wait} wait] a message over the frame limit is refused before a byte is written`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("limit");
      using reader = FifoReader.open(path, { wait });
      using writer = await FifoWriter.open(path);
      assert.throws(() => writer.send(new Uint8Array(MAX_FRAME_PAYLOAD + 1)), (e) => {
        assert.ok(e instanceof FrameTooLargeError);
        assert.match(
          e.message,
          /4089 bytes exceeds the 4088-byte frame limit.*nothing was written/,
        );
        return true;
      });
      const largest = new Uint8Array(MAX_FRAME_PAYLOAD).fill(7);
      writer.send(largest);
      writer.send("after");
      assert.deepEqual(await reader.receive(), largest);
      assert.equal(await reader.receiveText(), "after");
    });
  });

  Deno.test(`[${wait} wait] the reader sees EOF when its writer process dies`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("eof");
      using reader = FifoReader.open(path, { wait });
      const child = spawnFixture("fifo_writer.ts", [path, "0", "1", "hold"]);
      try {
        assert.equal(await new LineReader(child.stdout).next(), "sent");
        assert.equal(await reader.receiveText(), `0:0:${expectedBody(0, 0)}`);
        const pending = reader.receive();
        child.kill("SIGKILL");
        assert.equal(await pending, null);
        assert.equal((await child.status).signal, "SIGKILL");
      } finally {
        await killAndReap(child);
      }
    });
  });

  Deno.test(`[${wait} wait] after EOF the next receive waits for the next writer`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("again");
      using reader = FifoReader.open(path, { wait });
      for (const word of ["first", "second"]) {
        const writer = await FifoWriter.open(path);
        writer.send(word);
        writer.close();
        assert.equal(await reader.receiveText(), word);
        assert.equal(await reader.receive(), null);
      }
    });
  });

  Deno.test(`[${wait} wait] close() ends a pending receive; a second concurrent receive is refused`, async () => {
    await inRuntimeDir(async (dir) => {
      const reader = FifoReader.open(dir.fifo("cancel"), { wait });
      const pending = reader.receive();
      await assert.rejects(() => reader.receive(), /already pending/);
      reader.close();
      assert.equal(await pending, null);
      assert.equal(await reader.receive(), null);
    });
  });

  Deno.test(`[${wait} wait] bytes that are not a frame give a FrameError; later frames still arrive`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("garbage");
      using reader = FifoReader.open(path, { wait });
      using writer = await FifoWriter.open(path);
      using raw = Deno.openSync(path, { write: true });
      raw.writeSync(new TextEncoder().encode("GARBAGE!"));
      await assert.rejects(() => reader.receive(), FrameError);
      writer.send("valid");
      assert.equal(await reader.receiveText(), "valid");
      // Garbage and a frame in one read: the frame after the garbage is kept.
      const both = new Uint8Array([
        ...new TextEncoder().encode("xx"),
        ...encodeFrame(path, "kept"),
      ]);
      raw.writeSync(both);
      await assert.rejects(() => reader.receive(), FrameError);
      assert.equal(await reader.receiveText(), "kept");
    });
  });

  Deno.test(`[${wait} wait] opening a writer waits for a reader, can be aborted, or fails at once with openNow`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("noreader");
      assert.throws(() => FifoWriter.openNow(path), NoReaderError);
      const controller = new AbortController();
      const opening = FifoWriter.open(path, { signal: controller.signal });
      controller.abort(new Error("gave up"));
      await assert.rejects(opening, /gave up/);
      using reader = FifoReader.open(path, { wait });
      using writer = FifoWriter.openNow(path);
      writer.send("now");
      assert.equal(await reader.receiveText(), "now");
    });
  });

  Deno.test(`[${wait} wait] a pipe that ends inside a frame: the partial frame is reported, then EOF`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("partial");
      using reader = FifoReader.open(path, { wait });
      const writer = await FifoWriter.open(path);
      writer.send("whole");
      using raw = Deno.openSync(path, { write: true });
      raw.writeSync(encodeFrame(path, "cut short").subarray(0, 6));
      raw.close();
      writer.close();
      assert.equal(await reader.receiveText(), "whole");
      await assert.rejects(() => reader.receive(), /truncated frame at EOF/);
      assert.equal(await reader.receive(), null, "the EOF is reported, not lost");
    });
  });

  Deno.test(`[${wait} wait] read-ahead stops at its bound: the pipe fills, then every frame comes, in order`, async () => {
    await inRuntimeDir(async (dir) => {
      const path = dir.fifo("ahead");
      using reader = FifoReader.open(path, { wait });
      using writer = await FifoWriter.open(path);
      let sent = 0;
      const fill = () => {
        const before = sent;
        try {
          for (;; sent++) writer.send(`frame ${sent}`);
        } catch (e) {
          if (!(e instanceof PipeFullError)) throw e;
        }
        return sent - before;
      };
      // A full pipe (64 KiB of 12-18 byte frames): the reader takes it in one go, past its bound
      // of 1024 frames read ahead, and stops reading.
      assert.ok(fill() > 1024);
      await waitUntil("the reader reading ahead", () => reader.queued > 0, 5000);
      const ahead = reader.queued;
      assert.ok(ahead >= 1024, `read ahead: ${ahead}`);
      assert.ok(fill() > 0, "the pipe had been emptied by the read-ahead");
      // A round trip on another pipe watched the same way: the event loop has run the reader's
      // watch since, and a reader that did not stop would have taken the full pipe again.
      await roundTrip(dir, wait);
      assert.equal(reader.queued, ahead, "nothing more read ahead past the bound");
      assert.equal(fill(), 0, "the pipe stays full while the reader is at its bound");
      for (let i = 0; i < sent; i++) assert.equal(await reader.receiveText(), `frame ${i}`);
    });
  });
}

Deno.test("a write after the reader process died is an EPIPE error, not a crash", async () => {
  await inRuntimeDir(async (dir) => {
    const path = dir.fifo("epipe");
    const child = spawnFixture("fifo_holder.ts", [path]);
    try {
      assert.equal(await new LineReader(child.stdout).next(), "ready");
      using writer = await FifoWriter.open(path);
      writer.send("while the reader lives");
      child.kill("SIGKILL");
      await child.status;
      assert.throws(() => writer.send("too late"), (e) => {
        assert.ok(e instanceof BrokenPipeError);
        assert.match(e.message, /EPIPE/);
        return true;
      });
    } finally {
      await killAndReap(child);
    }
  });
});
