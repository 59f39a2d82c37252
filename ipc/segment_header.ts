/**
 * A segment's header: written once at creation (the magic last, so a concurrent opener sees
 * either no magic or a whole header), and checked before any open maps the rest. Pure functions
 * of the header's bytes: a foreign, stale or corrupted header is refused here, before anything is
 * written.
 *
 * @module
 */

import { readNumber, readText, writeNumber, writeText } from "./fields.ts";
import {
  computeLayout,
  type Field,
  HEADER,
  LAYOUT_VERSION,
  MAGIC,
  MAILBOX_HEADER,
  type SegmentLayout,
} from "./layout.ts";
import { SegmentHeaderError, SegmentSizeError } from "./segment_errors.ts";

/** The header of a segment as read from memory. */
export interface SegmentHeader {
  /** Layout version. */
  version: number;
  /** Total size recorded at creation. */
  totalSize: number;
  /** Worker count. */
  workers: number;
  /** Pid of the process that created the segment. */
  creatorPid: number;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  /** The label given at creation. */
  label: string;
}

/** Writes the header of a segment laid out as `layout` (segment `name`), the magic last. */
export function writeHeader(
  bytes: Uint8Array,
  layout: SegmentLayout,
  label: string,
  name: string,
): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f = HEADER.fields;
  writeText(bytes, f.label.offset, f.label, label, name);
  writeNumber(v, f.version.offset, f.version, LAYOUT_VERSION);
  writeNumber(v, f.totalSize.offset, f.totalSize, layout.totalSize);
  writeNumber(v, f.workers.offset, f.workers, layout.workers);
  writeNumber(v, f.slots.offset, f.slots, layout.slots);
  writeNumber(v, f.mailboxSize.offset, f.mailboxSize, layout.mailboxSize);
  writeNumber(v, f.creatorPid.offset, f.creatorPid, Deno.pid);
  writeNumber(v, f.createdAt.offset, f.createdAt, Date.now());
  writeNumber(v, f.magic.offset, f.magic, MAGIC);
}

/** Reads the header's fields. */
export function readHeader(bytes: Uint8Array): SegmentHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f = HEADER.fields;
  return {
    version: readNumber(v, f.version.offset, f.version),
    totalSize: readNumber(v, f.totalSize.offset, f.totalSize),
    workers: readNumber(v, f.workers.offset, f.workers),
    creatorPid: readNumber(v, f.creatorPid.offset, f.creatorPid),
    createdAt: readNumber(v, f.createdAt.offset, f.createdAt),
    label: readText(bytes, f.label.offset, f.label),
  };
}

/**
 * Checks the header of segment `name` (its first bytes; the segment has `realSize` bytes): magic,
 * layout version, recorded size against the real size and against the layout, and the worker
 * count if `expectedWorkers` is given. Returns the layout; a mismatch throws a
 * {@link SegmentHeaderError} or a {@link SegmentSizeError}.
 */
export function validateHeader(
  name: string,
  bytes: Uint8Array,
  realSize: number,
  expectedWorkers?: number,
): SegmentLayout {
  if (realSize < HEADER.size || bytes.length < HEADER.size) {
    throw new SegmentSizeError(
      name,
      `${realSize} bytes, smaller than the ${HEADER.size}-byte header`,
    );
  }
  const h = new DataView(bytes.buffer, bytes.byteOffset, HEADER.size);
  const get = (f: Field) => readNumber(h, f.offset, f);
  const magic = get(HEADER.fields.magic);
  if (magic !== MAGIC) {
    throw new SegmentHeaderError(
      name,
      `magic is 0x${magic.toString(16).padStart(8, "0")}, not 0x${MAGIC.toString(16)} ("OSPS"): ` +
        `not an osps segment, or corrupted`,
    );
  }
  const version = get(HEADER.fields.version);
  if (version !== LAYOUT_VERSION) {
    throw new SegmentHeaderError(
      name,
      `layout version ${version}, this toolkit reads ${LAYOUT_VERSION}`,
    );
  }
  const totalSize = get(HEADER.fields.totalSize);
  if (totalSize !== realSize) {
    throw new SegmentSizeError(name, `header says ${totalSize} bytes, the segment has ${realSize}`);
  }
  let layout: SegmentLayout;
  try {
    layout = computeLayout(
      get(HEADER.fields.workers),
      get(HEADER.fields.mailboxSize) - MAILBOX_HEADER.size,
    );
  } catch (e) {
    throw new SegmentHeaderError(name, `impossible header values (${(e as Error).message})`);
  }
  if (layout.totalSize !== totalSize || get(HEADER.fields.slots) !== layout.slots) {
    throw new SegmentSizeError(
      name,
      `header fields describe ${layout.totalSize} bytes and ${layout.slots} slots, ` +
        `header records ${totalSize} bytes and ${get(HEADER.fields.slots)} slots`,
    );
  }
  if (expectedWorkers !== undefined && expectedWorkers !== layout.workers) {
    throw new SegmentSizeError(
      name,
      `laid out for ${layout.workers} workers, expected ${expectedWorkers}`,
    );
  }
  return layout;
}
