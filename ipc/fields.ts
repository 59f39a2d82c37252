/**
 * Reading and writing one field of a segment record (`layout.ts`): little-endian numbers, and
 * NUL-padded UTF-8 texts rewritten so that a reader in another process never sees them empty.
 *
 * @module
 */

import type { Field } from "./layout.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the numeric field `f` of the record at `at`. */
export function readNumber(v: DataView, at: number, f: Field): number {
  switch (f.type) {
    case "u32":
      return v.getUint32(at, true);
    case "i32":
      return v.getInt32(at, true);
    case "f64":
      return v.getFloat64(at, true);
    case "text":
      throw new TypeError("text field read as a number");
  }
}

/** Writes the numeric field `f` of the record at `at`. */
export function writeNumber(v: DataView, at: number, f: Field, value: number): void {
  switch (f.type) {
    case "u32":
      return v.setUint32(at, value, true);
    case "i32":
      return v.setInt32(at, value, true);
    case "f64":
      return v.setFloat64(at, value, true);
    case "text":
      throw new TypeError("text field written as a number");
  }
}

/** Reads the text field `f` of the record at `at`, up to its first NUL. */
export function readText(bytes: Uint8Array, at: number, f: Field): string {
  const raw = bytes.subarray(at, at + f.bytes!);
  const end = raw.indexOf(0);
  return decoder.decode(raw.subarray(0, end < 0 ? raw.length : end));
}

/**
 * Writes a NUL-padded text field. The bytes are written over the old ones and only then is the
 * rest zeroed, and nothing is written when the field already holds the text: a reader in another
 * process never sees the field empty while it is rewritten. A text that does not fit (with its
 * NUL) is a RangeError naming `segment`.
 */
export function writeText(
  bytes: Uint8Array,
  at: number,
  f: Field,
  text: string,
  segment: string,
): void {
  const encoded = encoder.encode(text);
  if (encoded.length >= f.bytes!) {
    throw new RangeError(
      `${JSON.stringify(text)} is longer than ${f.bytes! - 1} bytes (segment ${segment})`,
    );
  }
  const field = bytes.subarray(at, at + f.bytes!);
  if (field[encoded.length] === 0 && encoded.every((b, i) => field[i] === b)) return;
  field.set(encoded);
  field.fill(0, encoded.length);
}
