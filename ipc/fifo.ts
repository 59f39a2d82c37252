/**
 * Named pipes (FIFOs) carrying framed messages (`frame.ts`): one frame per `write(2)`, never torn.
 * This module creates them and names what can go wrong; `fifo_writer.ts` sends, `fifo_reader.ts`
 * receives, `fifo_watch.ts` is how a reader waits.
 *
 * @module
 */

import * as libc from "./libc.ts";
import { encodeFramePayload, MAX_FRAME_PAYLOAD } from "./frame.ts";

export { FRAME_HEADER, MAX_FRAME_PAYLOAD, PIPE_BUF } from "./frame.ts";

/** Base class of the errors about one named pipe; `path` names it. */
export class FifoError extends Error {
  /** The FIFO's path. */
  readonly path: string;
  /** An error about the FIFO at `path`, saying `message`. */
  constructor(path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FifoError";
    this.path = path;
  }
}

/** A payload too large for one frame; nothing was written. */
export class FrameTooLargeError extends FifoError {
  /** A payload of `length` bytes refused by the FIFO at `path`. */
  constructor(path: string, length: number) {
    super(
      path,
      `message of ${length} bytes exceeds the ${MAX_FRAME_PAYLOAD}-byte frame limit of ${path}; ` +
        `nothing was written`,
    );
    this.name = "FrameTooLargeError";
  }
}

/** Bytes on the pipe that are not a valid frame (foreign writer or garbage); they were dropped up to the next frame. */
export class FrameError extends FifoError {
  /** Bad bytes on the FIFO at `path`, `detail` saying what was wrong. */
  constructor(path: string, detail: string) {
    super(path, `bad frame on ${path}: ${detail}; the unreadable bytes were dropped`);
    this.name = "FrameError";
  }
}

/** Writing to a FIFO whose readers are all gone (EPIPE). */
export class BrokenPipeError extends FifoError {
  /** A write to `path` failed with EPIPE (`cause`). */
  constructor(path: string, cause: unknown) {
    super(path, `no reader on ${path} any more (EPIPE): the other end has gone`, { cause });
    this.name = "BrokenPipeError";
  }
}

/** Opening a FIFO for writing without waiting, while no reader has it open (ENXIO). */
export class NoReaderError extends FifoError {
  /** An open of `path` for writing failed with ENXIO (`cause`). */
  constructor(path: string, cause: unknown) {
    super(path, `no reader has ${path} open yet (ENXIO)`, { cause });
    this.name = "NoReaderError";
  }
}

/** The pipe is full (the reader is slow or frozen): the frame was not written (EAGAIN). */
export class PipeFullError extends FifoError {
  /** A write to `path` failed with EAGAIN (`cause`). */
  constructor(path: string, cause: unknown) {
    super(
      path,
      `${path} is full: its reader is not reading (EAGAIN); the message was not written`,
      {
        cause,
      },
    );
    this.name = "PipeFullError";
  }
}

/** The path exists but is not a named pipe. */
export class NotAFifoError extends FifoError {
  /** `path` exists but is no FIFO. */
  constructor(path: string) {
    super(path, `${path} is not a named pipe`);
    this.name = "NotAFifoError";
  }
}

const encoder = new TextEncoder();

/**
 * Creates a named pipe with mode 0600 exactly, whatever the process's umask (mkfifo under a mask
 * of 077; no chmod by path after it). Fails with EEXIST if the path exists.
 */
export function makeFifo(path: string): void {
  libc.withUmask(0o077, () => libc.mkfifo(path, 0o600));
}

/**
 * The descriptor `fd` just opened at `path`, if it is a named pipe; else it is closed and a
 * {@link NotAFifoError} thrown. The check is on what was opened, not on the path before the open:
 * the path may name another file by then.
 */
function checkedFifo(fd: number, path: string): number {
  if ((libc.ownerOfFd(fd, path).mode & 0o170000) === libc.S_IFIFO) return fd;
  libc.close(fd, path);
  throw new NotAFifoError(path);
}

/** open(2) flags for a pipe: no symbolic link followed, close-on-exec. */
const FIFO_FLAGS = libc.O.NOFOLLOW | libc.O.CLOEXEC;

/** The open of `path` failed as it does for a symbolic link (O_NOFOLLOW) or a directory. */
function notAFifo(e: unknown): boolean {
  return e instanceof libc.SysCallError && (e.code === "ELOOP" || e.code === "EISDIR");
}

/**
 * Opens the named pipe `path` with `flags` (a symbolic link is not followed) and checks the
 * descriptor is a pipe's: {@link NotAFifoError} otherwise.
 */
export function openFifo(path: string, flags: number): number {
  let fd: number;
  try {
    fd = libc.open(path, flags | FIFO_FLAGS);
  } catch (e) {
    if (notAFifo(e)) throw new NotAFifoError(path);
    throw e;
  }
  return checkedFifo(fd, path);
}

/** {@link openFifo}, waiting (on Deno's blocking pool) for the pipe's other end. */
export async function openFifoWaiting(path: string, flags: number): Promise<number> {
  let fd: number;
  try {
    fd = await libc.openWaiting(path, flags | FIFO_FLAGS);
  } catch (e) {
    if (notAFifo(e)) throw new NotAFifoError(path);
    throw e;
  }
  return checkedFifo(fd, path);
}

/** The two sizes of a named pipe, in bytes, that students mix up. */
export interface PipeSizes {
  /** PIPE_BUF: the largest write that is atomic (never interleaved with another writer's). */
  atomic: number;
  /** What the pipe holds before a writer blocks (F_GETPIPE_SZ). */
  capacity: number;
}

/** The PIPE_BUF and the capacity of the named pipe `path` (opened without waiting, then closed). */
export function pipeSizes(path: string): PipeSizes {
  const fd = openFifo(path, libc.O.RDONLY | libc.O.NONBLOCK);
  try {
    return { atomic: libc.pipeAtomicSize(fd, path), capacity: libc.pipeCapacity(fd, path) };
  } finally {
    libc.close(fd, path);
  }
}

/** Encodes one frame; throws {@link FrameTooLargeError} for an oversized payload. */
export function encodeFrame(path: string, payload: Uint8Array | string): Uint8Array<ArrayBuffer> {
  const frame = encodeFramePayload(payload);
  if (frame === null) {
    const length = typeof payload === "string" ? encoder.encode(payload).length : payload.length;
    throw new FrameTooLargeError(path, length);
  }
  return frame;
}
