import type { DomainEvent } from "../events";

export type PendingChanges = Map<string, { taskIds: Set<number>; fanoutIds: Set<number> }>;

/**
 * Gathers task transitions per organization and hands them over at most once per
 * interval: ten thousand transitions in a second become five batches, each holding every
 * changed task once (its latest state is read when the batch is sent).
 */
export class Coalescer {
  private pending: PendingChanges = new Map();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly flush: (changes: PendingChanges) => void,
  ) {}

  add(e: DomainEvent): void {
    if (e.kind !== "task.transition") return;
    let org = this.pending.get(e.organizationId);
    if (!org) this.pending.set(e.organizationId, (org = { taskIds: new Set(), fanoutIds: new Set() }));
    org.taskIds.add(e.taskId);
    if (e.fanoutId !== null) org.fanoutIds.add(e.fanoutId);
    // The first change of a quiet period waits one interval, so a burst that follows it
    // shares its message; a steady stream is sent every interval.
    this.timer ??= setTimeout(() => this.drain(), this.intervalMs);
  }

  private drain(): void {
    this.timer = undefined;
    const changes = this.pending;
    this.pending = new Map();
    if (changes.size) this.flush(changes);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = new Map();
  }
}
