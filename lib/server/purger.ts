import type { Db } from "../../db/client";
import { purgeExpired } from "../tasks/purge";

/**
 * Runs the retention purge (lib/tasks/purge.ts) a minute after start, then every `intervalMs`,
 * one run at a time. On several nodes each node runs it: two purges of the same rows at once
 * cost a wasted batch, never a wrong count (each batch deletes what is still there).
 */
export class Purger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly opts: { intervalMs: number; ceilingDays: number | null; firstAfterMs?: number },
  ) {}

  start(): void {
    // A minute after start (start-up's own work first), or sooner when the interval is shorter.
    this.timer = setTimeout(() => this.tick(), this.opts.firstAfterMs ?? Math.min(60_000, this.opts.intervalMs));
    this.timer.unref();
  }

  private tick(): void {
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.stopped) return;
      this.timer = setTimeout(() => this.tick(), this.opts.intervalMs);
      this.timer.unref();
    });
  }

  private async run(): Promise<void> {
    try {
      const done = await purgeExpired({ db: this.db }, { ceilingDays: this.opts.ceilingDays, shouldStop: () => this.stopped });
      if (done.tasks || done.runs || done.audit)
        console.log(`Retention purge: ${done.tasks} tasks, ${done.fanouts} fan-outs, ${done.runs} schedule runs and ${done.audit} audit rows past their time deleted`);
    } catch (e) {
      console.error("The retention purge failed; it runs again at its next interval", e);
    }
  }

  /** Stops; a batch under way finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
