/**
 * The watchdog's restart policy, as pure code: what to do when a role's process exits.
 *
 * - A role that exits while the instance boots, or with code 2 (bad configuration), stops the
 *   whole instance: restarting it would only loop.
 * - Otherwise it is restarted in its slot: at once the first time, then after 100, 200, 400,
 *   800 ms…
 * - Past `maxRestarts` restarts within `windowMs`, the slot is marked failed and the system serves
 *   without it — then tries it again after a long pause: 30 s, then 60, 120… at most 10 minutes
 *   (an operator's `reset-failed` tries at once).
 * - A run that lasts `windowMs` clears the count (and the failures' pause).
 *
 * And which other roles restart with the one that crashed: the restart strategy, as Erlang/OTP's
 * supervisors name them (`strategyGroup`).
 *
 * @module
 */

/**
 * Which roles a crash restarts: `one-for-one`, the crashed role alone; `one-for-all`, every role
 * (as PostgreSQL restarts every backend after one crashes: the shared memory may be corrupt);
 * `rest-for-one`, the crashed role and the roles started after it (a dispatcher's crash restarts
 * the workers, a worker's crash only itself).
 */
export const STRATEGIES = ["one-for-one", "one-for-all", "rest-for-one"] as const;

/** One of {@link STRATEGIES}. */
export type Strategy = typeof STRATEGIES[number];

/** What the strategy needs of a role: which program it runs. */
export interface StrategyRole {
  /** `dispatcher` or `worker`. */
  kind: "dispatcher" | "worker";
}

/**
 * The roles of `roles` (in start order: the dispatcher first) that restart along with `crashed`
 * under `strategy`, `crashed` not included.
 */
export function strategyGroup<R extends StrategyRole>(
  strategy: Strategy,
  crashed: R,
  roles: readonly R[],
): R[] {
  const others = roles.filter((r) => r !== crashed);
  if (strategy === "one-for-all") return others;
  if (strategy === "rest-for-one" && crashed.kind === "dispatcher") {
    return others.filter((r) => r.kind === "worker");
  }
  return [];
}

/** The limits of the policy. */
export interface RestartLimits {
  /** Restarts allowed within {@link windowMs} before the slot is marked failed. */
  maxRestarts: number;
  /** The crash-loop window, ms; a run this long clears the count. */
  windowMs: number;
}

/** How a process ended, as the policy needs it. */
export interface ExitFacts {
  /** Its exit code (null if a signal killed it). */
  code: number | null;
  /** Whether the instance was still starting (not every role had been ready yet). */
  booting: boolean;
}

/** What to do after an exit. */
export type ExitDecision =
  | { kind: "stop-instance"; why: string }
  | { kind: "restart"; delayMs: number; restarts: number }
  | { kind: "failed"; restarts: number };

/** The first backoff after the immediate restart, ms; each next one doubles. */
const BACKOFF_MS = 100;

/** The pause before a failed slot is tried again, ms; each next failure doubles it. */
export const FAILED_RETRY_MS = 30_000;

/** The longest pause before a failed slot is tried again, ms. */
export const MAX_FAILED_RETRY_MS = 600_000;

/** The restart history of one slot, and the decisions it leads to. */
export class RestartPolicy {
  readonly #limits: RestartLimits;
  /** When each restart within the window happened (or will, after its delay), monotonic ms. */
  #restarts: number[] = [];
  /** Times the slot was marked failed since it last ran for a whole window. */
  #failures = 0;

  /** A slot's policy under `limits`. */
  constructor(limits: RestartLimits) {
    this.#limits = limits;
  }

  /** Decides what follows an exit at `now` (monotonic ms), and records a restart if it is one. */
  afterExit(exit: ExitFacts, now: number): ExitDecision {
    if (exit.booting) return { kind: "stop-instance", why: "while the instance was starting" };
    if (exit.code === 2) return { kind: "stop-instance", why: "(bad configuration)" };
    this.#restarts = this.#restarts.filter((t) => now - t < this.#limits.windowMs);
    const n = this.#restarts.length;
    if (n >= this.#limits.maxRestarts) return { kind: "failed", restarts: n };
    const delayMs = n === 0 ? 0 : BACKOFF_MS * 2 ** (n - 1);
    this.#restarts.push(now + delayMs);
    return { kind: "restart", delayMs, restarts: n + 1 };
  }

  /**
   * The slot was just marked failed: how long until it is tried again, ms (30 s, doubling with
   * each failure, at most 10 minutes).
   */
  failed(): number {
    this.#failures++;
    return Math.min(MAX_FAILED_RETRY_MS, FAILED_RETRY_MS * 2 ** (this.#failures - 1));
  }

  /** The failed slot is tried again: its restarts no longer count (its failures still do). */
  retry(): void {
    this.#restarts = [];
  }

  /** A process that started at `startedAt` is still running at `now`: a long run clears the count. */
  running(startedAt: number, now: number): void {
    if (now - startedAt > this.#limits.windowMs) {
      this.#restarts = [];
      this.#failures = 0;
    }
  }
}
