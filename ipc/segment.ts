/**
 * A POSIX shared memory segment (`shm_open` + `mmap`) laid out as in `layout.ts`: header, role
 * slots (`slots.ts`), worker mailboxes (`mailboxes.ts`). Created 0600 with O_EXCL, so an existing
 * segment is never overwritten; opened only when its header matches (`segment_header.ts`), so a
 * foreign or corrupted segment is refused.
 *
 * @example
 * ```ts
 * import { SharedSegment } from "./mod.ts";
 * using seg = SharedSegment.create("/osps-demo", { workers: 2 });
 * seg.mailbox(1).write("hello", { seq: 1 });
 * SharedSegment.unlink("/osps-demo");
 * ```
 *
 * @module
 */

import * as libc from "./libc.ts";
import {
  computeLayout,
  HEADER,
  type RegistryRole,
  registryRoles,
  ROLE_SLOT,
  ROLE_STATE,
  type SegmentLayout,
} from "./layout.ts";
import { Mailbox } from "./mailboxes.ts";
import {
  SegmentError,
  SegmentExistsError,
  SegmentForeignError,
  SegmentNotFoundError,
  SegmentSpaceError,
} from "./segment_errors.ts";
import { readHeader, type SegmentHeader, validateHeader, writeHeader } from "./segment_header.ts";
import { RoleSlot } from "./slots.ts";

/** Options for {@link SharedSegment.create}. */
export interface CreateOptions {
  /** Number of workers, so of mailboxes (1–64). */
  workers: number;
  /** Payload bytes per mailbox (rounded up to the layout's alignment). */
  mailboxPayload?: number;
  /** A short text recorded in the header (at most 23 bytes), e.g. the system's stage. */
  label?: string;
}

/** What {@link SharedSegment.open} expects of the segment's header, and how to map it. */
export interface OpenExpectations {
  /** The worker count the caller was configured for. */
  workers?: number;
  /** Map it read-only (PROT_READ): every write through this mapping is then an error. */
  readOnly?: boolean;
}

/** The segment names this toolkit accepts: `/` then 1–200 of [A-Za-z0-9._-]. */
const NAME_PATTERN = /^\/[A-Za-z0-9._-]{1,200}$/;

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new TypeError(
      `bad shared segment name ${
        JSON.stringify(name)
      }: expected "/" then 1-200 of A-Z a-z 0-9 . _ -`,
    );
  }
}

/** An open, mapped shared segment. Close it (or `using` it) when done; unlink it to remove it. */
export class SharedSegment implements Disposable {
  /** The segment's POSIX name. */
  readonly name: string;
  /** Where each part lies. */
  readonly layout: SegmentLayout;
  /** Whether this mapping is read-only. */
  readonly readOnly: boolean;
  #fd: number;
  #ptr: Deno.PointerObject;
  #view: DataView | null;
  #bytes: Uint8Array;
  /** The header as this process wrote it, when it created the segment (see {@link repairHeader}). */
  #header: Uint8Array | null = null;

  private constructor(
    name: string,
    layout: SegmentLayout,
    fd: number,
    ptr: Deno.PointerObject,
    readOnly = false,
  ) {
    this.name = name;
    this.layout = layout;
    this.readOnly = readOnly;
    this.#fd = fd;
    this.#ptr = ptr;
    const buffer = Deno.UnsafePointerView.getArrayBuffer(ptr, layout.totalSize);
    this.#view = new DataView(buffer);
    this.#bytes = new Uint8Array(buffer);
  }

  /**
   * Creates a new segment (O_CREAT|O_EXCL, mode 0600), sizes it and writes its header. Throws
   * {@link SegmentExistsError} if the name is taken; the existing segment is not touched.
   */
  static create(name: string, options: CreateOptions): SharedSegment {
    checkName(name);
    const layout = computeLayout(options.workers, options.mailboxPayload);
    let fd: number;
    try {
      fd = libc.shmOpen(name, libc.O.RDWR | libc.O.CREAT | libc.O.EXCL | libc.O.CLOEXEC, 0o600);
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.EEXIST) {
        throw new SegmentExistsError(name, e);
      }
      throw e;
    }
    let seg: SharedSegment | null = null;
    try {
      libc.ftruncate(fd, layout.totalSize, name);
      // Every page reserved now: a /dev/shm too small or full fails here, not later with SIGBUS.
      try {
        libc.fallocate(fd, layout.totalSize, name);
      } catch (e) {
        if (e instanceof libc.SysCallError && e.code === "ENOSPC") {
          throw new SegmentSpaceError(name, layout.totalSize, e);
        }
        throw e;
      }
      seg = new SharedSegment(name, layout, fd, libc.mmapShared(fd, layout.totalSize, name));
      writeHeader(seg.#bytes, layout, options.label ?? "", name);
      seg.#header = seg.#bytes.slice(0, HEADER.size);
      return seg;
    } catch (e) {
      // Mapped already: unmapped with its descriptor; else the descriptor alone.
      if (seg !== null) seg.close();
      else libc.close(fd, name);
      libc.shmUnlink(name);
      throw e;
    }
  }

  /**
   * Opens an existing segment after checking, on the descriptor it opened (no window between the
   * check and the use), that it is this user's with mode 0600 ({@link SegmentForeignError}
   * otherwise: /dev/shm is every user's, and anyone may plant an object at a name), then its
   * header: magic, layout version, recorded size against the real size and against the layout,
   * and `expected` if given. A mismatch throws a `SegmentHeaderError` or `SegmentSizeError`;
   * {@link SegmentNotFoundError} if absent.
   */
  static open(name: string, expected: OpenExpectations = {}): SharedSegment {
    checkName(name);
    let fd: number;
    try {
      fd = libc.shmOpen(
        name,
        (expected.readOnly ? libc.O.RDONLY : libc.O.RDWR) | libc.O.CLOEXEC,
        0,
      );
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENOENT) {
        throw new SegmentNotFoundError(name, e);
      }
      throw e;
    }
    try {
      const { uid, mode } = libc.ownerOfFd(fd, name);
      if (uid !== libc.getuid() || (mode & 0o777) !== 0o600) {
        throw new SegmentForeignError(name, uid, mode & 0o777);
      }
      const layout = SharedSegment.#validate(name, fd, expected);
      const writable = !expected.readOnly;
      const ptr = libc.mmapShared(fd, layout.totalSize, name, writable);
      return new SharedSegment(name, layout, fd, ptr, !writable);
    } catch (e) {
      libc.close(fd, name);
      throw e;
    }
  }

  /** Removes a segment's name (shm_unlink); mappings still open stay valid until closed. */
  static unlink(name: string): void {
    checkName(name);
    try {
      libc.shmUnlink(name);
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENOENT) {
        throw new SegmentNotFoundError(name, e);
      }
      throw e;
    }
  }

  /**
   * The names of the segments that exist now whose name starts with `prefix` (`/osps-t123-`):
   * what /dev/shm holds, read through libc (Deno's own API wants --allow-all for it).
   */
  static list(prefix = "/"): string[] {
    return libc.listDirectory("/dev/shm").map((n) => `/${n}`).filter((n) => n.startsWith(prefix))
      .sort();
  }

  /** Whether a segment of that name exists (it may still be foreign or corrupt). */
  static exists(name: string): boolean {
    checkName(name);
    try {
      libc.close(libc.shmOpen(name, libc.O.RDONLY | libc.O.CLOEXEC, 0), name);
      return true;
    } catch (e) {
      if (e instanceof libc.SysCallError && e.errno === libc.Errno.ENOENT) return false;
      throw e;
    }
  }
  /** Reads and checks the header of the segment behind `fd` without writing anything. */
  static #validate(name: string, fd: number, expected: OpenExpectations): SegmentLayout {
    const realSize = libc.fileSize(fd, name);
    const header = new Uint8Array(HEADER.size);
    if (realSize >= HEADER.size) {
      const ptr = libc.mmapShared(fd, HEADER.size, name, false);
      try {
        header.set(new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, HEADER.size)));
      } finally {
        libc.munmap(ptr, HEADER.size, name);
      }
    }
    return validateHeader(name, header, realSize, expected.workers);
  }

  #dv(): DataView {
    if (this.#view === null) {
      throw new SegmentError(this.name, `shared segment ${this.name} is closed`);
    }
    return this.#view;
  }
  /** The segment's header. */
  header(): SegmentHeader {
    this.#dv();
    return readHeader(this.#bytes);
  }

  /**
   * For the segment's creator: writes its header again if anything changed it (bytes written into
   * the segment by another process), so that the roles that open it next are not refused; returns
   * whether it did. The magic is written last, as at creation. A mapping that did not create the
   * segment has no header of its own to restore: false.
   */
  repairHeader(): boolean {
    const { bytes } = this.access(true);
    const own = this.#header;
    if (own === null) return false;
    const now = bytes.subarray(0, HEADER.size);
    if (now.every((b, i) => b === own[i])) return false;
    now.set(own.subarray(4), 4);
    now.set(own.subarray(0, 4), 0);
    return true;
  }

  /** The role slot at `index` (see `WATCHDOG_SLOT`, `DISPATCHER_SLOT`, `workerSlot(k)`). */
  slot(index: number): RoleSlot {
    if (!Number.isInteger(index) || index < 0 || index >= this.layout.slots) {
      throw new RangeError(`slot ${index} is outside 0..${this.layout.slots - 1} of ${this.name}`);
    }
    return new RoleSlot(this, this.layout.slotsOffset + index * ROLE_SLOT.size);
  }

  /**
   * The registry's roles this instance uses: the watchdog, the dispatcher, and the worker slots
   * that are not empty, or were used (the segment has room for the most workers the instance may
   * be scaled to).
   */
  rolesInUse(): RegistryRole[] {
    return registryRoles(this.layout.workers).filter((role) => {
      if (role.kind !== "worker") return true;
      const slot = this.slot(role.slot);
      return slot.get("state") !== ROLE_STATE.empty || slot.get("pid") !== 0;
    });
  }

  /** The mailbox of worker `k` (1-based). */
  mailbox(k: number): Mailbox {
    if (!Number.isInteger(k) || k < 1 || k > this.layout.workers) {
      throw new RangeError(`mailbox ${k} is outside 1..${this.layout.workers} of ${this.name}`);
    }
    return new Mailbox(this, k, this.layout.mailboxesOffset + (k - 1) * this.layout.mailboxSize);
  }

  /** @internal Bounds-checked access for slots and mailboxes; `write` refuses a read-only mapping. */
  access(write = false): { view: DataView; bytes: Uint8Array } {
    const view = this.#dv();
    if (write && this.readOnly) {
      throw new SegmentError(this.name, `shared segment ${this.name} is mapped read-only here`);
    }
    return { view, bytes: this.#bytes };
  }

  /** Whether the mapping has been closed. */
  get closed(): boolean {
    return this.#view === null;
  }

  /** Unmaps the segment and closes its descriptor; the segment itself stays until unlinked. */
  close(): void {
    if (this.#view === null) return;
    this.#view = null;
    this.#bytes = new Uint8Array(0);
    libc.munmap(this.#ptr, this.layout.totalSize, this.name);
    libc.close(this.#fd, this.name);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
