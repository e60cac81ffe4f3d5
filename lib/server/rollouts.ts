import { fanoutIsOpen } from "../tasks/terms";
import { and, isNotNull } from "drizzle-orm";
import type { Db } from "../../db/client";
import { fanouts } from "../../db/schema";
import { isFinal } from "../../rules/tasks";
import { subscribe } from "../events";
import { advanceRollout } from "../tasks/rollout";

/** How many fan-outs' "is it a rollout?" answers are kept; past it, they are read again. */
const KNOWN_MAX = 10_000;

/**
 * Runs the rollout steps of lib/tasks/rollout.ts: for a fan-out whose task just finished here
 * (a slot in flight freed, a wave may be done, the breaker has more to weigh), for one paused,
 * resumed or moved on a wave (here or, as a hint, on another node), and every `sweepMs` for
 * every rollout still open (a pause between waves that has ended, a step another node missed
 * by stopping). Transitions of one turn are coalesced: a step per fan-out, however many of its
 * tasks finished meanwhile. Steps run one at a time.
 */
export class RolloutDriver {
  private readonly dirty = new Set<number>();
  /** Fan-outs known not to be rollouts (issued all at once): their finishes cost nothing. */
  private readonly plain = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly db: Db,
    private readonly sweepMs = 5_000,
    private readonly delayMs = 20,
  ) {}

  start(): void {
    this.unsubscribe = subscribe((e) => {
      if (e.kind === "fanout.changed") return this.mark(e.fanoutId);
      if (e.kind === "task.transition" && e.fanoutId !== null && isFinal(e.to) && !this.plain.has(e.fanoutId)) this.mark(e.fanoutId);
    });
    this.sweeper = setInterval(() => void this.sweep(), this.sweepMs);
    this.sweeper.unref();
    void this.sweep();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    clearInterval(this.sweeper);
    clearTimeout(this.timer);
  }

  /** Every rollout with open tasks, stepped: reads the partial index of them only. */
  async sweep(): Promise<void> {
    try {
      const open = await this.db
        .select({ id: fanouts.id })
        .from(fanouts)
        .where(and(isNotNull(fanouts.rollout), fanoutIsOpen(true)));
      for (const { id } of open) this.mark(id);
    } catch (e) {
      console.error("Could not read the open rollouts; trying again at the next sweep", e);
    }
  }

  private mark(fanoutId: number): void {
    if (this.stopped) return;
    this.dirty.add(fanoutId);
    if (!this.timer && !this.running) this.timer = setTimeout(() => void this.run(), this.delayMs);
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      while (this.dirty.size && !this.stopped) {
        const [id] = this.dirty;
        this.dirty.delete(id);
        try {
          if ((await advanceRollout({ db: this.db }, id)) === "not-rollout") {
            if (this.plain.size >= KNOWN_MAX) this.plain.clear();
            this.plain.add(id);
          }
        } catch (e) {
          // Left for the next sweep, which finds it again.
          console.error(`Rollout step of fan-out ${id} failed; trying again at the next sweep`, e);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
