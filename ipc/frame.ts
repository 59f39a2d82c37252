/**
 * The frame format of the named pipes, as pure code: no I/O, so it is tested on its own.
 *
 * A frame is a 4-byte header (`O` `P`, then the payload length as u16 little-endian) and at most
 * {@link MAX_FRAME_PAYLOAD} payload bytes, so a whole frame is at most PIPE_BUF (4096) bytes and is
 * written by one `write(2)`: the kernel never interleaves it with another writer's frame.
 *
 * A reader pushes the bytes it reads into a {@link FrameDecoder} and takes whole frames out; bytes
 * that are not a frame are dropped up to the next frame marker and reported, so the frames behind
 * them still arrive.
 *
 * @module
 */

/** PIPE_BUF on Linux: writes up to this size are atomic. */
export const PIPE_BUF = 4096;
/** Size of a frame header. */
export const FRAME_HEADER = 4;
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
  setHeader(frame, payload.length);
  frame.set(payload, FRAME_HEADER);
  return frame;
}

function setHeader(frame: Uint8Array, length: number): void {
  frame[0] = MAGIC0;
  frame[1] = MAGIC1;
  frame[2] = length & 0xff;
  frame[3] = length >> 8;
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
    if (n < FRAME_HEADER) return null;
    const length = b[s + 2] | (b[s + 3] << 8);
    if (length > MAX_FRAME_PAYLOAD) return this.#resync(`length ${length} over the frame limit`);
    if (n < FRAME_HEADER + length) return null;
    this.#start = s + FRAME_HEADER + length;
    return { frame: b.slice(s + FRAME_HEADER, s + FRAME_HEADER + length) };
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
