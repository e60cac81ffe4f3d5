import { eq, inArray } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { rawRun } from "../support/raw";
import { tasks } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { canTransition, CLOCK_MAX_SLEEP_MS, FINAL_STATUSES, isFinal, LEASE_MINUTES, TASK_STATUSES, TRANSITIONS, TTL_SECONDS, type TaskStatus } from "../../rules/tasks";
import { soonestDueAfter, wakesClock } from "../../lib/tasks/due";
import { IllegalTransitionError, transitionTasks } from "../../lib/tasks/transition";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { capture, expectRejectionMatching, rejection, taskByCode, taskInStatus, walk } from "./helpers";

const db = await freshDb();
const { org, actor } = await makeOrg(db);
const [device] = await makeDevices(db, org.id, 1, { prefix: "sm" });

const pairs = TASK_STATUSES.flatMap((from) => TASK_STATUSES.map((to) => ({ from, to })));
const legal = pairs.filter(({ from, to }) => TRANSITIONS[from].includes(to));
const illegal = pairs.filter(({ from, to }) => !TRANSITIONS[from].includes(to));

const rawStatusUpdate = (to: TaskStatus, id: number) => rawRun(db, "UPDATE tasks SET status=? WHERE id=?", to, id);
const statusOf = async (id: number) => (await db.select({ s: tasks.status }).from(tasks).where(eq(tasks.id, id)))[0]!.s;

describe("the transition table", () => {
  test("is exactly the one the product specifies", () => {
    expect(TRANSITIONS).toEqual({
      SCHEDULED: ["PENDING", "CANCELLED"],
      PENDING: ["IN_PROGRESS", "CANCELLED", "EXPIRED"],
      IN_PROGRESS: ["COMPLETED", "FAILED"],
      COMPLETED: [],
      FAILED: [],
      CANCELLED: [],
      EXPIRED: [],
    });
    expect(legal).toHaveLength(7);
    expect(illegal).toHaveLength(49 - 7);
    for (const s of FINAL_STATUSES) expect(TRANSITIONS[s]).toEqual([]);
  });

  test("the helpers produce a task in every status", async () => {
    for (const s of TASK_STATUSES) expect((await taskInStatus(db, actor, device.name, s)).status).toBe(s);
  });
});

describe.each(legal)("legal $from -> $to", ({ from, to }) => {
  test("succeeds through transitionTasks with exactly one event", async () => {
    const task = await taskInStatus(db, actor, device.name, from);
    const at = new Date(Date.now() + 5_000);
    // transitionTasks returns its events: publishing is its caller's job, after commit.
    const { result, events: published } = await capture(() => withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from, to, message: `moved to ${to}`, at })));
    expect(published).toEqual([]);
    expect(result.rows).toHaveLength(1);
    expect(result.rows[0]).toMatchObject({ id: task.id, status: to, message: `moved to ${to}` });
    expect(result.rows[0].updatedAt.getTime()).toBe(at.getTime());
    expect(result.events).toEqual([
      {
        kind: "task.transition",
        organizationId: org.id,
        taskId: task.id,
        code: task.code,
        deviceId: device.id,
        fanoutId: task.fanoutId,
        type: "SYNC",
        from,
        to,
        at: at.getTime(),
      },
    ]);
    expect((await statusOf(task.id))).toBe(to);
  });

  test("is allowed by the database trigger", async () => {
    const task = await taskInStatus(db, actor, device.name, from);
    expect(await rawStatusUpdate(to, task.id)).toBe(1);
    expect((await statusOf(task.id))).toBe(to);
  });
});

describe.each(illegal)("illegal $from -> $to", ({ from, to }) => {
  test("is refused by transitionTasks and changes nothing", async () => {
    const task = await taskInStatus(db, actor, device.name, from);
    const { result: err, events } = await capture(() => rejection(() => withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from, to }))));
    expect(err).toBeInstanceOf(IllegalTransitionError);
    expect((err as Error).message).toBe(`Illegal task transition ${from} -> ${to}`);
    expect(events).toEqual([]);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });

  test("is refused by the database trigger (or is a no-op write of an open status)", async () => {
    const task = await taskInStatus(db, actor, device.name, from);
    if (from === to && !isFinal(from)) {
      // Writing the same status again is not a transition: the trigger only guards changes.
      expect(await rawStatusUpdate(to, task.id)).toBe(1);
    } else {
      await expectRejectionMatching(rawStatusUpdate(to, task.id), isFinal(from) ? /task_final|task_transition/ : /task_transition/);
    }
    expect((await taskByCode(db, task.code))).toEqual(task);
  });
});

describe("canTransition", () => {
  test("agrees with the table for every pair", () => {
    for (const { from, to } of pairs) expect(canTransition(from, to)).toBe(TRANSITIONS[from].includes(to));
  });
});

describe.each(FINAL_STATUSES)("a %s task is immutable in the database", (status) => {
  test.each([
    ["message", "UPDATE tasks SET message = 'rewritten' WHERE id = ?"],
    ["payload", `UPDATE tasks SET payload = '{"x":1}' WHERE id = ?`],
    ["updated_at", "UPDATE tasks SET updated_at = updated_at + 1 WHERE id = ?"],
    ["finished_at", "UPDATE tasks SET finished_at = NULL WHERE id = ?"],
    ["rerun_of", "UPDATE tasks SET rerun_of = 'AAAAAAAA' WHERE id = ?"],
    ["status (same value)", `UPDATE tasks SET status = '${status}' WHERE id = ?`],
  ])("UPDATE of %s is refused", async (_col, sqlText) => {
    const task = await taskInStatus(db, actor, device.name, status);
    await expectRejectionMatching(rawRun(db, sqlText, task.id), /task_final/);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });

  test("UPDATE through drizzle is refused", async () => {
    const task = await taskInStatus(db, actor, device.name, status);
    await expectRejectionMatching(
      withTransaction({ db }, async (tx) => {
        await tx.update(tasks).set({ message: "nope" }).where(eq(tasks.id, task.id));
      }),
      /task_final/,
    );
    expect((await taskByCode(db, task.code)).message).toBe(task.message);
  });

  test("DELETE is refused", async () => {
    const task = await taskInStatus(db, actor, device.name, status);
    await expectRejectionMatching(rawRun(db, "DELETE FROM tasks WHERE id = ?", task.id), /task_final/);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });
});

describe("a stale transition", () => {
  test.each([
    ["SCHEDULED", "PENDING", "IN_PROGRESS"],
    ["PENDING", "SCHEDULED", "PENDING"],
    ["IN_PROGRESS", "PENDING", "CANCELLED"],
    ["COMPLETED", "IN_PROGRESS", "FAILED"],
    ["CANCELLED", "PENDING", "EXPIRED"],
  ] as const)("on a %s task claiming from %s moves nothing and emits nothing", async (actual, from, to) => {
    const task = await taskInStatus(db, actor, device.name, actual);
    const { rows, events } = await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from, to, message: "stale" }));
    expect(rows).toEqual([]);
    expect(events).toEqual([]);
    expect((await taskByCode(db, task.code))).toEqual(task);
  });

  test("over several rows moves only those in `from`, one event each", async () => {
    const pending = [await taskInStatus(db, actor, device.name, "PENDING"), await taskInStatus(db, actor, device.name, "PENDING")];
    const others = [await taskInStatus(db, actor, device.name, "SCHEDULED"), await taskInStatus(db, actor, device.name, "IN_PROGRESS")];
    const ids = [...pending, ...others].map((t) => t.id);
    const { rows, events } = await withTransaction({ db }, (tx) => transitionTasks(tx, { where: inArray(tasks.id, ids), from: "PENDING", to: "EXPIRED" }));
    expect(rows.map((r) => r.id).sort()).toEqual(pending.map((t) => t.id).sort());
    expect(events.map((e) => [e.taskId, e.from, e.to]).sort()).toEqual(pending.map((t) => [t.id, "PENDING", "EXPIRED"]).sort());
    for (const t of others) expect((await taskByCode(db, t.code))).toEqual(t);
  });
});

describe("timestamps", () => {
  test("a new task has neither startedAt nor finishedAt; SCHEDULED -> PENDING sets neither", async () => {
    const scheduled = await taskInStatus(db, actor, device.name, "SCHEDULED");
    expect(scheduled.startedAt).toBeNull();
    expect(scheduled.finishedAt).toBeNull();
    const pending = await walk(db, scheduled, ["PENDING"]);
    expect(pending.startedAt).toBeNull();
    expect(pending.finishedAt).toBeNull();
  });

  test("IN_PROGRESS sets startedAt, a final status sets finishedAt and keeps startedAt", async () => {
    const task = await taskInStatus(db, actor, device.name, "PENDING");
    const t1 = new Date(Date.now() + 1_000);
    const t2 = new Date(Date.now() + 9_000);
    const started = (await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from: "PENDING", to: "IN_PROGRESS", at: t1 }))).rows[0];
    expect(started.startedAt?.getTime()).toBe(t1.getTime());
    expect(started.finishedAt).toBeNull();
    const done = (await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from: "IN_PROGRESS", to: "COMPLETED", message: "ok", at: t2 }))).rows[0];
    expect(done.startedAt?.getTime()).toBe(t1.getTime());
    expect(done.finishedAt?.getTime()).toBe(t2.getTime());
    expect(done.updatedAt.getTime()).toBe(t2.getTime());
    expect(done.message).toBe("ok");
  });

  test.each(FINAL_STATUSES)("reaching %s sets finishedAt", async (status) => {
    const task = await taskInStatus(db, actor, device.name, status);
    expect(task.finishedAt).toBeInstanceOf(Date);
    expect(task.finishedAt!.getTime()).toBe(task.updatedAt.getTime());
  });

  test("without a message the message is left as it was", async () => {
    const task = await taskInStatus(db, actor, device.name, "PENDING");
    const moved = (await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from: "PENDING", to: "IN_PROGRESS", message: "taken" }))).rows[0];
    expect(moved.message).toBe("taken");
    const done = (await withTransaction({ db }, (tx) => transitionTasks(tx, { where: eq(tasks.id, task.id), from: "IN_PROGRESS", to: "FAILED" }))).rows[0];
    expect(done.message).toBe("taken");
  });
});

describe("what a transition can make due (the clock re-reads only when it may be sooner than its wake)", () => {
  test("a scheduled creation may be due at once; a waiting one expires no sooner than the shortest TTL; a start runs its type's lease; the rest make nothing due", () => {
    expect(soonestDueAfter({ from: null, to: "SCHEDULED", type: "SYNC" })).toBe(0);
    expect(soonestDueAfter({ from: null, to: "PENDING", type: "SYNC" })).toBe(TTL_SECONDS.min * 1000);
    expect(soonestDueAfter({ from: "PENDING", to: "IN_PROGRESS", type: "PING" })).toBe(2 * 60_000);
    expect(soonestDueAfter({ from: "PENDING", to: "IN_PROGRESS", type: "FIRMWARE_UPGRADE" })).toBe(LEASE_MINUTES.FIRMWARE_UPGRADE * 60_000);
    for (const [from, to] of [["SCHEDULED", "PENDING"], ["IN_PROGRESS", "COMPLETED"], ["PENDING", "CANCELLED"], ["PENDING", "EXPIRED"]] as const) {
      expect(soonestDueAfter({ from, to, type: "SYNC" })).toBeNull();
    }
  });
  test("a clock is woken (here, and by a hint on the other nodes) only for what may fall due before its longest sleep ends", () => {
    expect(wakesClock(soonestDueAfter({ from: null, to: "SCHEDULED", type: "SYNC" }), CLOCK_MAX_SLEEP_MS)).toBe(true);
    // Created to run now, a task expires a minute later at the soonest: not before a 60 s sleep ends, before a 2 min one.
    expect(wakesClock(soonestDueAfter({ from: null, to: "PENDING", type: "SYNC" }), CLOCK_MAX_SLEEP_MS)).toBe(false);
    expect(wakesClock(soonestDueAfter({ from: null, to: "PENDING", type: "SYNC" }), 2 * 60_000)).toBe(true);
    expect(wakesClock(soonestDueAfter({ from: "PENDING", to: "IN_PROGRESS", type: "PING" }), CLOCK_MAX_SLEEP_MS)).toBe(false);
    expect(wakesClock(soonestDueAfter({ from: "PENDING", to: "IN_PROGRESS", type: "PING" }), 3 * 60_000)).toBe(true);
    expect(wakesClock(soonestDueAfter({ from: "IN_PROGRESS", to: "COMPLETED", type: "PING" }), 3_600_000)).toBe(false);
    // The default sleep is no longer than the shortest time to live or any lease.
    expect(CLOCK_MAX_SLEEP_MS).toBeLessThanOrEqual(Math.min(TTL_SECONDS.min * 1000, ...Object.values(LEASE_MINUTES).map((m) => m * 60_000)));
  });
});
