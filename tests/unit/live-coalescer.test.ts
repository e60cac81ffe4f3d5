// lib/live/coalescer.ts with fake timers: transitions gathered per organization and handed
// over at most once per interval, each task once however often it moved.
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { DomainEvent, TaskTransition } from "../../lib/events";
import { Coalescer, type PendingChanges } from "../../lib/live/coalescer";

const INTERVAL = 200;

let seq = 0;
function transition(organizationId: string, taskId: number, fanoutId: number | null = null): TaskTransition {
  return { kind: "task.transition", organizationId, taskId, code: `T${String(taskId).padStart(7, "0")}`, deviceId: `d${seq++}`, fanoutId, type: "SYNC", from: "PENDING", to: "IN_PROGRESS", at: Date.now() };
}

/** The flushes, each as plain data: { org: { taskIds: sorted, fanoutIds: sorted } }. */
function recorder() {
  const flushes: Record<string, { taskIds: number[]; fanoutIds: number[] }>[] = [];
  const at: number[] = [];
  const flush = (changes: PendingChanges) => {
    at.push(Date.now());
    flushes.push(Object.fromEntries([...changes].map(([org, c]) => [org, { taskIds: [...c.taskIds].sort((a, b) => a - b), fanoutIds: [...c.fanoutIds].sort((a, b) => a - b) }])));
  };
  return { flushes, at, flush };
}

/**
 * A reader whose i-th read takes `durationOf(i)` ms (fake time); records when each read began,
 * when each batch was sent, and the most reads under way at once.
 */
function timedReads(durationOf: (i: number) => number) {
  const started: number[] = [];
  const sent: number[] = [];
  let inFlight = 0;
  let mostAtOnce = 0;
  const read = async () => {
    const i = started.push(Date.now()) - 1;
    mostAtOnce = Math.max(mostAtOnce, ++inFlight);
    await new Promise((r) => setTimeout(r, durationOf(i)));
    inFlight--;
    return () => void sent.push(Date.now());
  };
  return { started, sent, read, mostAtOnce: () => mostAtOnce };
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date("2026-11-24T10:00:00Z") });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Coalescer", () => {
  test("the first change of a quiet period goes at once, with the rest of its turn; what follows waits one interval", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    c.add(transition("acme", 1));
    c.add(transition("acme", 2));
    expect(r.flushes).toHaveLength(0);
    vi.advanceTimersByTime(0);
    expect(r.flushes).toEqual([{ acme: { taskIds: [1, 2], fanoutIds: [] } }]);
    c.add(transition("acme", 3));
    vi.advanceTimersByTime(INTERVAL - 1);
    c.add(transition("acme", 4));
    expect(r.flushes).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(r.flushes).toEqual([{ acme: { taskIds: [1, 2], fanoutIds: [] } }, { acme: { taskIds: [3, 4], fanoutIds: [] } }]);
  });

  test("a task that moved many times in one interval is sent once", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    for (let i = 0; i < 50; i++) c.add(transition("acme", 7, 3));
    vi.advanceTimersByTime(INTERVAL);
    expect(r.flushes).toEqual([{ acme: { taskIds: [7], fanoutIds: [3] } }]);
  });

  test("changes are kept per organization, with their fan-outs; tasks outside a fan-out add none", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    c.add(transition("acme", 1, 10));
    c.add(transition("globex", 2, 20));
    c.add(transition("acme", 3, 10));
    c.add(transition("acme", 4, null));
    c.add(transition("globex", 5, 21));
    vi.advanceTimersByTime(INTERVAL);
    expect(r.flushes).toEqual([
      {
        acme: { taskIds: [1, 3, 4], fanoutIds: [10] },
        globex: { taskIds: [2, 5], fanoutIds: [20, 21] },
      },
    ]);
  });

  test("other domain events are ignored and start no timer", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    const device: DomainEvent = { kind: "device.changed", organizationId: "acme", deviceId: "d1", change: "enabled" };
    c.add(device);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(INTERVAL * 5);
    expect(r.flushes).toHaveLength(0);
  });

  test("a steady stream is sent once per interval, never faster: 10,000 transitions in a second are at most 5 messages in any second", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    for (let ms = 0; ms < 1000; ms++) {
      for (let k = 0; k < 10; k++) c.add(transition(k % 2 ? "acme" : "globex", ms * 10 + k, 1));
      vi.advanceTimersByTime(1);
    }
    vi.advanceTimersByTime(INTERVAL);
    // At once, then every interval: 0, 200, …, 800 in the first second, 1,000 for the rest.
    expect(r.flushes).toHaveLength(6);
    expect(r.at.filter((t) => t - r.at[0] < 1000)).toHaveLength(5);
    const gaps = r.at.slice(1).map((t, i) => t - r.at[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(INTERVAL);
    // Every task once, in exactly one message.
    const sent = r.flushes.flatMap((f) => Object.values(f).flatMap((o) => o.taskIds));
    expect(sent).toHaveLength(10_000);
    expect(new Set(sent).size).toBe(10_000);
  });

  test("after a quiet interval, the next change goes at once again", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    c.add(transition("acme", 1));
    vi.advanceTimersByTime(INTERVAL);
    expect(r.flushes).toHaveLength(1);
    vi.advanceTimersByTime(1000);
    expect(r.flushes).toHaveLength(1);
    const t0 = Date.now();
    c.add(transition("acme", 2));
    vi.advanceTimersByTime(0);
    expect(r.flushes).toEqual([{ acme: { taskIds: [1], fanoutIds: [] } }, { acme: { taskIds: [2], fanoutIds: [] } }]);
    expect(r.at[1] - t0).toBe(0);
  });

  test("a batch handed over is not touched by later changes", () => {
    const batches: PendingChanges[] = [];
    const c = new Coalescer(INTERVAL, (changes) => void batches.push(changes));
    c.add(transition("acme", 1));
    vi.advanceTimersByTime(INTERVAL);
    c.add(transition("acme", 2));
    c.add(transition("globex", 3));
    expect([...batches[0].keys()]).toEqual(["acme"]);
    expect([...batches[0].get("acme")!.taskIds]).toEqual([1]);
  });

  test("a change made while the batch is being sent waits for the next interval", () => {
    const r = recorder();
    let reentered = false;
    const c: Coalescer = new Coalescer(INTERVAL, (changes) => {
      r.flush(changes);
      // What the send does (reading the database) may itself cause no event, but a verb
      // running meanwhile could: it belongs to the next message.
      if (!reentered) {
        reentered = true;
        c.add(transition("acme", 99));
      }
    });
    c.add(transition("acme", 1));
    vi.advanceTimersByTime(INTERVAL - 1);
    expect(r.flushes).toEqual([{ acme: { taskIds: [1], fanoutIds: [] } }]);
    vi.advanceTimersByTime(1);
    expect(r.flushes).toEqual([{ acme: { taskIds: [1], fanoutIds: [] } }, { acme: { taskIds: [99], fanoutIds: [] } }]);
  });

  test("under a steady stream a batch is read ahead, as long before the interval ends as the last reads took, and leaves when the interval has passed", async () => {
    // The first read takes 80 ms, the second none.
    const { started, sent, read } = timedReads((i) => [80, 0][i]);
    const c = new Coalescer(INTERVAL, read);
    const t0 = Date.now();
    c.add(transition("acme", 1));
    await vi.advanceTimersByTimeAsync(1);
    c.add(transition("acme", 2));
    await vi.advanceTimersByTimeAsync(1000);
    // Quiet: read at once and sent when read. Then the average read time so far (a quarter
    // of 80 ms, from none) ahead of the interval's end: read at 260, held until 280.
    expect(started.map((t) => t - t0)).toEqual([0, 80 + INTERVAL - 20]);
    expect(sent.map((t) => t - t0)).toEqual([80, 80 + INTERVAL]);
  });

  test("a read slower than the interval is never overlapped, and reads start at most half an interval ahead", async () => {
    // The first read takes 500 ms (a busy database), the rest none.
    const { started, sent, read, mostAtOnce } = timedReads((i) => [500, 0, 0][i]);
    const c = new Coalescer(INTERVAL, read);
    const t0 = Date.now();
    c.add(transition("acme", 1));
    await vi.advanceTimersByTimeAsync(10);
    c.add(transition("acme", 2));
    await vi.advanceTimersByTimeAsync(300);
    c.add(transition("acme", 3));
    await vi.advanceTimersByTimeAsync(2000);
    expect(mostAtOnce()).toBe(1);
    // Changes 2 and 3 came during the first read: one batch, read half an interval ahead.
    expect(started.map((t) => t - t0)).toEqual([0, 500 + INTERVAL / 2]);
    expect(sent.map((t) => t - t0)).toEqual([500, 500 + INTERVAL]);
  });

  test("however the reads vary, patches never leave closer together than the interval", async () => {
    // Reads that alternate long and short: read ahead by the average, a short one after a
    // long one is ready early and waits.
    const { sent, read } = timedReads((i) => (i % 2 ? 5 : 90));
    const c = new Coalescer(INTERVAL, read);
    for (let ms = 0; ms < 3000; ms += 7) {
      c.add(transition("acme", ms));
      await vi.advanceTimersByTimeAsync(7);
    }
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent.length).toBeGreaterThan(10);
    const gaps = sent.slice(1).map((t, i) => t - sent[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(INTERVAL);
    // Read ahead, not after: the stream's patches come less than a long read later than the interval.
    expect(Math.max(...gaps.slice(2))).toBeLessThan(INTERVAL + 90);
  });

  test("stop() while a batch waits to leave: it never leaves", async () => {
    const sent: number[] = [];
    const c = new Coalescer(INTERVAL, async () => () => void sent.push(Date.now()));
    c.add(transition("acme", 1));
    await vi.advanceTimersByTimeAsync(1);
    c.add(transition("acme", 2));
    await vi.advanceTimersByTimeAsync(INTERVAL - 10);
    c.stop();
    await vi.advanceTimersByTimeAsync(INTERVAL * 3);
    expect(sent).toHaveLength(1);
  });

  test("stop() drops what is pending and sends nothing more", () => {
    const r = recorder();
    const c = new Coalescer(INTERVAL, r.flush);
    c.add(transition("acme", 1));
    c.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(INTERVAL * 3);
    expect(r.flushes).toHaveLength(0);
  });
});
