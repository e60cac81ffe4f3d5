import type { Db } from "../../db/client";
import { breathe } from "../../db/transaction";
import { publish, subscribe } from "../events";
import { CLOCK_MAX_SLEEP_MS } from "../../rules/tasks";
import { nextDueAt, runDueBatch, soonestDueAfter, wakesClock } from "../tasks/due";

/** The pause before the clock tries again after a failed step. */
const CLOCK_RETRY_MS = 1_000;

/**
 * The one scheduler of the process. It sleeps until the database's next due time (one
 * timer, however many tasks wait), works in batches with a breath for the event loop
 * between them, and re-arms when a transition may have brought the next due time closer.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private rerun = false;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;
  private pokeQueued = false;
  /** When the clock last finished a step without failing, and whether its last step failed. */
  private lastOkAt = Date.now();
  private failing = false;

  constructor(
    private readonly db: Db,
    /** Re-check at least this often, whatever the database says (clock jumps, other writers). */
    private readonly maxSleepMs = CLOCK_MAX_SLEEP_MS,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Catches up on everything that came due while the server was down, then arms. */
  async start(): Promise<void> {
    this.unsubscribe = subscribe((e) => {
      // Creations may be scheduled sooner than the armed time; starts begin a lease.
      if (e.kind === "task.transition") this.wake(soonestDueAfter(e));
    });
    await this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unsubscribe?.();
  }

  /**
   * Something may fall due `soonestMs` after the transition that made it (here, or on another
   * node, whose `due` hint is heard a gather or more later): the clock re-reads its next due
   * time only if that can be before it wakes anyway. It wakes at most maxSleepMs after it
   * armed, which was before the transition, or after it and then read its row: what cannot
   * fall due sooner changes nothing.
   */
  wake(soonestMs: number | null): void {
    if (wakesClock(soonestMs, this.maxSleepMs)) this.poke();
  }

  /** Something may be due sooner than the armed time. Coalesced: ten thousand transitions in one tick re-arm once. */
  poke(): void {
    if (this.pokeQueued || this.stopped) return;
    this.pokeQueued = true;
    setImmediate(() => {
      this.pokeQueued = false;
      if (!this.running) void this.arm();
    });
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    let failed = false;
    try {
      do {
        this.rerun = false;
        for (;;) {
          const { events, more } = await runDueBatch({ db: this.db }, this.now());
          publish(events);
          if (!more || this.stopped) break;
          await breathe();
        }
      } while (this.rerun && !this.stopped);
    } catch (e) {
      failed = true;
      console.error("Clock step failed; retrying shortly", e);
    } finally {
      this.running = false;
    }
    this.failing = failed;
    if (!failed) this.lastOkAt = Date.now();
    await this.arm(failed);
  }

  /**
   * Whether the clock keeps time: its last step succeeded, and one ran within twice its
   * longest sleep (a step runs at least that often, whatever waits).
   */
  alive(at = Date.now()): boolean {
    return !this.stopped && !this.failing && at - this.lastOkAt <= 2 * this.maxSleepMs + 10_000;
  }

  private async arm(afterFailure = false): Promise<void> {
    if (this.stopped) return;
    let next: Date | null;
    try {
      next = await nextDueAt({ db: this.db });
    } catch (e) {
      console.error("Clock could not read the next due time; retrying shortly", e);
      next = null;
      afterFailure = true;
    }
    const wait = afterFailure
      ? // A step that failed (a locked database) left its rows due: without a pause the retry
        // would come at once, again and again, for as long as the lock lasts.
        Math.min(CLOCK_RETRY_MS, this.maxSleepMs)
      : next
        ? Math.max(0, Math.min(next.getTime() - this.now().getTime(), this.maxSleepMs))
        : this.maxSleepMs;
    // Stopped, or a run began, while the next due time was read: that run arms when it ends.
    if (this.stopped || this.running) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), wait);
    this.timer.unref();
  }
}
