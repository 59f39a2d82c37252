/**
 * The frame format of the named pipes, as pure code: no I/O, so it is tested on its own.
 *
 * A frame is an 8-byte header and at most {@link MAX_FRAME_PAYLOAD} payload bytes, so a whole
 * frame is at most PIPE_BUF (4096) bytes and is written by one `write(2)`: the kernel never
 * interleaves it with another writer's frame. The header, little-endian u16s after the marker:
 *
 * | bytes | field                                                    |
 * | ----- | -------------------------------------------------------- |
 * | 0–1   | the marker `O` `P`                                       |
 * | 2–3   | payload length                                           |
 * | 4–5   | the length's complement: a wrong length is seen at once  |
 * | 6–7   | FNV-1a of the payload, folded to 16 bits                 |
 *
 * A reader pushes the bytes it reads into a {@link FrameDecoder} and takes whole frames out. Bytes
 * that are not a frame — no marker, a length and complement that disagree, a payload whose check
 * fails — are dropped up to the next marker and reported, so the frames behind them still arrive,
 * even when garbage looked like the start of a frame and its length swallowed them.
 *
 * @module
 */

import { fnv1a } from "./fnv1a.ts";

/** PIPE_BUF on Linux: writes up to this size are atomic. */
export const PIPE_BUF = 4096;
/** Size of a frame header. */
export const FRAME_HEADER = 8;
/** Largest payload a frame carries. */
export const MAX_FRAME_PAYLOAD = PIPE_BUF - FRAME_HEADER;
const MAGIC0 = 0x4f; // "O"
const MAGIC1 = 0x50; // "P"

const encoder = new TextEncoder();

/**
 * Encodes one frame into a new array; null if the payload is over {@link MAX_FRAME_PAYLOAD} bytes
 * (the caller says which pipe refused it).
 */
export function encodeFramePayload(payload: Uint8Array | string): Uint8Array<ArrayBuffer> | null {
  if (typeof payload === "string") {
    // A string of n UTF-16 units encodes to at most 3n bytes: encode in place when it surely fits.
    if (payload.length * 3 <= MAX_FRAME_PAYLOAD) {
      const frame = new Uint8Array(FRAME_HEADER + payload.length * 3);
      const { written } = encoder.encodeInto(payload, frame.subarray(FRAME_HEADER));
      setHeader(frame, written);
      return frame.subarray(0, FRAME_HEADER + written);
    }
    payload = encoder.encode(payload);
  }
  if (payload.length > MAX_FRAME_PAYLOAD) return null;
  const frame = new Uint8Array(FRAME_HEADER + payload.length);
  frame.set(payload, FRAME_HEADER);
  setHeader(frame, payload.length);
  return frame;
}

function setHeader(frame: Uint8Array, length: number): void {
  frame[0] = MAGIC0;
  frame[1] = MAGIC1;
  frame[2] = length & 0xff;
  frame[3] = length >> 8;
  const complement = ~length & 0xffff;
  frame[4] = complement & 0xff;
  frame[5] = complement >> 8;
  const check = payloadCheck(frame, FRAME_HEADER, FRAME_HEADER + length);
  frame[6] = check & 0xff;
  frame[7] = check >> 8;
}

/** FNV-1a (32 bits) of `bytes[from, to)`, folded to 16 bits. */
function payloadCheck(bytes: Uint8Array, from: number, to: number): number {
  const h = fnv1a(bytes, from, to);
  return ((h >>> 16) ^ h) & 0xffff;
}

/** Bytes dropped because they were not a frame, and why. */
export interface Garbage {
  /** How many bytes were dropped. */
  dropped: number;
  /** What was wrong with them. */
  detail: string;
}

/** What {@link FrameDecoder.take} found: a frame's payload, dropped garbage, or nothing yet. */
export type Taken = { frame: Uint8Array } | { garbage: Garbage } | null;

/**
 * Turns a byte stream into frames. `push` appends what was read; `take` returns the next whole
 * frame (a copy, safe to keep), or the garbage it dropped, or null until more bytes come.
 */
export class FrameDecoder {
  #buf = new Uint8Array(8192);
  #start = 0;
  #end = 0;

  /** Bytes held that do not make a whole frame yet. */
  get pending(): number {
    return this.#end - this.#start;
  }

  /** Appends bytes (copied: the caller may reuse its buffer). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end + bytes.length > this.#buf.length) {
      const held = this.#end - this.#start;
      if (held + bytes.length > this.#buf.length) {
        const grown = new Uint8Array(Math.max(2 * this.#buf.length, held + bytes.length));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /** The next frame, the garbage dropped in front of it, or null if no whole frame is held. */
  take(): Taken {
    const b = this.#buf, s = this.#start, n = this.#end - s;
    if (n === 0) return null;
    if (b[s] !== MAGIC0 || (n >= 2 && b[s + 1] !== MAGIC1)) return this.#resync("bad magic");
    if (n < 6) return null;
    const length = b[s + 2] | (b[s + 3] << 8);
    if ((b[s + 4] | (b[s + 5] << 8)) !== (~length & 0xffff)) {
      return this.#resync("a length that its complement contradicts");
    }
    if (length > MAX_FRAME_PAYLOAD) return this.#resync(`length ${length} over the frame limit`);
    if (n < FRAME_HEADER + length) return null;
    const from = s + FRAME_HEADER, to = from + length;
    if ((b[s + 6] | (b[s + 7] << 8)) !== payloadCheck(b, from, to)) {
      return this.#resync("a payload whose check fails");
    }
    this.#start = to;
    return { frame: b.slice(from, to) };
  }

  /**
   * At end of stream: drops a partial frame still held and says so (null if there was none). The
   * decoder is then empty, ready for the next writer's bytes.
   */
  end(): Garbage | null {
    const held = this.clear();
    return held === 0 ? null : { dropped: held, detail: "truncated frame at EOF" };
  }

  /** Drops everything held; returns the number of bytes dropped. */
  clear(): number {
    const held = this.#end - this.#start;
    this.#start = this.#end = 0;
    return held;
  }

  /**
   * Drops the unreadable bytes up to the next frame marker (`O` `P`) after the first byte, so that
   * a valid frame that came after garbage in the same read is not lost.
   */
  #resync(detail: string): { garbage: Garbage } {
    const b = this.#buf, end = this.#end;
    let next = this.#start + 1;
    while (next < end && !(b[next] === MAGIC0 && (next + 1 === end || b[next + 1] === MAGIC1))) {
      next++;
    }
    const dropped = next - this.#start;
    this.#start = next;
    return { garbage: { dropped, detail: `${detail} (${dropped} bytes dropped)` } };
  }
}
