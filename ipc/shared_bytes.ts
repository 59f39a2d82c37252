/**
 * A named POSIX shared memory segment of plain bytes (`shm_open`, `ftruncate`, `mmap`), what
 * Python's `multiprocessing.shared_memory.SharedMemory` is: for experiments and users' own
 * scripts. osps's own segment, with its header, registry and mailboxes, is `segment.ts`.
 *
 * @module
 */

import * as libc from "./libc.ts";

/** A mapping of a named segment's bytes, read-write; it outlives this process until unlinked. */
export class SharedBytes implements Disposable {
  /** The segment's name (`/name`: `/dev/shm/name`). */
  readonly name: string;
  /** Its bytes, shared with every process that maps it. */
  readonly bytes: Uint8Array;
  readonly #ptr: Deno.PointerObject;
  #open = true;

  private constructor(name: string, size: number, fd: number) {
    this.name = name;
    try {
      this.#ptr = libc.mmapShared(fd, size, name);
    } finally {
      // The mapping keeps the segment; the descriptor is not needed any more.
      libc.close(fd, name);
    }
    this.bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(this.#ptr, size));
  }

  /** Creates the segment `name` (`/name`) of `size` bytes, mode 0600; EEXIST if it exists. */
  static create(name: string, size: number): SharedBytes {
    const fd = libc.shmOpen(name, libc.O.RDWR | libc.O.CREAT | libc.O.EXCL | libc.O.CLOEXEC, 0o600);
    try {
      libc.ftruncate(fd, size, name);
    } catch (e) {
      libc.close(fd, name);
      throw e;
    }
    return new SharedBytes(name, size, fd);
  }

  /** Maps the existing segment `name`, all of it; ENOENT if there is none. */
  static open(name: string): SharedBytes {
    const fd = libc.shmOpen(name, libc.O.RDWR | libc.O.CLOEXEC, 0);
    let size: number;
    try {
      size = libc.fileSize(fd, name);
    } catch (e) {
      libc.close(fd, name);
      throw e;
    }
    return new SharedBytes(name, size, fd);
  }

  /** Removes the name `name` (shm_unlink): processes that map it keep their mapping. */
  static unlink(name: string): void {
    libc.shmUnlink(name);
  }

  /** Unmaps it (the segment stays until unlinked): `bytes` must not be touched after this. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    libc.munmap(this.#ptr, this.bytes.length, this.name);
  }

  /** See {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
