// Recurring schedules on a real migrated database, the clock driven by the time each step is
// given: every due time runs once (across restarts and racing clocks), a run linked to its
// fan-out, missed ones caught up or skipped as chosen, and daylight-saving neither doubles nor
// drops a nightly run.
import { and, asc, count, eq } from "drizzle-orm";
import { describe, expect, test, vi } from "vitest";
import { fanouts, member, scheduleRuns, schedules, tasks } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { createSchedule, deleteSchedule, getSchedule, runDueSchedules, setScheduleEnabled, updateSchedule } from "../../lib/schedules/schedules";
import { nextRuns } from "../../lib/schedules/cron";
import { freshDb } from "../support/db";
import { actorAs, makeDevices, makeOrg } from "../support/factories";
import { expectDomainError } from "./helpers";
import { disableDevice } from "../../lib/devices/devices";
import { ScheduleClock } from "../../lib/server/schedule-clock";
import { failingWrites } from "../support/raw";

const db = await freshDb();
const MIN = 60_000;

async function fleet(n = 2) {
  const { org, actor, owner } = await makeOrg(db);
  const devices = await makeDevices(db, org.id, n);
  return { org, actor: { ...actor, principal: `user:${actor.userId}` }, owner, devices, ctx: { db, actor } };
}

const spec = (over: Record<string, unknown> = {}) => ({ name: `sync ${Math.random().toString(36).slice(2, 8)}`, type: "SYNC", targets: { all: true }, cron: "* * * * *", timezone: "UTC", ...over });

/** What a step ran of this one schedule (the database holds other tests' schedules too). */
const ranOf = (step: { ran: { scheduleId: number }[] }, id: number) => step.ran.filter((r) => r.scheduleId === id);

const runsOf = async (scheduleId: number, on = db) =>
  on.select().from(scheduleRuns).where(eq(scheduleRuns.scheduleId, scheduleId)).orderBy(asc(scheduleRuns.dueAt));

describe("saving a schedule", () => {
  test("bad input names its field and saves nothing: a cron that does not parse, seconds, one that never fires, an unknown zone", async () => {
    const { ctx, org } = await fleet();
    for (const [over, field, message] of [
      [{ cron: "61 * * * *" }, "cron", /Invalid value for minute/],
      [{ cron: "every day" }, "cron", /five fields/],
      [{ cron: "*/30 * * * * *" }, "cron", /at most once a minute/],
      [{ cron: "0 0 30 2 *" }, "cron", /never fires/],
      [{ cron: "15 4 31 4,6 *" }, "cron", /never fires/],
      [{ timezone: "Mars/Olympus" }, "timezone", /Unknown time zone/],
      [{ name: "" }, "name", /required/],
      [{ type: "EXPLODE" }, "type", /Unknown type/],
      [{ ttl_seconds: 5 }, "ttl_seconds", /at least 1 minute/],
      [{ rollout: { canary: "500%" } }, "rollout.canary", /between 1 and 100/],
    ] as const) {
      const e = await expectDomainError(() => createSchedule(ctx, spec(over)), "invalid");
      expect(Object.keys(e.fieldErrors ?? {})).toContain(field);
      expect(e.fieldErrors?.[field]?.[0]).toMatch(message);
    }
    expect((await db.select({ n: count() }).from(schedules).where(eq(schedules.organizationId, org.id)))[0].n).toBe(0);
  });

  test("READ_ONLY may not; names are unique in an organization; the next run is the next minute", async () => {
    const { ctx, actor } = await fleet();
    await expectDomainError(() => createSchedule({ db, actor: actorAs(actor, "READ_ONLY") }, spec()), "forbidden");
    const t0 = new Date("2026-12-01T10:00:30Z");
    const s = await createSchedule(ctx, spec({ name: "hourly sync", cron: "0 * * * *" }), t0);
    expect(s.nextRunAt).toEqual(new Date("2026-12-01T11:00:00Z"));
    await expectDomainError(() => createSchedule(ctx, spec({ name: "hourly sync" })), "conflict");
    const paused = await setScheduleEnabled(ctx, s.id, false, t0);
    expect(paused.nextRunAt).toBeNull();
    await expectDomainError(() => setScheduleEnabled(ctx, s.id, false, t0), "conflict");
    const changed = await updateSchedule(ctx, s.id, spec({ name: "hourly sync", cron: "30 * * * *", enabled: true }), t0);
    expect(changed.nextRunAt).toEqual(new Date("2026-12-01T10:30:00Z"));
    await deleteSchedule(ctx, s.id);
    await expectDomainError(() => getSchedule(ctx, s.id), "not_found");
  });

  test("a change without `enabled` keeps the schedule paused or running; with it, sets it", async () => {
    const { ctx } = await fleet();
    const t0 = new Date("2026-12-01T10:00:30Z");
    const s = await createSchedule(ctx, spec({ cron: "0 * * * *" }), t0);
    await setScheduleEnabled(ctx, s.id, false, t0);
    const stillPaused = await updateSchedule(ctx, s.id, spec({ name: s.name, cron: "15 * * * *" }), t0);
    expect(stillPaused).toMatchObject({ enabled: false, nextRunAt: null, cron: "15 * * * *" });
    const resumed = await updateSchedule(ctx, s.id, spec({ name: s.name, cron: "15 * * * *", enabled: true }), t0);
    expect(resumed).toMatchObject({ enabled: true, nextRunAt: new Date("2026-12-01T10:15:00Z") });
    const stillRunning = await updateSchedule(ctx, s.id, spec({ name: s.name, cron: "45 * * * *" }), t0);
    expect(stillRunning).toMatchObject({ enabled: true, nextRunAt: new Date("2026-12-01T10:45:00Z") });
  });
});

describe("the clock", () => {
  test("a schedule every minute runs three times in three minutes, each run a fan-out linked to it", async () => {
    const { ctx } = await fleet(3);
    const t0 = new Date("2026-12-01T10:00:10Z");
    const s = await createSchedule(ctx, spec(), t0);
    for (let m = 1; m <= 3; m++) {
      const at = new Date(t0.getTime() + m * MIN);
      const step = await runDueSchedules({ db }, at);
      expect(ranOf(step, s.id)).toEqual([{ scheduleId: s.id, dueAt: new Date(`2026-12-01T10:0${m}:00Z`), outcome: "issued", fanout: expect.stringMatching(/^[0-9A-Za-z]{8}$/) }]);
      // Looked at again within the same minute: nothing more.
      expect(ranOf(await runDueSchedules({ db }, new Date(at.getTime() + 20_000)), s.id)).toEqual([]);
    }
    const runs = await runsOf(s.id);
    expect(runs.map((r) => r.outcome)).toEqual(["issued", "issued", "issued"]);
    for (const r of runs) {
      const [f] = await db.select().from(fanouts).where(eq(fanouts.id, r.fanoutId!));
      expect(f.total).toBe(3);
      expect((await db.select({ n: count() }).from(tasks).where(eq(tasks.fanoutId, f.id)))[0].n).toBe(3);
    }
    const detail = await getSchedule(ctx, s.id, new Date(t0.getTime() + 3 * MIN));
    expect(detail.runs.map((r) => r.fanout)).toHaveLength(3);
    expect(detail.nextRuns).toHaveLength(5);
  });

  test("two clocks at once (two nodes, or a restart racing itself) fire a due time once", async () => {
    const { ctx } = await fleet(2);
    const t0 = new Date("2026-12-01T10:00:10Z");
    const s = await createSchedule(ctx, spec(), t0);
    const at = new Date(t0.getTime() + MIN);
    const [a, b, c] = await Promise.all([runDueSchedules({ db }, at), runDueSchedules({ db }, at), runDueSchedules({ db }, at)]);
    expect(ranOf(a, s.id).length + ranOf(b, s.id).length + ranOf(c, s.id).length).toBe(1);
    expect(await runsOf(s.id)).toHaveLength(1);
    expect((await db.select({ n: count() }).from(tasks).where(eq(tasks.organizationId, s.organizationId)))[0].n).toBe(2);
  });

  test.each([true, false])("a server stopped across due times: catch up %s runs the latest once, or records it skipped", async (catchUp) => {
    const { ctx } = await fleet(1);
    const t0 = new Date("2026-12-01T10:00:10Z");
    const s = await createSchedule(ctx, spec({ cron: "*/5 * * * *", catch_up: catchUp }), t0);
    // Back 32 minutes later: 10:05 … 10:30 were missed.
    const back = new Date("2026-12-01T10:32:00Z");
    const step = await runDueSchedules({ db }, back);
    expect(ranOf(step, s.id)).toEqual([{ scheduleId: s.id, dueAt: new Date("2026-12-01T10:30:00Z"), outcome: catchUp ? "issued" : "skipped", fanout: catchUp ? expect.any(String) : null }]);
    const runs = await runsOf(s.id);
    expect(runs).toHaveLength(1);
    if (!catchUp) expect(runs[0].reason).toMatch(/Missed while the server was down.*does not catch up/);
    const [row] = await db.select().from(schedules).where(eq(schedules.id, s.id));
    expect(row.nextRunAt).toEqual(new Date("2026-12-01T10:35:00Z"));
    expect(ranOf(await runDueSchedules({ db }, back), s.id)).toEqual([]);
  });

  test("a due time the clock looked at on time is not missed because its step came minutes later (hundreds due at once)", async () => {
    const { ctx } = await fleet(1);
    const t0 = new Date("2026-12-01T10:00:10Z");
    const s = await createSchedule(ctx, spec({ cron: "0 * * * *" }), t0);
    const looked = new Date("2026-12-01T11:00:05Z");
    const step = await runDueSchedules({ db }, new Date("2026-12-01T11:03:00Z"), looked);
    expect(ranOf(step, s.id)).toEqual([{ scheduleId: s.id, dueAt: new Date("2026-12-01T11:00:00Z"), outcome: "issued", fanout: expect.any(String) }]);
  });

  test("a run whose target resolves to nothing is recorded as skipped with the reason; so is one whose owner may no longer issue", async () => {
    const { ctx, devices, org, owner } = await fleet(1);
    const t0 = new Date("2026-12-01T10:00:10Z");
    const s = await createSchedule(ctx, spec({ targets: { devices: [devices[0].name] } }), t0);
    await disableDevice(ctx, devices[0].id);
    await runDueSchedules({ db }, new Date(t0.getTime() + MIN));
    let runs = await runsOf(s.id);
    expect(runs.map((r) => [r.outcome, r.reason])).toEqual([["skipped", expect.stringMatching(/do not resolve to enabled devices|no enabled devices/)]]);

    await withTransaction({ db }, (tx) => tx.update(member).set({ role: "READ_ONLY" }).where(and(eq(member.userId, owner.id), eq(member.organizationId, org.id))));
    await runDueSchedules({ db }, new Date(t0.getTime() + 2 * MIN));
    runs = await runsOf(s.id);
    expect(runs[1]).toMatchObject({ outcome: "skipped", reason: expect.stringMatching(/is now READ_ONLY and may not issue tasks/) });
  });

  test.each([
    ["spring forward", "2026-03-27T12:00:00Z"],
    ["fall back", "2026-10-23T12:00:00Z"],
  ])("daylight saving (%s) neither doubles nor drops a nightly 02:30 run in Europe/Berlin", async (_, start) => {
    const { ctx } = await fleet(1);
    const t0 = new Date(start);
    const s = await createSchedule(ctx, spec({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), t0);
    // The clock looks every ten minutes for four days.
    for (let at = t0.getTime(); at <= t0.getTime() + 4 * 86_400_000; at += 10 * MIN) await runDueSchedules({ db }, new Date(at));
    const runs = await runsOf(s.id);
    const days = runs.map((r) => new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Berlin", year: "numeric", month: "2-digit", day: "2-digit" }).format(r.dueAt));
    expect(runs.every((r) => r.outcome === "issued")).toBe(true);
    expect(new Set(days).size).toBe(days.length);
    expect(days).toHaveLength(4);
    // The preview agrees with the clock.
    expect(nextRuns("30 2 * * *", "Europe/Berlin", t0, 4)).toEqual(runs.map((r) => r.dueAt));
  });
});

describe("the clock", () => {
  test("a run the database keeps refusing is tried again a second later, then less often, never in a loop; it runs once the database takes it", async () => {
    // A database of its own: the clock runs every schedule due in it.
    const own = await freshDb();
    const { org, actor } = await makeOrg(own);
    await makeDevices(own, org.id, 1);
    const s = await createSchedule({ db: own, actor }, spec(), new Date("2026-12-01T10:00:30Z"));
    const due = new Date(s.nextRunAt!.getTime() + 1_000);
    const restore = await failingWrites(own, "fanouts", "INSERT", "database or disk is full");
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const attempts = () => errors.mock.calls.filter((c) => String(c[0]).includes(`Running schedule ${s.id} failed`)).length;
    const clock = new ScheduleClock(own, 60_000, () => due);
    try {
      clock.start();
      await vi.waitFor(() => expect(attempts()).toBeGreaterThanOrEqual(1), { timeout: 30_000, interval: 10 });
      await new Promise((r) => setTimeout(r, 1_500));
      // Before: each failure slept 0 ms until the same due time, hundreds of tries a second.
      expect(attempts()).toBeLessThanOrEqual(2);
      expect(await runsOf(s.id, own)).toEqual([]);

      await restore();
      await vi.waitFor(async () => expect(await runsOf(s.id, own)).toHaveLength(1), { timeout: 30_000, interval: 50 });
      const [run] = await runsOf(s.id, own);
      expect(run.outcome).toBe("issued");
      expect(run.dueAt).toEqual(s.nextRunAt);
    } finally {
      await clock.stop();
      errors.mockRestore();
    }
  });
});
