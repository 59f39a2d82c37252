import assert from "node:assert/strict";
import { computeLayout, HEADER, LAYOUT_VERSION } from "./layout.ts";
import { SegmentHeaderError, SegmentSizeError } from "./segment_errors.ts";
import { readHeader, validateHeader, writeHeader } from "./segment_header.ts";

function header(workers = 3, label = "relay"): { bytes: Uint8Array; size: number } {
  const layout = computeLayout(workers);
  const bytes = new Uint8Array(HEADER.size);
  writeHeader(bytes, layout, label, "/t");
  return { bytes, size: layout.totalSize };
}

Deno.test("a written header reads back and validates into the layout it was written for", () => {
  const { bytes, size } = header(3, "relay");
  const read = readHeader(bytes);
  assert.equal(read.version, LAYOUT_VERSION);
  assert.equal(read.workers, 3);
  assert.equal(read.totalSize, size);
  assert.equal(read.creatorPid, Deno.pid);
  assert.equal(read.label, "relay");
  assert.deepEqual(validateHeader("/t", bytes, size, 3), computeLayout(3));
});

Deno.test("a foreign magic, another version, a wrong size or worker count is refused", () => {
  const foreign = header().bytes;
  foreign[0] ^= 0xff;
  assert.throws(() => validateHeader("/t", foreign, header().size), SegmentHeaderError);

  const old = header().bytes;
  new DataView(old.buffer).setUint32(HEADER.fields.version.offset, LAYOUT_VERSION - 1, true);
  assert.throws(() => validateHeader("/t", old, header().size), /layout version/);

  const { bytes, size } = header();
  assert.throws(() => validateHeader("/t", bytes, size + 4096), SegmentSizeError);
  assert.throws(() => validateHeader("/t", bytes, 10), /smaller than the 64-byte header/);
  assert.throws(() => validateHeader("/t", bytes, size, 4), /laid out for 3 workers, expected 4/);
});

Deno.test("header fields that describe an impossible layout are refused, not trusted", () => {
  const { bytes, size } = header();
  new DataView(bytes.buffer).setUint32(HEADER.fields.workers.offset, 1000, true);
  assert.throws(() => validateHeader("/t", bytes, size), /impossible header values/);

  const slots = header();
  new DataView(slots.bytes.buffer).setUint32(HEADER.fields.slots.offset, 99, true);
  assert.throws(() => validateHeader("/t", slots.bytes, slots.size), /99 slots/);
});
