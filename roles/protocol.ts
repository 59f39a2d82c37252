/**
 * The wire contract v1 (`docs/protocol.md`): request lines, their validation, the two request
 * types' results, and reply lines. How a stage hands a request on (REDIRECT, WAIT, READY) is in
 * `stages.ts`; lines on TCP connections are read and written by `tcp.ts`.
 *
 * @module
 */

/** Longest line, terminator included. */
export const MAX_LINE = 4096;
/** Largest n of `requetetype2`. */
export const MAX_PRIME_N = 10_000_000;

/** The error codes of `ERR <code> [message]`. */
export const ERROR_CODES = [
  "unknown-request",
  "bad-argument",
  "line-too-long",
  "busy",
  "timeout",
  "unavailable",
  "shutting-down",
] as const;

/** One error code of `ERR <code> [message]`: {@link ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];
/** The reply to a line over {@link MAX_LINE} bytes, from the dispatcher and the workers alike. */
export const LINE_TOO_LONG =
  `ERR line-too-long a line is at most ${MAX_LINE} bytes with its terminator`;

/** A validated request: its type and payload, and the line as received (without terminator). */
export interface Request {
  /** The request type. */
  type: "requetetype1" | "requetetype2";
  /** Text after the first space (empty if none). */
  payload: string;
  /** The whole line. */
  line: string;
}

/** What a line from a client means. */
export type Parsed =
  | { kind: "request"; request: Request }
  | { kind: "quit" }
  | { kind: "listen"; port: number }
  | { kind: "error"; code: ErrorCode; message: string };

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a line's bytes (without terminator) as UTF-8, or null if it is not valid UTF-8. */
export function decodeLine(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return null;
  }
}

/** Parses and validates one request line (already decoded, without terminator). */
export function parseLine(line: string): Parsed {
  if (line === "QUIT") return { kind: "quit" };
  const space = line.indexOf(" ");
  const type = space < 0 ? line : line.slice(0, space);
  const payload = space < 0 ? "" : line.slice(space + 1);
  switch (type) {
    case "requetetype1":
      return { kind: "request", request: { type, payload, line } };
    case "requetetype2":
      if (!/^\d{1,20}$/.test(payload) || Number(payload) > MAX_PRIME_N) {
        return {
          kind: "error",
          code: "bad-argument",
          message: `requetetype2 takes n, decimal digits only, 0 <= n <= ${MAX_PRIME_N}`,
        };
      }
      return { kind: "request", request: { type, payload, line } };
    case "LISTEN": {
      if (!/^\d{1,5}$/.test(payload) || Number(payload) < 1 || Number(payload) > 65535) {
        return {
          kind: "error",
          code: "bad-argument",
          message: "LISTEN takes a TCP port, 1 to 65535",
        };
      }
      return { kind: "listen", port: Number(payload) };
    }
    case "":
      return {
        kind: "error",
        code: "unknown-request",
        message: line === ""
          ? "empty request"
          : "a request starts with its type, with no space before it " +
            "(requetetype1 <text>, requetetype2 <n>, QUIT)",
      };
    default:
      return {
        kind: "error",
        code: "unknown-request",
        message: `unknown request type ${
          JSON.stringify(type.slice(0, 40))
        }; known: requetetype1, requetetype2, QUIT`,
      };
  }
}

/** composite[i] is 1 for every i that is not prime, up to the largest n asked so far. */
let composite = new Uint8Array(0);
/** blockCounts[b] is the number of primes below 64·b: a count is one lookup and ≤ 63 steps. */
let blockCounts = new Int32Array(0);

/**
 * The number of primes <= n, for 0 <= n <= {@link MAX_PRIME_N}. The sieve and its running counts
 * are kept and grown only when a larger n comes, so a request costs a lookup, not a sieve.
 */
export function countPrimes(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_PRIME_N) {
    throw new RangeError(`n out of range: ${n}`);
  }
  if (n >= composite.length) grow(Math.min(MAX_PRIME_N, Math.max(n, 2 * composite.length)) + 1);
  let count = blockCounts[n >> 6];
  for (let i = n & ~63; i <= n; i++) count += 1 - composite[i];
  return count;
}

function grow(size: number): void {
  const sieve = new Uint8Array(size);
  sieve[0] = 1;
  if (size > 1) sieve[1] = 1;
  for (let i = 2; i * i < size; i++) {
    if (sieve[i] === 0) { for (let j = i * i; j < size; j += i) sieve[j] = 1; }
  }
  const counts = new Int32Array((size >> 6) + 1);
  let running = 0;
  for (let i = 0; i < size; i++) {
    if ((i & 63) === 0) counts[i >> 6] = running;
    running += 1 - sieve[i];
  }
  composite = sieve;
  blockCounts = counts;
}

/** The result of a valid request: the echo, or the prime count. */
export function compute(request: Request): string {
  return request.type === "requetetype1"
    ? request.payload
    : String(countPrimes(Number(request.payload)));
}

/** `OK <result>`, or `OK` alone for an empty result. */
export function okLine(result: string): string {
  return result === "" ? "OK" : `OK ${result}`;
}

/**
 * `ERR <code> <message>`. The servers write only the specified codes ({@link ErrorCode}); a client
 * may write again a code it received, or one it concluded itself (`protocol`).
 */
export function errLine(code: ErrorCode | string, message: string): string {
  return message === "" ? `ERR ${code}` : `ERR ${code} ${message}`;
}

/** A reply line as read: the result, or the error's code and message; null if it is neither. */
export type Reply = { ok: true; result: string } | { ok: false; code: string; message: string };

/** Reads an `OK [result]` or `ERR <code> [message]` line; null for any other line. */
export function parseReply(line: string): Reply | null {
  if (line === "OK") return { ok: true, result: "" };
  if (line.startsWith("OK ")) return { ok: true, result: line.slice(3) };
  const m = /^ERR (\S+) ?(.*)$/s.exec(line);
  return m ? { ok: false, code: m[1], message: m[2] } : null;
}
