/**
 * A raw TCP connection for the contract checks: it sends exactly the bytes it is given, reads
 * lines (LF-terminated, CR dropped, up to 64 KiB) with a bound on every wait, tells a close from
 * silence, and writes down every line that crossed it, so that a failed check shows what was sent
 * and what came back.
 *
 * @module
 */

import { closeQuietly, ignoreGone, sleep } from "../roles/mod.ts";

/** What came instead of a line: the peer closed (or reset), or nothing within the bound. */
export type NoLine = "closed" | "silent";

/** How a transcript shows bytes: printable, long ones cut, bytes that are not UTF-8 in hex. */
export function shownBytes(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    text = [...bytes].map((
      b,
    ) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`))
      .join("");
  }
  text = text.replaceAll("\r", "\\r").replaceAll("\n", "\\n");
  return text.length > 90 ? `${text.slice(0, 60)}… (${bytes.length} bytes)` : text;
}

/** One connection, and the transcript it shares with the other connections of its check. */
export class Wire {
  readonly #conn: Deno.Conn;
  readonly #label: string;
  readonly #log: string[];
  #pending = new Uint8Array(0);
  #closed = false;
  #reading: Promise<void> | null = null;

  private constructor(conn: Deno.Conn, label: string, log: string[]) {
    this.#conn = conn;
    this.#label = label;
    this.#log = log;
  }

  /** Connects to host:port (at most `timeoutMs`); `label` names the peer in the transcript. */
  static async open(
    host: string,
    port: number,
    label: string,
    log: string[],
    timeoutMs = 3000,
  ): Promise<Wire> {
    const conn = await Promise.race([
      Deno.connect({ hostname: host, port }),
      sleep(timeoutMs).then(() => {
        throw new Error(`connecting to ${host}:${port} took over ${timeoutMs} ms`);
      }),
    ]);
    return new Wire(conn, label, log);
  }

  /** Wraps a connection that was accepted (a worker calling back). */
  static accepted(conn: Deno.Conn, label: string, log: string[]): Wire {
    return new Wire(conn, label, log);
  }

  /** Sends `data` as it is (a string is UTF-8); false if the peer is gone. */
  async send(data: string | Uint8Array): Promise<boolean> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#log.push(`> ${this.#label}: ${shownBytes(bytes)}`);
    try {
      for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
      return true;
    } catch (e) {
      ignoreGone(e);
      return false;
    }
  }

  /** Sends `line` and its LF. */
  sendLine(line: string): Promise<boolean> {
    return this.send(`${line}\n`);
  }

  #fill(): Promise<void> {
    this.#reading ??= (async () => {
      const buf = new Uint8Array(65536);
      let n: number | null = null;
      try {
        n = await this.#conn.read(buf);
      } catch (e) {
        // Reset: closed, as far as a transcript is concerned.
        ignoreGone(e);
        n = null;
      }
      if (n === null) this.#closed = true;
      else {
        const joined = new Uint8Array(this.#pending.length + n);
        joined.set(this.#pending);
        joined.set(buf.subarray(0, n), this.#pending.length);
        this.#pending = joined;
      }
      this.#reading = null;
    })();
    return this.#reading;
  }

  /** The next line (without LF, CR dropped), or why none came within `timeoutMs`. */
  async line(timeoutMs = 5000): Promise<string | NoLine> {
    const until = performance.now() + timeoutMs;
    while (true) {
      const lf = this.#pending.indexOf(0x0a);
      if (lf >= 0) {
        const raw = this.#pending.subarray(
          0,
          lf > 0 && this.#pending[lf - 1] === 0x0d ? lf - 1 : lf,
        );
        this.#pending = this.#pending.slice(lf + 1);
        const text = new TextDecoder().decode(raw);
        this.#log.push(`< ${this.#label}: ${shownBytes(raw)}`);
        return text;
      }
      if (this.#closed || this.#pending.length > 65536) {
        if (this.#pending.length > 0) {
          this.#log.push(`< ${this.#label}: ${shownBytes(this.#pending)} (no LF)`);
          this.#pending = new Uint8Array(0);
        }
        this.#log.push(`< ${this.#label}: (closed)`);
        return "closed";
      }
      const left = until - performance.now();
      if (left <= 0) {
        this.#log.push(`< ${this.#label}: (nothing for ${timeoutMs} ms)`);
        return "silent";
      }
      await Promise.race([this.#fill(), sleep(left)]);
    }
  }

  /**
   * Waits (at most `timeoutMs`) for the peer to close; true if it did. Lines that come meanwhile
   * are written down.
   */
  async closes(timeoutMs = 2000): Promise<boolean> {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      const got = await this.line(until - performance.now());
      if (got === "closed") return true;
      if (got === "silent") return false;
    }
    return false;
  }

  /** Half-closes: shuts down this side's writing (the peer reads its end). */
  async closeWrite(): Promise<void> {
    this.#log.push(`> ${this.#label}: (half-close)`);
    await this.#conn.closeWrite().catch(ignoreGone);
  }

  /** Closes this side. */
  close(): void {
    closeQuietly(this.#conn);
  }
}
