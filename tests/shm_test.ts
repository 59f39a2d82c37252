import assert from "node:assert/strict";
import {
  HEADER,
  LAYOUT_VERSION,
  MAILBOX_HEADER,
  MailboxCorruptError,
  MailboxOverflowError,
  SegmentError,
  SegmentExistsError,
  SegmentHeaderError,
  SegmentNotFoundError,
  SegmentSizeError,
  SharedSegment,
  workerSlot,
} from "../ipc/mod.ts";
import {
  killAndReap,
  LineReader,
  RawShm,
  removeShm,
  spawnFixture,
  testSegmentName,
} from "./helpers.ts";
import { readWholeFile } from "../ipc/libc.ts";

/** Runs `fn` with a fresh segment name; whatever happens, nothing of that name is left after. */
async function withSegmentName(label: string, fn: (name: string) => unknown): Promise<void> {
  const name = testSegmentName(label);
  try {
    await fn(name);
  } finally {
    removeShm(name);
  }
}

/** Overwrites bytes of a segment, as a foreign process of the same user could. */
function poke(name: string, offset: number, bytes: Uint8Array): void {
  using raw = RawShm.open(name);
  raw.bytes().set(bytes, offset);
}

function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}

Deno.test("a child process writes into the segment and the parent reads it", async () => {
  await withSegmentName("child", async (name) => {
    using seg = SharedSegment.create(name, { workers: 2 });
    const child = spawnFixture("shm_writer.ts", [name]);
    try {
      assert.equal(await new LineReader(child.stdout).next(), "done");
      const status = await child.status;
      assert.equal(status.code, 0);
      const got = seg.mailbox(2).readText();
      assert.equal(got.text, `from child ${child.pid}`);
      assert.equal(got.seq, 42);
      assert.equal(got.timestamp, 1234.5);
      const slot = seg.slot(workerSlot(2));
      assert.equal(slot.get("pid"), child.pid);
      assert.equal(slot.get("port"), 2224);
      assert.equal(slot.host(), "127.0.0.1");
      assert.equal(seg.mailbox(1).readText().text, "", "mailbox 1 untouched");
    } finally {
      await killAndReap(child);
    }
    SharedSegment.unlink(name);
  });
});

// A worker re-asserts its host at every beat while other processes read it: a reader must never
// see the field empty (a REDIRECT once named host "" because the field was zeroed, then written).
Deno.test("a host rewritten by another process is never read empty", async () => {
  await withSegmentName("host", async (name) => {
    using seg = SharedSegment.create(name, { workers: 2 });
    const child = spawnFixture("host_rewriter.ts", [name]);
    try {
      assert.equal(await new LineReader(child.stdout).next(), "go");
      const slot = seg.slot(workerSlot(1));
      const seen = new Set<string>();
      // Read until the child has rewritten it 20,000 times meanwhile (at most 20 s).
      const before = slot.get("generation");
      const until = performance.now() + 20_000;
      let rewrites = 0;
      for (let reads = 1;; reads++) {
        seen.add(slot.host());
        if (reads % 1024 !== 0) continue;
        rewrites = slot.get("generation") - before;
        if ((rewrites >= 20_000 && reads >= 100_000) || performance.now() > until) break;
      }
      assert.ok(
        rewrites >= 20_000,
        `the child rewrote the host ${rewrites} times while it was read`,
      );
      assert.ok(!seen.has(""), `read empty among ${seen.size} values`);
      assert.ok(seen.has("127.0.0.1") && seen.has("192.168.100.200"), [...seen].join(", "));
    } finally {
      await killAndReap(child);
    }
    SharedSegment.unlink(name);
  });
});

Deno.test("a created segment is mode 0600 and its header describes it", async () => {
  await withSegmentName("mode", (name) => {
    using seg = SharedSegment.create(name, { workers: 3 });
    const mode = new Deno.Command("stat", { args: ["-c", "%a", `/dev/shm${name}`] }).outputSync();
    assert.equal(new TextDecoder().decode(mode.stdout).trim(), "600");
    const h = seg.header();
    assert.equal(h.workers, 3);
    assert.equal(h.creatorPid, Deno.pid);
    using raw = RawShm.open(name);
    assert.equal(h.totalSize, raw.size);
    using again = SharedSegment.open(name, { workers: 3 });
    assert.deepEqual(again.layout, seg.layout);
    SharedSegment.unlink(name);
  });
});

Deno.test("a foreign segment (bad magic) is refused and left untouched", async () => {
  await withSegmentName("foreign", (name) => {
    const garbage = new Uint8Array(65536).fill(0xab);
    using raw = RawShm.open(name, garbage.length);
    raw.bytes().set(garbage);
    assert.throws(() => SharedSegment.open(name), (e) => {
      assert.ok(e instanceof SegmentHeaderError);
      assert.match(e.message, /magic is 0xabababab.*not an osps segment/);
      assert.equal(e.segment, name);
      return true;
    });
    using after = RawShm.open(name);
    assert.deepEqual(after.bytes(), garbage);
  });
});

Deno.test("a segment of another layout version is refused", async () => {
  await withSegmentName("version", (name) => {
    SharedSegment.create(name, { workers: 1 }).close();
    poke(name, HEADER.fields.version.offset, u32(99));
    assert.throws(
      () => SharedSegment.open(name),
      new RegExp(`layout version 99, this toolkit reads ${LAYOUT_VERSION}`),
    );
    assert.ok(SharedSegment.exists(name), "not removed");
  });
});

Deno.test("a segment of the wrong size is refused", async (t) => {
  await t.step("real size differs from the header", async () => {
    await withSegmentName("size", (name) => {
      const seg = SharedSegment.create(name, { workers: 1 });
      const size = seg.layout.totalSize;
      seg.close();
      using raw = RawShm.open(name);
      raw.truncate(size + 4096);
      assert.throws(() => SharedSegment.open(name), (e) => {
        assert.ok(e instanceof SegmentSizeError);
        assert.match(
          e.message,
          new RegExp(`header says ${size} bytes, the segment has ${size + 4096}`),
        );
        return true;
      });
      using after = RawShm.open(name);
      assert.equal(after.size, size + 4096, "left untouched");
    });
  });
  await t.step("smaller than a header", async () => {
    await withSegmentName("tiny", (name) => {
      RawShm.open(name, 10)[Symbol.dispose]();
      assert.throws(() => SharedSegment.open(name), SegmentSizeError);
    });
  });
  await t.step("laid out for another worker count than expected", async () => {
    await withSegmentName("workers", (name) => {
      SharedSegment.create(name, { workers: 2 }).close();
      assert.throws(
        () => SharedSegment.open(name, { workers: 3 }),
        (e) =>
          e instanceof SegmentSizeError && /laid out for 2 workers, expected 3/.test(e.message),
      );
    });
  });
});

Deno.test("creating an existing segment fails with EEXIST and does not overwrite it", async () => {
  await withSegmentName("exists", (name) => {
    using first = SharedSegment.create(name, { workers: 1 });
    first.mailbox(1).write("precious", { seq: 7 });
    assert.throws(() => SharedSegment.create(name, { workers: 4 }), (e) => {
      assert.ok(e instanceof SegmentExistsError);
      assert.match(e.message, /already exists \(EEXIST\)/);
      assert.equal((e.cause as { code: string }).code, "EEXIST");
      return true;
    });
    using reopened = SharedSegment.open(name, { workers: 1 });
    assert.equal(reopened.mailbox(1).readText().text, "precious");
    SharedSegment.unlink(name);
  });
});

Deno.test("opening or unlinking a missing segment fails with ENOENT", () => {
  const name = testSegmentName("missing");
  assert.throws(() => SharedSegment.open(name), (e) => {
    assert.ok(e instanceof SegmentNotFoundError);
    assert.equal((e.cause as { code: string; call: string }).code, "ENOENT");
    assert.equal((e.cause as { code: string; call: string }).call, "shm_open");
    return true;
  });
  assert.throws(() => SharedSegment.unlink(name), SegmentNotFoundError);
  assert.equal(SharedSegment.exists(name), false);
});

Deno.test("unlink leaves nothing in /dev/shm", async () => {
  await withSegmentName("unlink", (name) => {
    const seg = SharedSegment.create(name, { workers: 2 });
    const listed = () => {
      const ls = new Deno.Command("ls", { args: ["-1", "/dev/shm"] }).outputSync();
      return new TextDecoder().decode(ls.stdout).split("\n").includes(name.slice(1));
    };
    assert.ok(listed());
    SharedSegment.unlink(name);
    seg.close();
    assert.equal(listed(), false);
    assert.equal(SharedSegment.exists(name), false);
  });
});

Deno.test("a payload larger than its mailbox is an error and writes nothing", async () => {
  await withSegmentName("overflow", (name) => {
    using seg = SharedSegment.create(name, { workers: 1, mailboxPayload: 100 });
    const box = seg.mailbox(1);
    box.write("before", { seq: 1 });
    const tooBig = new Uint8Array(box.capacity + 1).fill(0x41);
    assert.throws(() => box.write(tooBig, { seq: 2 }), (e) => {
      assert.ok(e instanceof MailboxOverflowError);
      assert.match(
        e.message,
        new RegExp(`${box.capacity + 1} bytes does not fit.*nothing was written`),
      );
      return true;
    });
    assert.deepEqual({ ...box.readText(), timestamp: 0 }, { seq: 1, text: "before", timestamp: 0 });
    assert.throws(
      () => box.write("é".repeat(box.capacity / 2 + 1), { seq: 2 }),
      MailboxOverflowError,
    );
    assert.equal(box.readText().text, "before", "a string too long wrote nothing either");
    box.write(tooBig.subarray(1), { seq: 3 });
    assert.equal(box.read().payload.length, box.capacity);
    SharedSegment.unlink(name);
  });
});

Deno.test("out-of-range slots and mailboxes, corrupt lengths and closed segments are errors", async () => {
  await withSegmentName("bounds", (name) => {
    const seg = SharedSegment.create(name, { workers: 2 });
    assert.throws(() => seg.slot(seg.layout.slots), RangeError);
    assert.throws(() => seg.mailbox(0), RangeError);
    assert.throws(() => seg.mailbox(3), RangeError);
    assert.throws(() => seg.slot(0).setHost("x".repeat(40)), RangeError);
    poke(name, seg.layout.mailboxesOffset + MAILBOX_HEADER.fields.length.offset, u32(1 << 30));
    assert.throws(() => seg.mailbox(1).read(), MailboxCorruptError);
    seg.close();
    assert.throws(
      () => seg.mailbox(1).read(),
      (e) => e instanceof SegmentError && /is closed/.test(e.message),
    );
    SharedSegment.unlink(name);
  });
});

Deno.test("bad segment names are refused before any system call", () => {
  for (const bad of ["no-slash", "/a/b", "/", `/${"x".repeat(201)}`, "/nul\0"]) {
    assert.throws(() => SharedSegment.create(bad, { workers: 1 }), TypeError, bad);
  }
});

Deno.test("a read-only mapping reads everything and refuses every write", async () => {
  await withSegmentName("readonly", (name) => {
    using seg = SharedSegment.create(name, { workers: 1, label: "relay" });
    seg.slot(workerSlot(1)).set("pid", 4242);
    seg.mailbox(1).write("hello", { seq: 3 });
    using view = SharedSegment.open(name, { readOnly: true });
    assert.equal(view.header().label, "relay");
    assert.equal(view.slot(workerSlot(1)).get("pid"), 4242);
    assert.equal(view.mailbox(1).readText().text, "hello");
    assert.throws(() => view.slot(0).set("pid", 1), /mapped read-only/);
    assert.throws(() => view.slot(0).setHost("x"), /mapped read-only/);
    assert.throws(() => view.mailbox(1).write("x", { seq: 4 }), /mapped read-only/);
    assert.equal(seg.mailbox(1).readText().text, "hello");
    SharedSegment.unlink(name);
  });
});

Deno.test("a create that fails after mapping leaves no mapping, descriptor or segment behind", async () => {
  await withSegmentName("leak", (name) => {
    const mapped = () =>
      new TextDecoder().decode(readWholeFile("/proc/self/maps")!).split("\n").filter((l) =>
        l.includes(`/dev/shm${name}`)
      )
        .length;
    assert.throws(
      () => SharedSegment.create(name, { workers: 1, label: "x".repeat(4096) }),
      RangeError,
    );
    assert.equal(mapped(), 0, "the mapping was unmapped");
    assert.equal(SharedSegment.exists(name), false, "the segment was removed");
  });
});
