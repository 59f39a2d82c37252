/**
 * What can go wrong with a shared segment, as typed errors naming the segment: it exists already,
 * it does not exist, it is not ours (header, size), a mailbox payload does not fit or a mailbox
 * holds garbage.
 *
 * @module
 */

/** Base class of every error about a shared segment; `segment` names it. */
export class SegmentError extends Error {
  /** The segment's POSIX name, e.g. `/osps-1234`. */
  readonly segment: string;
  /** An error about `segment`, saying `message`. */
  constructor(segment: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SegmentError";
    this.segment = segment;
  }
}

/** Creating a segment whose name is taken (EEXIST); the existing segment was left untouched. */
export class SegmentExistsError extends SegmentError {
  /** Creating `segment` failed with EEXIST (`cause`). */
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

/** /dev/shm cannot hold the segment (ENOSPC at creation): it was not created. */
export class SegmentSpaceError extends SegmentError {
  /** `segment` of `bytes` bytes could not be reserved (`cause`: the ENOSPC). */
  constructor(segment: string, bytes: number, cause: unknown) {
    super(
      segment,
      `no room in /dev/shm for the shared segment ${segment} (${bytes} bytes, ENOSPC): free ` +
        `some (df -h /dev/shm shows how much is left) or start fewer workers; nothing was created`,
      { cause },
    );
    this.name = "SegmentSpaceError";
  }
}

/**
 * The object at the segment's name is not this user's, or not mode 0600: another user (or a
 * program) planted it. Refused and left as it is: it is not removed, and nobody it names is
 * signalled.
 */
export class SegmentForeignError extends SegmentError {
  /** `segment` belongs to `uid` with mode `mode`. */
  constructor(segment: string, uid: number, mode: number) {
    super(
      segment,
      `shared segment ${segment} is refused: it belongs to uid ${uid} with mode ` +
        `${mode.toString(8).padStart(4, "0")}, not to this user with mode 0600; it was left ` +
        `untouched (if it is no instance's, its owner can remove /dev/shm${segment}; or use ` +
        `another --port or --instance)`,
    );
    this.name = "SegmentForeignError";
  }
}

/** Opening or unlinking a segment that does not exist (ENOENT). */
export class SegmentNotFoundError extends SegmentError {
  /** Opening or unlinking `segment` failed with ENOENT (`cause`). */
  constructor(segment: string, cause: unknown) {
    super(segment, `shared segment ${segment} does not exist (ENOENT); is the system running?`, {
      cause,
    });
    this.name = "SegmentNotFoundError";
  }
}

/** The segment's header is not ours (magic) or of another layout version: refused, not touched. */
export class SegmentHeaderError extends SegmentError {
  /** `segment`'s header is refused, `detail` saying why. */
  constructor(segment: string, detail: string) {
    super(segment, `shared segment ${segment} is refused: ${detail}; it was left untouched`);
    this.name = "SegmentHeaderError";
  }
}

/** The segment's real size, its header's size and the expected layout disagree. */
export class SegmentSizeError extends SegmentError {
  /** `segment`'s sizes disagree, `detail` saying how. */
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
  /** A payload of `length` bytes refused by mailbox `mailbox` of `segment` (`capacity` bytes). */
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
  /** Mailbox `mailbox` of `segment` holds garbage, `detail` saying what. */
  constructor(segment: string, mailbox: number, detail: string) {
    super(segment, `mailbox ${mailbox} of ${segment} is corrupt: ${detail}`);
    this.name = "MailboxCorruptError";
  }
}
