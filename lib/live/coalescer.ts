import type { DomainEvent } from "../events";

export type PendingChanges = Map<string, { taskIds: Set<number>; fanoutIds: Set<number> }>;
/** What reading a batch prepared: sends its patches. */
export type Send = () => void;
/**
 * Reads a batch and returns how to send it (or nothing, when nobody is looking). A read that
 * fails is the reader's to log: the coalescer sends nothing for that batch and goes on.
 */
export type ReadBatch = (changes: PendingChanges) => Send | void | Promise<Send | void>;

/**
 * Gathers task transitions per organization and hands them over at most once per
 * interval: ten thousand transitions in a second become five batches, each holding every
 * changed task once (its latest state is read for the batch). A quiet channel hands over at
 * once — on the next turn of the loop, with whatever else that turn changed — so a lone
 * change is not held back by an interval no load calls for.
 *
 * Under a steady stream a batch is read ahead: its reads start as long before the interval
 * ends as the last ones took, and its patches leave once the interval has passed. Read after
 * the interval instead, every patch would come a read's time later than the one before, and
 * the interval would stretch by that time (on PostgreSQL during a result storm, 200 → 259 ms).
 */
export class Coalescer {
  private pending: PendingChanges = new Map();
  private timer: NodeJS.Timeout | undefined;
  /** When the last batch left. */
  private sentAt = -Infinity;
  /** A batch is being read, or waits for its interval to pass: the next one waits for it, however long it takes. */
  private busy = false;
  /** How long reading a batch took lately. */
  private readMs = 0;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly read: ReadBatch,
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

  /**
   * The first change of a quiet period is read on the next turn; under a steady stream, reading
   * starts so that the batch is ready when one interval has passed since the last. The lead is
   * at most half the interval: a batch read longer than that goes late rather than holding
   * changes a whole interval.
   */
  private arm(): void {
    if (this.busy || this.timer || this.stopped || !this.pending.size) return;
    const lead = Math.min(this.readMs, this.intervalMs / 2);
    this.timer = setTimeout(() => this.drain(), Math.max(0, this.sentAt + this.intervalMs - lead - Date.now()));
  }

  private drain(): void {
    this.timer = undefined;
    const changes = this.pending;
    this.pending = new Map();
    const started = Date.now();
    this.busy = true;
    const prepared = this.read(changes);
    if (!(prepared instanceof Promise)) return this.ready(prepared, started);
    prepared.then(
      (send) => this.ready(send, started),
      () => this.ready(undefined, started),
    );
  }

  /** A batch is read: it leaves once the interval since the last has passed, and none is read meanwhile. */
  private ready(send: Send | void, started: number): void {
    this.readMs += (Date.now() - started - this.readMs) / 4;
    const leave = () => {
      this.timer = undefined;
      this.busy = false;
      if (this.stopped) return;
      this.sentAt = Date.now();
      send?.();
      this.arm();
    };
    const wait = this.sentAt + this.intervalMs - Date.now();
    if (wait > 0) this.timer = setTimeout(leave, wait);
    else leave();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = new Map();
  }
}
