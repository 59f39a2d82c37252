import assert from "node:assert/strict";
import { seeded } from "./seeded.ts";
import {
  encodeFramePayload,
  FRAME_HEADER,
  FrameDecoder,
  MAX_FRAME_PAYLOAD,
  type Taken,
} from "./frame.ts";

const text = (t: Taken) => t !== null && "frame" in t ? new TextDecoder().decode(t.frame) : t;

Deno.test("a frame is its header and payload; over the limit it is refused", () => {
  const f = encodeFramePayload("ping 1")!;
  assert.deepEqual(
    [...f.subarray(0, 6)],
    [0x4f, 0x50, 6, 0, 0xf9, 0xff],
    "marker, length, ~length",
  );
  assert.equal(new TextDecoder().decode(f.subarray(FRAME_HEADER)), "ping 1");
  assert.equal(encodeFramePayload("é".repeat(2000))!.length, FRAME_HEADER + 4000);
  assert.equal(encodeFramePayload(new Uint8Array(MAX_FRAME_PAYLOAD))!.length, 4096);
  assert.equal(encodeFramePayload(new Uint8Array(MAX_FRAME_PAYLOAD + 1)), null);
  assert.equal(encodeFramePayload("x".repeat(MAX_FRAME_PAYLOAD + 1)), null);
});

Deno.test("frames come out whole, whatever the cuts; nothing until a frame is complete", () => {
  const d = new FrameDecoder();
  const bytes = new Uint8Array([...encodeFramePayload("one")!, ...encodeFramePayload("two")!]);
  d.push(bytes.subarray(0, 2));
  assert.equal(d.take(), null);
  d.push(bytes.subarray(2, 12));
  assert.equal(text(d.take()), "one");
  assert.equal(d.take(), null);
  assert.equal(d.pending, 1);
  d.push(bytes.subarray(12));
  assert.equal(text(d.take()), "two");
  assert.equal(d.take(), null);
  assert.equal(d.end(), null);
});

Deno.test("garbage is dropped up to the next frame marker and reported; the frame after it comes", () => {
  const d = new FrameDecoder();
  d.push(new TextEncoder().encode("GARBAGE!"));
  d.push(encodeFramePayload("kept")!);
  const dropped = d.take();
  assert.ok(dropped !== null && "garbage" in dropped);
  assert.equal(dropped.garbage.dropped, 8);
  assert.match(dropped.garbage.detail, /bad magic \(8 bytes dropped\)/);
  assert.equal(text(d.take()), "kept");
  // A length that its complement contradicts is garbage, seen before any byte behind it is taken.
  d.push(new Uint8Array([0x4f, 0x50, 0x10, 0x00, 1, 2]));
  d.push(encodeFramePayload("behind")!);
  const bad = d.take();
  assert.ok(bad !== null && "garbage" in bad);
  assert.match(bad.garbage.detail, /a length that its complement contradicts \(6 bytes dropped\)/);
  assert.equal(text(d.take()), "behind");
});

Deno.test("garbage that forges a whole header cannot swallow the frames behind it", () => {
  // A plausible header (marker, length 40, its complement) with no payload behind it, then two
  // frames: the forged length takes the first frame's bytes as its payload, whose check fails;
  // the decoder resyncs on the next marker and both frames come.
  const d = new FrameDecoder();
  d.push(new Uint8Array([0x4f, 0x50, 40, 0, ~40 & 0xff, 0xff, 0x12, 0x34]));
  d.push(encodeFramePayload("first frame behind the forged header")!);
  d.push(encodeFramePayload("second")!);
  const forged = d.take();
  assert.ok(forged !== null && "garbage" in forged);
  assert.match(forged.garbage.detail, /a payload whose check fails/);
  assert.equal(text(d.take()), "first frame behind the forged header");
  assert.equal(text(d.take()), "second");
  assert.equal(d.take(), null);
});

Deno.test("a partial frame at end of stream is reported once, and the decoder starts clean", () => {
  const d = new FrameDecoder();
  d.push(encodeFramePayload("cut short")!.subarray(0, 7));
  assert.equal(d.take(), null);
  assert.deepEqual(d.end(), { dropped: 7, detail: "truncated frame at EOF" });
  assert.equal(d.end(), null);
  d.push(encodeFramePayload("next writer")!);
  assert.equal(text(d.take()), "next writer");
});

Deno.test("randomized: frames cut at every boundary, garbage between some, all frames recovered in order", () => {
  const random = seeded(42);
  for (let round = 0; round < 200; round++) {
    const sent: string[] = [];
    const parts: Uint8Array[] = [];
    for (let i = 0, n = 1 + Math.floor(random() * 20); i < n; i++) {
      if (random() < 0.2) {
        // Any bytes, markers and frame starts included.
        const junk = Uint8Array.from(
          { length: 1 + Math.floor(random() * 30) },
          () =>
            random() < 0.2 ? [0x4f, 0x50][Math.floor(random() * 2)] : Math.floor(random() * 256),
        );
        parts.push(junk);
      }
      const payload = `r${round} f${i} ${"x".repeat(Math.floor(random() * 300))}`;
      sent.push(payload);
      parts.push(encodeFramePayload(payload)!);
    }
    const stream = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) stream.set(p, (at += p.length) - p.length);
    const d = new FrameDecoder();
    const got: string[] = [];
    for (let cut = 0; cut < stream.length;) {
      const next = Math.min(stream.length, cut + 1 + Math.floor(random() * 600));
      d.push(stream.subarray(cut, next));
      cut = next;
      for (let t = d.take(); t !== null; t = d.take()) {
        if ("frame" in t) got.push(text(t) as string);
      }
    }
    assert.deepEqual(got, sent, `round ${round}`);
    assert.equal(d.end(), null);
  }
});
