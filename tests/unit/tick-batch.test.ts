// lib/agents/batch.ts: calls of one turn run together; while a run is under way the next
// calls gather behind it, so that under load the batches grow, not the transactions.
import { describe, expect, test } from "vitest";
import { TickBatch } from "../../lib/agents/batch";
import { breathe } from "../../db/transaction";

/** A run that answers each item doubled, once released; it records what each run was given. */
function gated() {
  const runs: number[][] = [];
  const gates: (() => void)[] = [];
  const run = (items: number[]) => {
    runs.push(items);
    return new Promise<number[]>((ok) => gates.push(() => ok(items.map((i) => i * 2))));
  };
  return { runs, run, release: () => gates.shift()!() };
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await breathe();
};

describe("TickBatch", () => {
  test("calls of one turn run together; those made while it runs wait and run together after it", async () => {
    const g = gated();
    const batch = new TickBatch(g.run);
    const first = [1, 2, 3].map((i) => batch.add(i));
    await turns(2);
    expect(g.runs).toEqual([[1, 2, 3]]);
    // Over several turns while the first run is under way: none starts a run of its own.
    const second: Promise<number>[] = [];
    for (const i of [4, 5, 6, 7, 8]) {
      second.push(batch.add(i));
      await turns(1);
    }
    expect(g.runs).toHaveLength(1);
    g.release();
    expect(await Promise.all(first)).toEqual([2, 4, 6]);
    await turns(2);
    expect(g.runs).toEqual([[1, 2, 3], [4, 5, 6, 7, 8]]);
    g.release();
    expect(await Promise.all(second)).toEqual([8, 10, 12, 14, 16]);
  });

  test("a run takes at most `max` calls; with room for two runs the rest start beside it", async () => {
    const g = gated();
    const batch = new TickBatch(g.run, { max: 2, inFlight: 2 });
    const all = [1, 2, 3, 4, 5].map((i) => batch.add(i));
    await turns(3);
    expect(g.runs).toEqual([
      [1, 2],
      [3, 4],
    ]);
    g.release();
    await turns(3);
    expect(g.runs.at(-1)).toEqual([5]);
    g.release();
    g.release();
    expect(await Promise.all(all)).toEqual([2, 4, 6, 8, 10]);
  });

  test("a run that fails fails its own callers only, and the next run goes ahead", async () => {
    let calls = 0;
    const batch = new TickBatch(async (items: number[]) => {
      if (calls++ === 0) throw new Error("the database is gone");
      return items;
    });
    const failed = batch.add(1);
    await expect(failed).rejects.toThrow("the database is gone");
    expect(await batch.add(2)).toBe(2);
  });
});
