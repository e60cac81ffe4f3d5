import type { DomainEvent } from "../events";

export type PendingChanges = Map<string, { taskIds: Set<number>; fanoutIds: Set<number> }>;

/**
 * Gathers task transitions per organization and hands them over at most once per
 * interval: ten thousand transitions in a second become five batches, each holding every
 * changed task once (its latest state is read when the batch is sent). A quiet channel
 * hands over at once — on the next turn of the loop, with whatever else that turn changed —
 * so a lone change is not held back by an interval no load calls for.
 */
export class Coalescer {
  private pending: PendingChanges = new Map();
  private timer: NodeJS.Timeout | undefined;
  /** When the last batch was handed over, or — for a send that reads first — when it was done. */
  private lastAt = -Infinity;
  /** A send that reads first is under way: the next batch waits for it, however long it takes. */
  private sending = false;

  constructor(
    private readonly intervalMs: number,
    private readonly flush: (changes: PendingChanges) => void | Promise<void>,
  ) {}

  add(e: DomainEvent): void {
    // A fan-out paused or resumed changes no task: its summary goes out with the next patch.
    if (e.kind === "fanout.changed") this.addChanged(e.organizationId, [], [e.fanoutId]);
    if (e.kind !== "task.transition") return;
    this.addChanged(e.organizationId, [e.taskId], e.fanoutId === null ? [] : [e.fanoutId]);
  }

  /** Tasks and fan-outs of an organization that changed (on another node: its batched hint). */
  addChanged(organizationId: string, taskIds: readonly number[], fanoutIds: readonly number[]): void {
    let org = this.pending.get(organizationId);
    if (!org) this.pending.set(organizationId, (org = { taskIds: new Set(), fanoutIds: new Set() }));
    for (const id of taskIds) org.taskIds.add(id);
    for (const id of fanoutIds) org.fanoutIds.add(id);
    this.arm();
  }

  /** The first change of a quiet period goes on the next turn; under a steady stream, a batch goes one interval after the last. */
  private arm(): void {
    if (this.sending || this.timer || !this.pending.size) return;
    this.timer = setTimeout(() => this.drain(), Math.max(0, this.lastAt + this.intervalMs - Date.now()));
  }

  private drain(): void {
    this.timer = undefined;
    this.lastAt = Date.now();
    const changes = this.pending;
    this.pending = new Map();
    if (!changes.size) return;
    const sent = this.flush(changes);
    if (!sent) return this.arm();
    // A send that first reads the rows counts the interval from when it is done, and none
    // starts while it runs: no client then gets two patches closer together than the
    // interval, however long a read took (a read slower than the interval would otherwise
    // overlap the next, and both patches would leave together).
    this.sending = true;
    void sent.finally(() => {
      this.sending = false;
      this.lastAt = Date.now();
      this.arm();
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = new Map();
  }
}
