/**
 * FNV-1a, 32 bits: the checksum of the pipes' frames and of the segment's mailboxes. It catches
 * garbage and torn writes; it is no signature (a writer that means harm can compute it too).
 *
 * @module
 */

/** The FNV-1a offset basis: the hash of nothing. */
export const FNV1A_BASIS = 0x811c9dc5 | 0;

const PRIME = 0x01000193;

/** `h` (the hash so far, {@link FNV1A_BASIS} to start) continued over `bytes[from, to)`. */
export function fnv1a(bytes: Uint8Array, from = 0, to = bytes.length, h = FNV1A_BASIS): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], PRIME);
  return h;
}

/** `h` continued over the four bytes of the 32-bit `word`, little-endian. */
export function fnv1aWord(h: number, word: number): number {
  for (let i = 0; i < 32; i += 8) h = Math.imul(h ^ ((word >>> i) & 0xff), PRIME);
  return h;
}
