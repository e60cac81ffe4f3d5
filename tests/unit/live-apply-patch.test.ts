// applyPatch() from the task list's client island (app/(console)/tasks/live-task-list.tsx):
// how one coalesced patch folds into what the list shows, and how a server render replaces
// it (fresh). Pure: no React, no socket.
import { describe, expect, test } from "vitest";
import { applyPatch, fresh } from "../../app/(console)/tasks/live-task-list";
import type { LiveFanout, LivePatch, LiveTaskRow } from "../../lib/live/protocol";
import type { TaskStatus } from "../../rules/tasks";

type View = Parameters<typeof applyPatch>[0];
type Options = Parameters<typeof applyPatch>[2];

const T0 = Date.parse("2026-11-24T10:00:00.000Z");
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

/** A task row; `at` is its updatedAt in seconds after T0. */
function row(id: number, status: TaskStatus = "PENDING", at = 0, over: Partial<LiveTaskRow> = {}): LiveTaskRow {
  return {
    id,
    code: `T${String(id).padStart(7, "0")}`,
    type: "SYNC",
    status,
    device: `fw-ams-${String(id % 70).padStart(2, "0")}`,
    organization: "Acme Corp",
    fanout: "FANOUT01",
    message: null,
    scheduledAt: null,
    wave: null,
    createdAt: iso(0),
    updatedAt: iso(at),
    expiresAt: iso(86_400),
    startedAt: null,
    finishedAt: null,
    ...over,
  };
}

function view(rows: LiveTaskRow[], over: Partial<View> = {}): View {
  return { renderedAt: "r1", rows, held: [], leaving: new Set(), flash: new Set(), fanouts: [], hasOlder: false, hasNewer: false, ...over };
}

const patch = (tasks: LiveTaskRow[], fanouts: LiveFanout[] = []): LivePatch => ({ at: iso(100), sent: iso(100), tasks, truncated: false, fanouts });
const OPTS: Options = { filter: {}, firstPage: true, hold: false, pageSize: 30 };
const codes = (rows: LiveTaskRow[]) => rows.map((r) => r.id);

function fanout(code: string, createdAt: number, total: number, done = 0): LiveFanout {
  return { code, type: "SYNC", total, createdAt: iso(createdAt), lastFinishedAt: null, outcome: done === total ? "completed" : "running", counts: { SCHEDULED: 0, PENDING: total - done, IN_PROGRESS: 0, COMPLETED: done, FAILED: 0, CANCELLED: 0, EXPIRED: 0 }, pauseReason: null, wave: null };
}

/** The parts of a view a person sees (flash is a momentary highlight, reset by every patch). */
const shown = (v: View) => ({ rows: v.rows, held: v.held, leaving: [...v.leaving].sort(), hasOlder: v.hasOlder, fanouts: v.fanouts });

describe("rows already shown", () => {
  test("change in place: same order, the new state, a flash where the status changed", () => {
    const v = view([row(3), row(2), row(1)]);
    const next = applyPatch(v, patch([row(2, "IN_PROGRESS", 5)]), OPTS);
    expect(codes(next.rows)).toEqual([3, 2, 1]);
    expect(next.rows[1]).toEqual(row(2, "IN_PROGRESS", 5));
    expect([...next.flash]).toEqual([row(2).code]);
    // Untouched rows are the very same objects: React keeps their DOM as it is.
    expect(next.rows[0]).toBe(v.rows[0]);
    expect(next.rows[2]).toBe(v.rows[2]);
    expect(next.held).toEqual([]);
  });

  test("a change that keeps the status (a new message) updates without a flash", () => {
    const next = applyPatch(view([row(1, "IN_PROGRESS", 1)]), patch([row(1, "IN_PROGRESS", 2, { message: "50% done" })]), OPTS);
    expect(next.rows[0].message).toBe("50% done");
    expect(next.flash.size).toBe(0);
  });

  test("a state older than the one shown is ignored", () => {
    const v = view([row(1, "COMPLETED", 10, { message: "done" })]);
    const next = applyPatch(v, patch([row(1, "IN_PROGRESS", 5)]), OPTS);
    expect(next.rows[0]).toEqual(row(1, "COMPLETED", 10, { message: "done" }));
    expect(next.flash.size).toBe(0);
  });

  test("a row that no longer matches the filters is updated, marked leaving (to fade), and not flashed", () => {
    const opts: Options = { ...OPTS, filter: { status: "PENDING" } };
    const v = view([row(2), row(1)]);
    const next = applyPatch(v, patch([row(1, "CANCELLED", 3)]), opts);
    expect(codes(next.rows)).toEqual([2, 1]);
    expect(next.rows[1].status).toBe("CANCELLED");
    expect([...next.leaving]).toEqual([row(1).code]);
    expect(next.flash.size).toBe(0);
    // Leaving stays marked across later patches until the fade removes it.
    const later = applyPatch(next, patch([row(2, "PENDING", 4, { message: "queued" })]), opts);
    expect([...later.leaving]).toEqual([row(1).code]);
  });
});

describe("new tasks", () => {
  test("newer than the top row: they enter at the top, newest first, flashed", () => {
    const v = view([row(10), row(9)]);
    const next = applyPatch(v, patch([row(11), row(13), row(12)]), OPTS);
    expect(codes(next.rows)).toEqual([13, 12, 11, 10, 9]);
    expect(new Set(next.flash)).toEqual(new Set([row(11).code, row(12).code, row(13).code]));
    expect(next.held).toEqual([]);
  });

  test("older unknown tasks belong to other pages and are left out", () => {
    const next = applyPatch(view([row(10), row(9)]), patch([row(5, "COMPLETED", 3)]), OPTS);
    expect(codes(next.rows)).toEqual([10, 9]);
    expect(next.held).toEqual([]);
  });

  test("ones the filters exclude stay out; the filters are the list's (device: a case-insensitive substring)", () => {
    const opts: Options = { ...OPTS, filter: { device: "FW-NYC", type: "SYNC" } };
    const v = view([row(1, "PENDING", 0, { device: "fw-nyc-01" })]);
    const next = applyPatch(
      v,
      patch([row(2, "PENDING", 0, { device: "fw-ams-01" }), row(3, "PENDING", 0, { device: "fw-nyc-07", type: "PING" }), row(4, "PENDING", 0, { device: "fw-nyc-09" })]),
      opts,
    );
    expect(codes(next.rows)).toEqual([4, 1]);
  });

  test("an empty list takes any matching task", () => {
    const next = applyPatch(view([]), patch([row(1), row(2)]), OPTS);
    expect(codes(next.rows)).toEqual([2, 1]);
  });

  test("past the page size the oldest rows drop to the next page", () => {
    const v = view([row(3), row(2), row(1)]);
    const next = applyPatch(v, patch([row(4), row(5)]), { ...OPTS, pageSize: 4 });
    expect(codes(next.rows)).toEqual([5, 4, 3, 2]);
    expect(next.hasOlder).toBe(true);
  });

  test("while the admin reads (hold), they wait as held rows and the table does not move", () => {
    const v = view([row(10), row(9)]);
    const held = applyPatch(v, patch([row(11), row(12)]), { ...OPTS, hold: true });
    expect(held.rows).toEqual(v.rows);
    expect(codes(held.held)).toEqual([12, 11]);
    expect(held.flash.size).toBe(0);

    // Held rows change in place too; newer arrivals go in front; one that stops matching is dropped.
    const opts: Options = { ...OPTS, hold: true, filter: { status: "PENDING" } };
    const more = applyPatch(held, patch([row(13), row(11, "PENDING", 2, { message: "queued" }), row(12, "CANCELLED", 2)]), opts);
    expect(codes(more.held)).toEqual([13, 11]);
    expect(more.held[1].message).toBe("queued");
    expect(more.rows).toEqual(v.rows);
  });

  test("on a later page they are held too, never pushed into the middle of the list", () => {
    const v = view([row(10), row(9)], { hasNewer: true });
    const next = applyPatch(v, patch([row(20)]), { ...OPTS, firstPage: false });
    expect(codes(next.rows)).toEqual([10, 9]);
    expect(codes(next.held)).toEqual([20]);
  });
});

describe("idempotence", () => {
  test("the same patch twice changes nothing more than once", () => {
    const v = view([row(3), row(2, "PENDING"), row(1)], { fanouts: [fanout("OLDFAN01", 0, 5)] });
    const p = patch([row(5), row(4), row(2, "IN_PROGRESS", 3), row(1, "CANCELLED", 3)], [fanout("FANOUT01", 1, 3, 1)]);
    const once = applyPatch(v, p, OPTS);
    const twice = applyPatch(once, p, OPTS);
    expect(shown(twice)).toEqual(shown(once));
    expect(codes(twice.rows)).toEqual([5, 4, 3, 2, 1]);
  });

  test("held rows are not held twice", () => {
    const p = patch([row(11)]);
    const once = applyPatch(view([row(10)]), p, { ...OPTS, hold: true });
    const twice = applyPatch(once, p, { ...OPTS, hold: true });
    expect(codes(twice.held)).toEqual([11]);
  });

  test("a row already shown is never added a second time, whatever its id", () => {
    const v = view([row(12), row(11)]);
    const next = applyPatch(v, patch([row(12, "IN_PROGRESS", 1)]), OPTS);
    expect(codes(next.rows)).toEqual([12, 11]);
  });
});

describe("fan-outs", () => {
  test("summaries replace by code, newest first; single-task fan-outs are not shown", () => {
    const v = view([], { fanouts: [fanout("AAAAAAA1", 10, 4, 1), fanout("BBBBBBB1", 5, 8)] });
    const next = applyPatch(v, patch([], [fanout("BBBBBBB1", 5, 8, 8), fanout("CCCCCCC1", 20, 3), fanout("DDDDDDD1", 30, 1)]), OPTS);
    expect(next.fanouts.map((f) => f.code)).toEqual(["CCCCCCC1", "AAAAAAA1", "BBBBBBB1"]);
    expect(next.fanouts[2].counts.COMPLETED).toBe(8);
  });

  test("a patch without fan-outs leaves them as they are", () => {
    const v = view([row(1)], { fanouts: [fanout("AAAAAAA1", 10, 4, 1)] });
    expect(applyPatch(v, patch([row(1, "IN_PROGRESS", 1)]), OPTS).fanouts).toBe(v.fanouts);
  });
});

describe("a new server render", () => {
  test("replaces the view, but a row a patch moved past what the render read keeps the patch's state", () => {
    // Shown: task 2 completed by a patch that arrived while the re-read was on its way.
    const before = applyPatch(view([row(3), row(2, "IN_PROGRESS", 5), row(1)]), patch([row(2, "COMPLETED", 9)]), OPTS);
    // The render read task 2 before it completed, task 1 after a change the view never saw, and a new task 4.
    const next = fresh({ renderedAt: "r2", since: T0, items: [row(4), row(3), row(2, "IN_PROGRESS", 5), row(1, "CANCELLED", 7)], fanouts: [], hasOlder: false, hasNewer: false }, before);
    expect(next.renderedAt).toBe("r2");
    expect(next.rows).toEqual([row(4), row(3), row(2, "COMPLETED", 9), row(1, "CANCELLED", 7)]);
    expect(next.held).toEqual([]);
    // Without a view before it (the first render), the render is taken as it is.
    expect(fresh({ renderedAt: "r1", since: T0, items: [row(2, "IN_PROGRESS", 5)], fanouts: [], hasOlder: false, hasNewer: false }).rows).toEqual([row(2, "IN_PROGRESS", 5)]);
  });
});
