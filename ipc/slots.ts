/**
 * The registry: one slot per role (watchdog, dispatcher, each worker) in the shared segment, read
 * and written field by field — pid, state, generation, heartbeat, port, host, counters.
 *
 * @module
 */

import { readNumber, readText, writeNumber, writeText } from "./fields.ts";
import { ROLE_SLOT, type RoleSlotField } from "./layout.ts";
import type { SharedSegment } from "./segment.ts";

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
