/**
 * The dispatcher's TCP side on a listening socket it inherited (`ipc/listen_socket.ts`): Deno's
 * own listeners cannot take a descriptor, so it accepts through libc (`Acceptor`), and each
 * connection's descriptor becomes a `node:net` socket, seen through {@link SocketConn} as the few
 * calls of a `Deno.Conn` the line code uses ({@link LineConn}), so that one reader, one writer
 * and one graceful close serve both kinds.
 *
 * @module
 */

import { Socket } from "node:net";
import { Acceptor } from "../ipc/mod.ts";

/** What the line code needs of a TCP connection: a `Deno.Conn` has it, so has {@link SocketConn}. */
export interface LineConn {
  /** Reads into `p`; the byte count, or null at the peer's end (or a reset). */
  read(p: Uint8Array<ArrayBuffer>): Promise<number | null>;
  /** Writes `p` (or its start); the byte count written. */
  write(p: Uint8Array): Promise<number>;
  /** Shuts the write side down (FIN); reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes the connection. */
  close(): void;
  /** The peer's address. */
  readonly remoteAddr: Deno.Addr;
  /** This machine's address the peer reached. */
  readonly localAddr: Deno.Addr;
}

/** Past this many bytes received and not read yet, the socket stops reading until they are. */
const HIGH_WATER = 64 * 1024;

/** A `node:net` socket as a {@link LineConn}. */
export class SocketConn implements LineConn {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #wake: (() => void) | null = null;

  /** Wraps `socket`, which it reads from now on. */
  constructor(readonly socket: Socket) {
    this.remoteAddr = address(socket.remoteAddress, socket.remotePort);
    this.localAddr = address(socket.localAddress, socket.localPort);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > HIGH_WATER) socket.pause();
      this.#woken();
    });
    // The peer's FIN; a reset or any socket error reads as the end too, as Deno's reads do.
    const ended = () => {
      this.#ended = true;
      this.#woken();
    };
    socket.on("end", ended);
    socket.on("close", ended);
    socket.on("error", ended);
  }

  #woken(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** See {@link LineConn.read}. */
  async read(p: Uint8Array<ArrayBuffer>): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, p.length - n);
      p.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#queued -= n;
    if (this.socket.isPaused() && this.#queued <= HIGH_WATER / 2) this.socket.resume();
    return n;
  }

  /** See {@link LineConn.write}: done once the socket took it (it waits only when it is full). */
  write(p: Uint8Array): Promise<number> {
    if (this.socket.destroyed || !this.socket.writable) {
      return Promise.reject(new Deno.errors.BrokenPipe("the connection is closed"));
    }
    if (this.socket.write(p)) return Promise.resolve(p.length);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.socket.off("drain", done).off("close", done);
        if (this.socket.destroyed) reject(new Deno.errors.BrokenPipe("the connection closed"));
        else resolve(p.length);
      };
      this.socket.on("drain", done).on("close", done);
    });
  }

  /** See {@link LineConn.closeWrite}. */
  closeWrite(): Promise<void> {
    this.socket.end();
    return Promise.resolve();
  }

  /** See {@link LineConn.close}. */
  close(): void {
    this.socket.destroy();
  }
}

function address(hostname: string | undefined, port: number | undefined): Deno.NetAddr {
  return { transport: "tcp", hostname: hostname ?? "", port: port ?? 0 };
}

/**
 * Accepts on the listening socket `fd` (inherited; `ipc/listen_socket.ts`), each connection handed
 * to `connection` as a {@link SocketConn}; `pause` hears when accepting pauses (out of
 * descriptors). Half-open connections stay writable: a client's FIN after its last line still gets
 * the reply.
 */
export function serveInherited(
  fd: number,
  connection: (conn: SocketConn) => void,
  pause: (message: string) => void,
): Acceptor {
  return new Acceptor(fd, {
    connection: (conn) => {
      const socket = new Socket({ fd: conn, readable: true, writable: true, allowHalfOpen: true });
      socket.setNoDelay(true);
      connection(new SocketConn(socket));
    },
    pause,
  });
}
