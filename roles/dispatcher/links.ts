/**
 * The dispatcher's view of one worker: its two pipes, its mailbox, its slot in the registry, the
 * job it holds, and whether it may take another — one judgement of its heartbeat (`liveness.ts`)
 * and of the generation last known dead.
 *
 * @module
 */

import {
  type FifoReader,
  type FifoWriter,
  type Mailbox,
  monotonicMs,
  ROLE_STATE,
  type RoleSlot,
} from "../../ipc/mod.ts";
import { FRESH_BEAT_MS, judgeBeat } from "../liveness.ts";
import type { Job } from "./jobs.ts";

/** The dispatcher's view of worker k. */
export class WorkerLink {
  /** The worker's number. */
  readonly k: number;
  /** How traces and logs name it: `worker k`. */
  readonly name: string;
  /** Its order pipe, once the worker opened its end. */
  pings: FifoWriter | null = null;
  /** The request it holds. */
  job: Job | null = null;
  /** The generation of the worker process last seen alive in this slot. */
  generation = -1;
  /** A generation known dead: the slot is skipped until its generation changes. */
  deadGeneration: number | null = null;

  /** Worker `k`, its answer pipe, mailbox and slot. */
  constructor(
    k: number,
    public pongs: FifoReader,
    readonly mailbox: Mailbox,
    readonly slot: RoleSlot,
  ) {
    this.k = k;
    this.name = `worker ${k}`;
  }

  /** Free for a new request: connected, idle, and its slot says a live, ready worker. */
  get available(): boolean {
    if (this.pings === null || this.job !== null) return false;
    const generation = this.slot.get("generation");
    if (generation === this.deadGeneration) return false;
    if (this.slot.get("state") !== ROLE_STATE.ready) return false;
    if (!judgeBeat(this.slot.get("heartbeat"), monotonicMs(), FRESH_BEAT_MS).alive) return false;
    this.deadGeneration = null;
    this.generation = generation;
    return true;
  }

  /**
   * Whether either pipe's path no longer names the pipe the dispatcher holds: the watchdog made
   * them again (they were removed or replaced), and the worker it starts uses the new ones.
   */
  get pipesMoved(): boolean {
    return !this.pongs.stillAtPath() || (this.pings !== null && !this.pings.stillAtPath());
  }

  /** The worker went away: its generation is skipped, and the job it held is returned. */
  lost(): Job | null {
    this.deadGeneration = this.generation;
    const job = this.job;
    this.job = null;
    return job;
  }
}
