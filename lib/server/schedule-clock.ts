import type { Db } from "../../db/client";
import { breathe } from "../../db/transaction";
import { subscribe } from "../events";
import { nextScheduleDue, runDueSchedules } from "../schedules/schedules";
import { CLOCK_MAX_SLEEP_MS } from "../../rules/tasks";

const RETRY_MS = 1_000;

/**
 * Fires recurring schedules (lib/schedules): sleeps until the soonest due time of any running
 * schedule (at most `maxSleepMs`), runs what is due, and sleeps again. A schedule created or
 * changed here or on another node (a cluster event) re-arms it. Every node runs one; each
 * due time is claimed once in the database, so two nodes never both fire it. At start it
 * runs at once: what came due while the server was down is caught up or skipped.
 */
export class ScheduleClock {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  /** Runs in a row that failed. */
  private failures = 0;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly db: Db,
    private readonly maxSleepMs = CLOCK_MAX_SLEEP_MS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(): void {
    this.unsubscribe = subscribe((e) => {
      if (e.kind === "schedule.changed") this.wake();
    });
    this.wake();
  }

  /** Runs what is due now, then re-arms; a wake during a run runs again after it. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async run(): Promise<void> {
    let retryMs: number | null = null;
    // Schedules whose run failed: still due, so the soonest due time is read without them.
    let failing: number[] = [];
    // When this run first looked: a due time is judged missed (the server down) from here, not
    // from each step, which may come minutes later when hundreds are due at once.
    const lookedAt = this.now();
    try {
      for (;;) {
        const { more, failed } = await runDueSchedules({ db: this.db }, this.now(), lookedAt);
        // A run that failed is still due: going on, or sleeping until it is due, would try it
        // again at once, and again, for as long as the database refuses it (a full disk, a
        // standby that took over read-only, a schedule of its own that cannot be written).
        // It is tried again later; the others still run when they are due.
        if (failed.length) {
          retryMs = this.retryAfter();
          failing = failed;
          break;
        }
        if (!more || this.stopped) break;
        await breathe();
      }
      if (retryMs === null) this.failures = 0;
    } catch (e) {
      console.error("Running due schedules failed; trying again shortly", e);
      retryMs = this.retryAfter();
    }
    if (this.stopped) return;
    let sleep = retryMs ?? this.maxSleepMs;
    if (retryMs === null || failing.length) {
      const due = await nextScheduleDue({ db: this.db }, failing).catch(() => null);
      if (due) sleep = Math.min(sleep, Math.max(0, due.getTime() - this.now().getTime()));
    }
    this.timer = setTimeout(() => this.wake(), sleep);
    this.timer.unref();
  }

  /** 1 s after a failure, twice as long after each one in a row, at most `maxSleepMs`. */
  private retryAfter(): number {
    return Math.min(this.maxSleepMs, RETRY_MS * 2 ** Math.min(this.failures++, 16));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running;
  }
}
