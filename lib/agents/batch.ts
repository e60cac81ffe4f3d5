import { breathe } from "../../db/transaction";

export type TickBatchOptions = {
  /** The most calls one run takes (a burst never holds the loop for long); 500 by default. */
  max?: number;
  /**
   * The most runs at once; 1 by default. While one runs, calls gather for the next, so the
   * batches grow with the load instead of the transactions multiplying: on PostgreSQL, writes
   * of the same kind side by side wait on each other's rows and counters and commit one
   * after another, however many there are.
   */
  inFlight?: number;
};

/**
 * Gathers the calls made during one turn of the event loop — or, while a run is under way,
 * until it ends — and runs them together: one transaction for a burst of agent messages
 * instead of one each. Each caller gets its own answer, once the run (and the transaction it
 * makes) has finished.
 */
export class TickBatch<I, O> {
  private items: I[] = [];
  private waiters: { ok: (o: O) => void; fail: (e: unknown) => void }[] = [];
  private scheduled = false;
  private running = 0;
  private readonly max: number;
  private readonly inFlight: number;

  constructor(
    private readonly run: (items: I[]) => O[] | Promise<O[]>,
    opts: TickBatchOptions = {},
  ) {
    this.max = opts.max ?? 500;
    this.inFlight = opts.inFlight ?? 1;
  }

  add(item: I): Promise<O> {
    return new Promise<O>((ok, fail) => {
      this.items.push(item);
      this.waiters.push({ ok, fail });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.inFlight || !this.items.length) return;
    this.scheduled = true;
    void breathe().then(() => this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const items = this.items.splice(0, this.max);
    const waiters = this.waiters.splice(0, this.max);
    this.running++;
    this.schedule();
    let out: O[];
    try {
      out = await this.run(items);
    } catch (e) {
      for (const w of waiters) w.fail(e);
      return;
    } finally {
      this.running--;
      this.schedule();
    }
    waiters.forEach((w, i) => w.ok(out[i]));
  }
}
