/**
 * The shared segment's layout, declared once: a header, one slot per role, one mailbox per worker.
 * `docs/shared-memory.md` describes the same table; change both together and bump
 * {@link LAYOUT_VERSION} whenever an offset or a size changes.
 *
 * All integers are little-endian; offsets are in bytes from the start of their record.
 *
 * @module
 */

/** The magic number at offset 0: the ASCII bytes `OSPS`. */
export const MAGIC = 0x5350534f;

/** Version of this layout; a segment with another version is refused. */
export const LAYOUT_VERSION = 5;

/** The type of one field of a record. */
export type FieldType = "u32" | "i32" | "f64" | "text";

/** Where one field lies in its record, and how long a `text` field is (NUL-padded UTF-8). */
export interface Field {
  /** Byte offset from the start of the record. */
  readonly offset: number;
  /** How the bytes are read. */
  readonly type: FieldType;
  /** Bytes reserved, for `text` fields (the text itself is at most `bytes - 1`). */
  readonly bytes?: number;
}

/** A fixed-size record: its size and its fields by name. */
export interface RecordLayout<K extends string> {
  /** Size of the record in bytes. */
  readonly size: number;
  /** The record's fields. */
  readonly fields: Readonly<Record<K, Field>>;
}

/** Header at offset 0 of every segment, written on create and validated on open. */
export const HEADER: RecordLayout<
  | "magic"
  | "version"
  | "totalSize"
  | "workers"
  | "slots"
  | "mailboxSize"
  | "creatorPid"
  | "createdAt"
  | "label"
> = {
  size: 64,
  fields: {
    magic: { offset: 0, type: "u32" },
    version: { offset: 4, type: "u32" },
    totalSize: { offset: 8, type: "u32" },
    workers: { offset: 12, type: "u32" },
    slots: { offset: 16, type: "u32" },
    mailboxSize: { offset: 20, type: "u32" },
    creatorPid: { offset: 24, type: "i32" },
    createdAt: { offset: 32, type: "f64" },
    label: { offset: 40, type: "text", bytes: 24 },
  },
};

/** Names of the fields of a role slot. */
export type RoleSlotField =
  | "pid"
  | "state"
  | "generation"
  | "restarts"
  | "heartbeat"
  | "served"
  | "port"
  | "host"
  | "queue"
  | "exitStatus"
  | "startedAt"
  | "standby"
  | "workers";

/** One slot per role (watchdog, dispatcher, each worker): the registry the roles share. */
export const ROLE_SLOT: RecordLayout<RoleSlotField> = {
  size: 96,
  fields: {
    pid: { offset: 0, type: "i32" },
    state: { offset: 4, type: "u32" },
    generation: { offset: 8, type: "u32" },
    restarts: { offset: 12, type: "u32" },
    heartbeat: { offset: 16, type: "f64" }, // CLOCK_MONOTONIC, ms
    served: { offset: 24, type: "u32" },
    port: { offset: 28, type: "u32" },
    host: { offset: 32, type: "text", bytes: 32 },
    queue: { offset: 64, type: "u32" },
    exitStatus: { offset: 68, type: "i32" },
    startedAt: { offset: 72, type: "f64" }, // wall clock, ms since the epoch
    standby: { offset: 80, type: "i32" }, // the watchdog's slot: its standby's pid, 0 for none
    workers: { offset: 84, type: "u32" }, // the watchdog's slot: the workers it runs now
  },
};

/** Names of the fields of a mailbox header. */
export type MailboxField = "seq" | "length" | "timestamp" | "checksum";

/**
 * Header of each worker's mailbox; `length` payload bytes follow it. `seq` is the request id, a
 * whole number below 2^53 (unique across dispatcher generations); `timestamp` is CLOCK_MONOTONIC ms.
 */
export const MAILBOX_HEADER: RecordLayout<MailboxField> = {
  size: 32,
  fields: {
    seq: { offset: 0, type: "f64" },
    length: { offset: 8, type: "u32" },
    checksum: { offset: 12, type: "u32" },
    timestamp: { offset: 16, type: "f64" },
  },
};

/** Values of a role slot's `state` field. */
export const ROLE_STATE = {
  empty: 0,
  starting: 1,
  ready: 2,
  busy: 3,
  stopping: 4,
  failed: 5,
  draining: 6,
} as const;

/** Slot index of the watchdog. */
export const WATCHDOG_SLOT = 0;
/** Slot index of the dispatcher. */
export const DISPATCHER_SLOT = 1;
/** Slot index of worker `k` (1-based, as in the seed's `dwtube1..n`). */
export function workerSlot(k: number): number {
  return DISPATCHER_SLOT + k;
}

/** The kinds of role the registry has a slot for. */
export type RoleKind = "watchdog" | "dispatcher" | "worker";

/** A role as the registry knows it: its name (`watchdog`, `dispatcher`, `worker k`) and slot. */
export interface RegistryRole {
  /** `watchdog`, `dispatcher` or `worker k`. */
  readonly name: string;
  /** Its slot index. */
  readonly slot: number;
  /** Which program it is. */
  readonly kind: RoleKind;
  /** The worker's number, from 1 (0 for the watchdog and the dispatcher). */
  readonly k: number;
}

/** The registry's roles in slot order for `workers` workers: watchdog, dispatcher, worker 1… */
export function registryRoles(workers: number): RegistryRole[] {
  return [
    { name: "watchdog", slot: WATCHDOG_SLOT, kind: "watchdog", k: 0 },
    { name: "dispatcher", slot: DISPATCHER_SLOT, kind: "dispatcher", k: 0 },
    ...Array.from({ length: workers }, (_, i) => ({
      name: `worker ${i + 1}`,
      slot: workerSlot(i + 1),
      kind: "worker" as const,
      k: i + 1,
    })),
  ];
}

/** The slot of the role named `name` (`dispatcher`, `worker 2`), or null for no such name. */
export function slotOfRole(name: string): number | null {
  if (name === "watchdog") return WATCHDOG_SLOT;
  if (name === "dispatcher") return DISPATCHER_SLOT;
  const m = /^worker ([1-9]\d*)$/.exec(name);
  return m && Number(m[1]) <= MAX_WORKERS ? workerSlot(Number(m[1])) : null;
}

/** Default mailbox payload capacity: a 4096-byte request line plus room for a result. */
export const DEFAULT_MAILBOX_PAYLOAD = 8192 - MAILBOX_HEADER.size;

/** Largest number of workers one segment holds. */
export const MAX_WORKERS = 64;

/** Where each part of a segment lies, computed from the worker count and mailbox capacity. */
export interface SegmentLayout {
  /** Number of workers (= number of mailboxes). */
  readonly workers: number;
  /** Number of role slots: watchdog, dispatcher and one per worker. */
  readonly slots: number;
  /** Offset of slot 0. */
  readonly slotsOffset: number;
  /** Size of one mailbox, header included. */
  readonly mailboxSize: number;
  /** Payload bytes one mailbox holds. */
  readonly mailboxPayload: number;
  /** Offset of mailbox 1. */
  readonly mailboxesOffset: number;
  /** Size of the whole segment. */
  readonly totalSize: number;
}

const align = (n: number, to: number) => Math.ceil(n / to) * to;

/** Computes the layout of a segment for `workers` workers and a mailbox payload capacity. */
export function computeLayout(
  workers: number,
  mailboxPayload = DEFAULT_MAILBOX_PAYLOAD,
): SegmentLayout {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new RangeError(`workers must be an integer from 1 to ${MAX_WORKERS}, got ${workers}`);
  }
  if (!Number.isInteger(mailboxPayload) || mailboxPayload < 1 || mailboxPayload > 1 << 20) {
    throw new RangeError(`mailbox payload must be 1 B to 1 MiB, got ${mailboxPayload}`);
  }
  const slots = workers + 2;
  const slotsOffset = HEADER.size;
  const mailboxSize = align(MAILBOX_HEADER.size + mailboxPayload, 64);
  const mailboxesOffset = align(slotsOffset + slots * ROLE_SLOT.size, 64);
  return {
    workers,
    slots,
    slotsOffset,
    mailboxSize,
    mailboxPayload: mailboxSize - MAILBOX_HEADER.size,
    mailboxesOffset,
    totalSize: mailboxesOffset + workers * mailboxSize,
  };
}
