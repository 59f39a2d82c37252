/**
 * A POSIX shared memory segment (`shm_open` + `mmap`) laid out as in `layout.ts`: header, role
 * slots, worker mailboxes. Created 0600 with O_EXCL, so an existing segment is never overwritten;
 * opened only when its header matches, so a foreign or corrupted segment is refused.
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
  type Field,
  HEADER,
  LAYOUT_VERSION,
  MAGIC,
  MAILBOX_HEADER,
  type MailboxField,
  ROLE_SLOT,
  type RoleSlotField,
  type SegmentLayout,
} from "./layout.ts";

/** Base class of every error about a shared segment; `segment` names it. */
export class SegmentError extends Error {
  /** The segment's POSIX name, e.g. `/osps-1234`. */
  readonly segment: string;
  /** Builds the error for segment `segment`. */
  constructor(segment: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SegmentError";
    this.segment = segment;
  }
}

/** Creating a segment whose name is taken (EEXIST); the existing segment was left untouched. */
export class SegmentExistsError extends SegmentError {
  /** Builds the error. */
  constructor(segment: string, cause: unknown) {
    super(
      segment,
      `shared segment ${segment} already exists (EEXIST); it was left untouched. ` +
        `If no system uses it, remove it with SharedSegment.unlink or rm /dev/shm${segment}`,
      { cause },
    );
    this.name = "SegmentExistsError";
  }
}

/** Opening or unlinking a segment that does not exist (ENOENT). */
export class SegmentNotFoundError extends SegmentError {
  /** Builds the error. */
  constructor(segment: string, cause: unknown) {
    super(segment, `shared segment ${segment} does not exist (ENOENT); is the system running?`, {
      cause,
    });
    this.name = "SegmentNotFoundError";
  }
}

/** The segment's header is not ours (magic) or of another layout version: refused, not touched. */
export class SegmentHeaderError extends SegmentError {
  /** Builds the error. */
  constructor(segment: string, detail: string) {
    super(segment, `shared segment ${segment} is refused: ${detail}; it was left untouched`);
    this.name = "SegmentHeaderError";
  }
}

/** The segment's real size, its header's size and the expected layout disagree. */
export class SegmentSizeError extends SegmentError {
  /** Builds the error. */
  constructor(segment: string, detail: string) {
    super(
      segment,
      `shared segment ${segment} has the wrong size: ${detail}; it was left untouched`,
    );
    this.name = "SegmentSizeError";
  }
}

/** A payload does not fit in its mailbox; nothing was written. */
export class MailboxOverflowError extends SegmentError {
  /** Builds the error. */
  constructor(segment: string, mailbox: number, length: number, capacity: number) {
    super(
      segment,
      `payload of ${length} bytes does not fit mailbox ${mailbox} of ${segment} ` +
        `(capacity ${capacity} bytes); nothing was written`,
    );
    this.name = "MailboxOverflowError";
  }
}

/** A mailbox's header holds impossible values (a length beyond its capacity). */
export class MailboxCorruptError extends SegmentError {
  /** Builds the error. */
  constructor(segment: string, mailbox: number, detail: string) {
    super(segment, `mailbox ${mailbox} of ${segment} is corrupt: ${detail}`);
    this.name = "MailboxCorruptError";
  }
}

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

/** The header of a segment as read from memory. */
export interface SegmentHeader {
  /** Layout version. */
  version: number;
  /** Total size recorded at creation. */
  totalSize: number;
  /** Worker count. */
  workers: number;
  /** Pid of the process that created the segment. */
  creatorPid: number;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  /** The label given at creation. */
  label: string;
}

/** What a mailbox holds: a sequence number, a timestamp and the payload. */
export interface MailboxContent {
  /** Sequence number written with the payload (the request id). */
  seq: number;
  /** When the payload was written: CLOCK_MONOTONIC ms (`monotonicMs`), unless the writer said. */
  timestamp: number;
  /** A copy of the payload bytes. */
  payload: Uint8Array;
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
    try {
      libc.ftruncate(fd, layout.totalSize, name);
      const seg = new SharedSegment(name, layout, fd, libc.mmapShared(fd, layout.totalSize, name));
      seg.#writeHeader(options.label ?? "");
      return seg;
    } catch (e) {
      libc.close(fd, name);
      libc.shmUnlink(name);
      throw e;
    }
  }

  /**
   * Opens an existing segment after checking its header: magic, layout version, recorded size
   * against the real size and against the layout, and `expected` if given. A mismatch throws a
   * {@link SegmentHeaderError} or {@link SegmentSizeError}; {@link SegmentNotFoundError} if absent.
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
    if (realSize < HEADER.size) {
      throw new SegmentSizeError(
        name,
        `${realSize} bytes, smaller than the ${HEADER.size}-byte header`,
      );
    }
    const headerBytes = new Uint8Array(HEADER.size);
    const ptr = libc.mmapShared(fd, HEADER.size, name, false);
    try {
      headerBytes.set(new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, HEADER.size)));
    } finally {
      libc.munmap(ptr, HEADER.size, name);
    }
    const h = new DataView(headerBytes.buffer);
    const get = (f: Field) => readNumber(h, f.offset, f);
    const magic = get(HEADER.fields.magic);
    if (magic !== MAGIC) {
      throw new SegmentHeaderError(
        name,
        `magic is 0x${magic.toString(16).padStart(8, "0")}, not 0x${
          MAGIC.toString(16)
        } ("OSPS"): ` +
          `not an osps segment, or corrupted`,
      );
    }
    const version = get(HEADER.fields.version);
    if (version !== LAYOUT_VERSION) {
      throw new SegmentHeaderError(
        name,
        `layout version ${version}, this toolkit reads ${LAYOUT_VERSION}`,
      );
    }
    const totalSize = get(HEADER.fields.totalSize);
    if (totalSize !== realSize) {
      throw new SegmentSizeError(
        name,
        `header says ${totalSize} bytes, the segment has ${realSize}`,
      );
    }
    let layout: SegmentLayout;
    try {
      layout = computeLayout(
        get(HEADER.fields.workers),
        get(HEADER.fields.mailboxSize) - MAILBOX_HEADER.size,
      );
    } catch (e) {
      throw new SegmentHeaderError(name, `impossible header values (${(e as Error).message})`);
    }
    if (layout.totalSize !== totalSize || get(HEADER.fields.slots) !== layout.slots) {
      throw new SegmentSizeError(
        name,
        `header fields describe ${layout.totalSize} bytes and ${layout.slots} slots, ` +
          `header records ${totalSize} bytes and ${get(HEADER.fields.slots)} slots`,
      );
    }
    if (expected.workers !== undefined && expected.workers !== layout.workers) {
      throw new SegmentSizeError(
        name,
        `laid out for ${layout.workers} workers, expected ${expected.workers}`,
      );
    }
    return layout;
  }

  #writeHeader(label: string): void {
    const v = this.#dv();
    writeText(this.#bytes, HEADER.fields.label.offset, HEADER.fields.label, label, this.name);
    const f = HEADER.fields;
    writeNumber(v, f.version.offset, f.version, LAYOUT_VERSION);
    writeNumber(v, f.totalSize.offset, f.totalSize, this.layout.totalSize);
    writeNumber(v, f.workers.offset, f.workers, this.layout.workers);
    writeNumber(v, f.slots.offset, f.slots, this.layout.slots);
    writeNumber(v, f.mailboxSize.offset, f.mailboxSize, this.layout.mailboxSize);
    writeNumber(v, f.creatorPid.offset, f.creatorPid, Deno.pid);
    writeNumber(v, f.createdAt.offset, f.createdAt, Date.now());
    // The magic goes last: a concurrent opener sees either no magic or a complete header.
    writeNumber(v, f.magic.offset, f.magic, MAGIC);
  }

  #dv(): DataView {
    if (this.#view === null) {
      throw new SegmentError(this.name, `shared segment ${this.name} is closed`);
    }
    return this.#view;
  }

  /** The segment's header. */
  header(): SegmentHeader {
    const v = this.#dv();
    const f = HEADER.fields;
    return {
      version: readNumber(v, f.version.offset, f.version),
      totalSize: readNumber(v, f.totalSize.offset, f.totalSize),
      workers: readNumber(v, f.workers.offset, f.workers),
      creatorPid: readNumber(v, f.creatorPid.offset, f.creatorPid),
      createdAt: readNumber(v, f.createdAt.offset, f.createdAt),
      label: readText(this.#bytes, f.label.offset, f.label),
    };
  }

  /** The role slot at `index` (see `WATCHDOG_SLOT`, `DISPATCHER_SLOT`, `workerSlot(k)`). */
  slot(index: number): RoleSlot {
    if (!Number.isInteger(index) || index < 0 || index >= this.layout.slots) {
      throw new RangeError(`slot ${index} is outside 0..${this.layout.slots - 1} of ${this.name}`);
    }
    return new RoleSlot(this, this.layout.slotsOffset + index * ROLE_SLOT.size);
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

/**
 * FNV-1a (32 bits) of a mailbox's seq and payload: catches garbage and torn writes from another
 * process. It is no signature: a writer that means harm can compute it too.
 */
export function mailboxChecksum(seq: number, payload: Uint8Array): number {
  // The bytes of seq (its low then high 32 bits), of the length, then the payload, little-endian;
  // 32-bit arithmetic.
  let h = 0x811c9dc5 | 0;
  const low = seq >>> 0, high = Math.floor(seq / 2 ** 32) >>> 0;
  for (let i = 0; i < 32; i += 8) h = Math.imul(h ^ ((low >>> i) & 0xff), 0x01000193);
  for (let i = 0; i < 32; i += 8) h = Math.imul(h ^ ((high >>> i) & 0xff), 0x01000193);
  const n = payload.length;
  for (let i = 0; i < 32; i += 8) h = Math.imul(h ^ ((n >>> i) & 0xff), 0x01000193);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ payload[i], 0x01000193);
  return h >>> 0;
}

function readNumber(v: DataView, at: number, f: Field): number {
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

function writeNumber(v: DataView, at: number, f: Field, value: number): void {
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

function readText(bytes: Uint8Array, at: number, f: Field): string {
  const raw = bytes.subarray(at, at + f.bytes!);
  const end = raw.indexOf(0);
  return decoder.decode(raw.subarray(0, end < 0 ? raw.length : end));
}

/**
 * Writes a NUL-padded text field. The bytes are written over the old ones and only then is the
 * rest zeroed, and nothing is written when the field already holds the text: a reader in another
 * process never sees the field empty while it is rewritten.
 */
function writeText(bytes: Uint8Array, at: number, f: Field, text: string, segment: string): void {
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

/** One role's slot in the registry: pid, state, generation, heartbeat, address… */
export class RoleSlot {
  #seg: SharedSegment;
  #base: number;

  /** @internal Use {@link SharedSegment.slot}. */
  constructor(seg: SharedSegment, base: number) {
    this.#seg = seg;
    this.#base = base;
  }

  /** Reads a numeric field. */
  get(field: Exclude<RoleSlotField, "host">): number {
    const f = ROLE_SLOT.fields[field];
    return readNumber(this.#seg.access().view, this.#base + f.offset, f);
  }

  /** Writes a numeric field. */
  set(field: Exclude<RoleSlotField, "host">, value: number): void {
    const f = ROLE_SLOT.fields[field];
    writeNumber(this.#seg.access(true).view, this.#base + f.offset, f, value);
  }

  /** Reads the `host` text field. */
  host(): string {
    const f = ROLE_SLOT.fields.host;
    return readText(this.#seg.access().bytes, this.#base + f.offset, f);
  }

  /** Writes the `host` text field; a host longer than the field is an error. */
  setHost(host: string): void {
    const f = ROLE_SLOT.fields.host;
    writeText(this.#seg.access(true).bytes, this.#base + f.offset, f, host, this.#seg.name);
  }
}

/** A worker's mailbox: a header (seq, length, timestamp) and a bounded payload area. */
export class Mailbox {
  #seg: SharedSegment;
  #base: number;
  /** The worker number (1-based). */
  readonly index: number;
  /** Payload bytes this mailbox holds. */
  readonly capacity: number;

  /** @internal Use {@link SharedSegment.mailbox}. */
  constructor(seg: SharedSegment, index: number, base: number) {
    this.#seg = seg;
    this.index = index;
    this.#base = base;
    this.capacity = seg.layout.mailboxPayload;
  }

  #field(name: MailboxField): Field {
    return MAILBOX_HEADER.fields[name];
  }

  /**
   * Writes a payload with its sequence number and timestamp. A payload over {@link capacity} throws
   * {@link MailboxOverflowError} before any byte is written.
   */
  write(payload: Uint8Array | string, meta: { seq: number; timestamp?: number }): void {
    if (!Number.isSafeInteger(meta.seq) || meta.seq < 0) {
      throw new RangeError(`a mailbox seq is a whole number from 0 to 2^53 - 1, not ${meta.seq}`);
    }
    const { view, bytes } = this.#seg.access(true);
    const start = this.#base + MAILBOX_HEADER.size;
    let data: Uint8Array;
    if (typeof payload === "string" && payload.length * 3 <= this.capacity) {
      // Surely fits (3 bytes at most per UTF-16 unit): encoded straight into the mapping.
      const area = bytes.subarray(start, start + this.capacity);
      data = area.subarray(0, encoder.encodeInto(payload, area).written);
    } else {
      data = typeof payload === "string" ? encoder.encode(payload) : payload;
      if (data.length > this.capacity) {
        throw new MailboxOverflowError(this.#seg.name, this.index, data.length, this.capacity);
      }
      bytes.set(data, start);
    }
    const seq = this.#field("seq"), length = this.#field("length"), ts = this.#field("timestamp");
    writeNumber(view, this.#base + length.offset, length, data.length);
    writeNumber(
      view,
      this.#base + ts.offset,
      ts,
      meta.timestamp ?? libc.monotonicMs(),
    );
    writeNumber(view, this.#base + seq.offset, seq, meta.seq);
    const sum = this.#field("checksum");
    writeNumber(view, this.#base + sum.offset, sum, mailboxChecksum(meta.seq, data));
  }

  /**
   * Reads the mailbox. A recorded length beyond the capacity, or a checksum that does not match
   * the seq and payload (garbage written by another process), throws {@link MailboxCorruptError}.
   * A mailbox never written reads as seq 0 and an empty payload.
   */
  read(): MailboxContent {
    const { seq, timestamp, payload } = this.#checked();
    return { seq, timestamp, payload: payload.slice() };
  }

  /** Reads the mailbox with its payload decoded as UTF-8 (checked as {@link read} does). */
  readText(): Omit<MailboxContent, "payload"> & { text: string } {
    const { seq, timestamp, payload } = this.#checked();
    return { seq, timestamp, text: decoder.decode(payload) };
  }

  /** The mailbox's content, checked; the payload is a view of the mapping, not a copy. */
  #checked(): MailboxContent {
    const { view, bytes } = this.#seg.access();
    const seq = this.#field("seq"), length = this.#field("length"), ts = this.#field("timestamp");
    const n = readNumber(view, this.#base + length.offset, length);
    if (n > this.capacity) {
      throw new MailboxCorruptError(
        this.#seg.name,
        this.index,
        `length ${n} > capacity ${this.capacity}`,
      );
    }
    const start = this.#base + MAILBOX_HEADER.size;
    const content = {
      seq: readNumber(view, this.#base + seq.offset, seq),
      timestamp: readNumber(view, this.#base + ts.offset, ts),
      payload: bytes.subarray(start, start + n),
    };
    const sum = this.#field("checksum");
    const recorded = readNumber(view, this.#base + sum.offset, sum);
    const neverWritten = content.seq === 0 && n === 0 && recorded === 0;
    if (!neverWritten && recorded !== mailboxChecksum(content.seq, content.payload)) {
      throw new MailboxCorruptError(
        this.#seg.name,
        this.index,
        "checksum mismatch (written by someone else?)",
      );
    }
    return content;
  }
}
