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
import { MAX_PORT } from "../options.ts";
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
  /** The generation last told `drain` (no order follows), or -1. */
  drainSaid = -1;
  /** Whether the worker was removed (scaled down): its pipes are closed for good. */
  removed = false;
  /** The worker's TCP port, as its slot gave it for generation {@link #portGeneration}. */
  #port: number | null = null;
  #portGeneration = -1;

  /** Worker `k`, its answer pipe, mailbox and slot; `listens`: it has a TCP port clients call. */
  constructor(
    k: number,
    public pongs: FifoReader,
    readonly mailbox: Mailbox,
    readonly slot: RoleSlot,
    readonly listens: boolean,
  ) {
    this.k = k;
    this.name = `worker ${k}`;
  }

  /**
   * Free for a new request: connected, idle, and its slot says a live, ready worker — with, if it
   * listens, a TCP port (taken once per generation, see {@link port}).
   */
  get available(): boolean {
    if (this.pings === null || this.job !== null) return false;
    const generation = this.slot.get("generation");
    if (generation === this.deadGeneration) return false;
    if (this.slot.get("state") !== ROLE_STATE.ready) return false;
    if (!judgeBeat(this.slot.get("heartbeat"), monotonicMs(), FRESH_BEAT_MS).alive) return false;
    if (this.listens && this.#portGeneration !== generation) {
      const port = this.slot.get("port");
      if (port < 1 || port > MAX_PORT) return false;
      this.#port = port;
      this.#portGeneration = generation;
    }
    this.deadGeneration = null;
    this.generation = generation;
    return true;
  }

  /**
   * The worker's TCP port: what its slot said when its current generation was first seen ready
   * (a TCP port, 1 to 65535), kept for that generation's life. The slot is shared memory that any
   * process of the user can write; a port read at each REDIRECT could be garbage of the moment.
   */
  get port(): number | null {
    return this.#portGeneration === this.generation ? this.#port : null;
  }

  /**
   * Whether either pipe's path no longer names the pipe the dispatcher holds: the watchdog made
   * them again (they were removed or replaced), and the worker it starts uses the new ones.
   */
  get pipesMoved(): boolean {
    return !this.pongs.stillAtPath() || (this.pings !== null && !this.pings.stillAtPath());
  }

  /**
   * Whether the worker is draining and holds nothing of the dispatcher's, and has not been told
   * yet that no order follows: then it is told (`drain`), and leaves.
   */
  get owesDrain(): boolean {
    if (this.pings === null || this.job !== null) return false;
    if (this.slot.get("state") !== ROLE_STATE.draining) return false;
    return this.drainSaid !== this.slot.get("generation");
  }

  /** The worker went away: its generation is skipped, and the job it held is returned. */
  lost(): Job | null {
    this.deadGeneration = this.generation;
    const job = this.job;
    this.job = null;
    return job;
  }
}
