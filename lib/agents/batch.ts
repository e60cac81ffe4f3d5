import { breathe } from "../../db/transaction";

/**
 * Gathers the calls made during one turn of the event loop and runs them together — one
 * transaction for a burst of agent messages instead of one each — at most `max` per turn,
 * so that a burst never holds the loop for long. Each caller gets its own answer, once the
 * run (and the transaction it makes) has finished.
 */
export class TickBatch<I, O> {
  private items: I[] = [];
  private waiters: { ok: (o: O) => void; fail: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly run: (items: I[]) => O[] | Promise<O[]>,
    private readonly max = 500,
  ) {}

  add(item: I): Promise<O> {
    return new Promise<O>((ok, fail) => {
      this.items.push(item);
      this.waiters.push({ ok, fail });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    void breathe().then(() => this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const items = this.items.splice(0, this.max);
    const waiters = this.waiters.splice(0, this.max);
    if (this.items.length) this.schedule();
    let out: O[];
    try {
      out = await this.run(items);
    } catch (e) {
      for (const w of waiters) w.fail(e);
      return;
    }
    waiters.forEach((w, i) => w.ok(out[i]));
  }
}
