/**
 * The workers' mailboxes in the shared segment: one per worker, a header (request id, length,
 * checksum, timestamp) and a bounded payload area. The dispatcher writes a request there before it
 * orders the worker on its pipe; in the relay stage the worker writes the reply back there.
 *
 * @module
 */

import { readNumber, writeNumber } from "./fields.ts";
import { type Field, MAILBOX_HEADER, type MailboxField } from "./layout.ts";
import * as libc from "./libc.ts";
import { MailboxCorruptError, MailboxOverflowError } from "./segment_errors.ts";
import type { SharedSegment } from "./segment.ts";
import { fnv1a, FNV1A_BASIS, fnv1aWord } from "./fnv1a.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * This process's copy of one mailbox's payload, as it is written or read: reads and writes are
 * synchronous and one at a time, so one buffer serves them all. It grows for a larger mailbox.
 */
let scratch = new Uint8Array(8192);

/** {@link scratch}, at least `n` bytes long. */
function scratchOf(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(n);
  return scratch;
}

/** What a mailbox holds: a sequence number, a timestamp and the payload. */
export interface MailboxContent {
  /** Sequence number written with the payload (the request id). */
  seq: number;
  /** When the payload was written: CLOCK_MONOTONIC ms (`monotonicMs`), unless the writer said. */
  timestamp: number;
  /** A copy of the payload bytes. */
  payload: Uint8Array;
}

/**
 * FNV-1a (32 bits) of a mailbox's seq and payload: catches garbage and torn writes from another
 * process. It is no signature: a writer that means harm can compute it too.
 */
export function mailboxChecksum(seq: number, payload: Uint8Array): number {
  // The bytes of seq (its low then high 32 bits), of the length, then the payload, little-endian.
  let h = fnv1aWord(FNV1A_BASIS, seq >>> 0);
  h = fnv1aWord(h, Math.floor(seq / 2 ** 32) >>> 0);
  h = fnv1aWord(h, payload.length);
  return fnv1a(payload, 0, payload.length, h) >>> 0;
}

/** A worker's mailbox: a header (seq, length, timestamp) and a bounded payload area. */
export class Mailbox {
  #seg: SharedSegment;
  #base: number;
  /** The worker number (1-based). */
  readonly index: number;
  /** Payload bytes this mailbox holds. */
  readonly capacity: number;

  /** @internal Use {@link SharedSegment.mailbox}. */
  constructor(seg: SharedSegment, index: number, base: number) {
    this.#seg = seg;
    this.index = index;
    this.#base = base;
    this.capacity = seg.layout.mailboxPayload;
  }

  #field(name: MailboxField): Field {
    return MAILBOX_HEADER.fields[name];
  }

  /**
   * Writes a payload with its sequence number and timestamp. A payload over {@link capacity} throws
   * {@link MailboxOverflowError} before any byte is written.
   */
  write(payload: Uint8Array | string, meta: { seq: number; timestamp?: number }): void {
    if (!Number.isSafeInteger(meta.seq) || meta.seq < 0) {
      throw new RangeError(`a mailbox seq is a whole number from 0 to 2^53 - 1, not ${meta.seq}`);
    }
    const { view, bytes } = this.#seg.access(true);
    const start = this.#base + MAILBOX_HEADER.size;
    // Encoded and checksummed in this process's memory, then copied in: another process writing
    // into the mapping meanwhile cannot make the checksum describe its garbage.
    let data: Uint8Array;
    if (typeof payload === "string" && payload.length * 3 <= this.capacity) {
      // Surely fits (3 bytes at most per UTF-16 unit): no second pass to measure it.
      const buffer = scratchOf(this.capacity);
      data = buffer.subarray(0, encoder.encodeInto(payload, buffer).written);
    } else {
      data = typeof payload === "string" ? encoder.encode(payload) : payload;
    }
    if (data.length > this.capacity) {
      throw new MailboxOverflowError(this.#seg.name, this.index, data.length, this.capacity);
    }
    const checksum = mailboxChecksum(meta.seq, data);
    bytes.set(data, start);
    const seq = this.#field("seq"), length = this.#field("length"), ts = this.#field("timestamp");
    writeNumber(view, this.#base + length.offset, length, data.length);
    writeNumber(
      view,
      this.#base + ts.offset,
      ts,
      meta.timestamp ?? libc.monotonicMs(),
    );
    writeNumber(view, this.#base + seq.offset, seq, meta.seq);
    const sum = this.#field("checksum");
    writeNumber(view, this.#base + sum.offset, sum, checksum);
  }

  /**
   * Reads the mailbox. A recorded length beyond the capacity, or a checksum that does not match
   * the seq and payload (garbage written by another process), throws {@link MailboxCorruptError}.
   * A mailbox never written reads as seq 0 and an empty payload.
   */
  read(): MailboxContent {
    const { seq, timestamp, payload } = this.#checked();
    return { seq, timestamp, payload: payload.slice() };
  }

  /** Reads the mailbox with its payload decoded as UTF-8 (checked as {@link read} does). */
  readText(): Omit<MailboxContent, "payload"> & { text: string } {
    const { seq, timestamp, payload } = this.#checked();
    return { seq, timestamp, text: decoder.decode(payload) };
  }

  /**
   * The mailbox's content, checked: the header's fields and the payload are copied out of the
   * mapping first, and the copy is what is checked and returned (a view of this process's scratch
   * buffer, good until the next read): bytes another process writes into the mapping meanwhile
   * can make the check fail, never change what passed it.
   */
  #checked(): MailboxContent {
    const { view, bytes } = this.#seg.access();
    const seq = this.#field("seq"), length = this.#field("length"), ts = this.#field("timestamp");
    const n = readNumber(view, this.#base + length.offset, length);
    if (n > this.capacity) {
      throw new MailboxCorruptError(
        this.#seg.name,
        this.index,
        `length ${n} > capacity ${this.capacity}`,
      );
    }
    const start = this.#base + MAILBOX_HEADER.size;
    const copy = scratchOf(n).subarray(0, n);
    copy.set(bytes.subarray(start, start + n));
    const content = {
      seq: readNumber(view, this.#base + seq.offset, seq),
      timestamp: readNumber(view, this.#base + ts.offset, ts),
      payload: copy,
    };
    const sum = this.#field("checksum");
    const recorded = readNumber(view, this.#base + sum.offset, sum);
    const neverWritten = content.seq === 0 && n === 0 && recorded === 0;
    if (!neverWritten && recorded !== mailboxChecksum(content.seq, content.payload)) {
      throw new MailboxCorruptError(
        this.#seg.name,
        this.index,
        "checksum mismatch (written by someone else?)",
      );
    }
    return content;
  }
}
