// Retention: the purge is the one way a task or an audit row leaves the database. It takes
// finished fan-outs past their organization's retention, and the schedules' runs with them,
// keeps the bookkeeping exact, and leaves the immutability triggers as strict as before for
// everyone else.
import { and, count, eq } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { PROCESS_DIALECT } from "../../db/dialect";
import { writerConnection } from "../../db/client";
import { withTransaction } from "../../db/transaction";
import { auditEvents, fanouts, scheduleRuns, taskCounts, tasks } from "../../db/schema";
import { createSchedule, lastRuns } from "../../lib/schedules/schedules";
import { getOrganization, setRetention } from "../../lib/orgs/orgs";
import { issueFanout } from "../../lib/tasks/issue";
import { purgeExpired } from "../../lib/tasks/purge";
import { recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { expectDomainError, expectRejectionMatching } from "./helpers";

const db = await freshDb();
const DAY = 86_400_000;

/** An organization whose devices ran `fanouts` fan-outs to the end, and one still open. */
async function history(opts: { fanouts?: number; devices?: number } = {}) {
  const { org, actor } = await makeOrg(db);
  await makeDevices(db, org.id, opts.devices ?? 5);
  const finished: string[] = [];
  for (let i = 0; i < (opts.fanouts ?? 3); i++) {
    const r = await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
    const pending = await db.select({ code: tasks.code, deviceId: tasks.deviceId }).from(tasks).where(eq(tasks.organizationId, org.id));
    const mine = pending.filter((t) => r.tasks.some((x) => x.code === t.code));
    await recordAgentMoves({ db }, mine, []);
    await recordAgentMoves({ db }, [], mine.map((t, k) => ({ deviceId: t.deviceId, raw: { code: t.code, status: k % 2 ? "FAILED" : "COMPLETED", message: "done" } })));
    finished.push(r.fanout);
  }
  const open = await issueFanout({ db, actor }, { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } });
  return { org, actor, finished, open: open.fanout };
}

/** The organization's counts as the list reads them, and as the tasks say. */
async function counts(organizationId: string) {
  const kept = await db.select({ type: taskCounts.type, status: taskCounts.status, n: taskCounts.n }).from(taskCounts).where(eq(taskCounts.organizationId, organizationId));
  const real = await db.select({ type: tasks.type, status: tasks.status, n: count() }).from(tasks).where(eq(tasks.organizationId, organizationId)).groupBy(tasks.type, tasks.status);
  const asMap = (rows: { type: string; status: string; n: number }[]) => Object.fromEntries(rows.filter((r) => Number(r.n) !== 0).map((r) => [`${r.type}/${r.status}`, Number(r.n)]));
  return { kept: asMap(kept), real: asMap(real) };
}

const fanoutCodes = async (organizationId: string) => (await db.select({ code: fanouts.code }).from(fanouts).where(eq(fanouts.organizationId, organizationId))).map((f) => f.code).sort();

describe("the purge", () => {
  test("takes finished fan-outs past the retention, whole, with their rows; the counts stay exact; an open fan-out stays", async () => {
    const { org, finished, open } = await history({ fanouts: 3 });
    // Nothing is past 180 days yet.
    expect(await purgeExpired({ db })).toMatchObject({ tasks: 0, fanouts: 0 });
    const done = await purgeExpired({ db }, { now: new Date(Date.now() + 181 * DAY) });
    expect(done.tasks).toBeGreaterThanOrEqual(15);
    expect(done.fanouts).toBeGreaterThanOrEqual(3);
    expect(await fanoutCodes(org.id)).toEqual([open]);
    expect(finished.every(Boolean)).toBe(true);
    const c = await counts(org.id);
    expect(c.kept).toEqual(c.real);
    expect(c.real).toEqual({ "PING/PENDING": 5 });
    // The open fan-out's bookkeeping is untouched.
    const [f] = await db.select({ open: fanouts.openTasks, total: fanouts.total }).from(fanouts).where(eq(fanouts.code, open));
    expect(f).toEqual({ open: 5, total: 5 });
  });

  test("keeps what an organization keeps forever, and takes what the instance's ceiling says even so", async () => {
    const { org, actor } = await history({ fanouts: 1 });
    await setRetention({ db, actor }, { task_days: null, audit_days: 730 });
    const later = new Date(Date.now() + 400 * DAY);
    const before = await fanoutCodes(org.id);
    await purgeExpired({ db }, { now: later });
    expect(await fanoutCodes(org.id)).toEqual(before);
    await purgeExpired({ db }, { now: new Date(Date.now() + 11 * DAY), ceilingDays: 10 });
    expect((await fanoutCodes(org.id)).length).toBe(1);
  });

  test("a large fan-out goes in batches; its row goes with its last task", async () => {
    const { org } = await history({ fanouts: 1, devices: 1_200 });
    const done = await purgeExpired({ db }, { now: new Date(Date.now() + 181 * DAY) });
    expect(done.tasks).toBeGreaterThanOrEqual(1_200);
    expect((await fanoutCodes(org.id)).length).toBe(1);
    const c = await counts(org.id);
    expect(c.kept).toEqual(c.real);
  });

  test("audit rows past the trail's own retention go; younger ones stay", async () => {
    const { org, actor } = await history({ fanouts: 1 });
    await setRetention({ db, actor }, { task_days: 3650, audit_days: 30 });
    const rows = async () => (await db.select({ n: count() }).from(auditEvents).where(eq(auditEvents.organizationId, org.id)))[0].n;
    const before = await rows();
    expect(before).toBeGreaterThan(1);
    await purgeExpired({ db }, { now: new Date(Date.now() + 31 * DAY) });
    expect(await rows()).toBe(0);
    // Tasks are kept ten years here.
    expect((await fanoutCodes(org.id)).length).toBe(2);
  });

  test("a schedule's runs past the tasks' retention go, but its latest and those whose fan-out is kept; kept forever, they all stay", async () => {
    const { org, actor } = await history({ fanouts: 0 });
    const daily = await createSchedule({ db, actor }, { name: "daily", type: "SYNC", targets: { all: true }, cron: "0 3 * * *", timezone: "UTC" });
    const yearly = await createSchedule({ db, actor }, { name: "yearly", type: "SYNC", targets: { all: true }, cron: "0 3 1 1 *", timezone: "UTC" });
    const now = Date.now();
    // 60 daily runs, the newest half a day ago; the yearly one's latest run 200 days ago.
    const runs = [
      ...Array.from({ length: 60 }, (_, i) => ({ scheduleId: daily.id, dueAt: new Date(now - (i + 0.5) * DAY) })),
      { scheduleId: yearly.id, dueAt: new Date(now - 200 * DAY) },
    ].map((r) => ({ ...r, ranAt: r.dueAt, outcome: "issued" as const, reason: null }));
    // And one that issued the fan-out still open, 250 days ago (a rollout paused since): it stays with it.
    const [openFanout] = await db.select({ id: fanouts.id }).from(fanouts).where(eq(fanouts.organizationId, org.id));
    const withFanout = { scheduleId: yearly.id, dueAt: new Date(now - 250 * DAY), ranAt: new Date(now - 250 * DAY), outcome: "issued" as const, reason: null, fanoutId: openFanout.id };
    await withTransaction({ db }, (tx) => tx.insert(scheduleRuns).values([...runs, withFanout]));
    const runsOf = async (id: number) => (await db.select({ dueAt: scheduleRuns.dueAt }).from(scheduleRuns).where(eq(scheduleRuns.scheduleId, id))).map((r) => r.dueAt.getTime()).sort((a, b) => b - a);

    await setRetention({ db, actor }, { task_days: null, audit_days: 730 });
    expect((await purgeExpired({ db })).runs).toBe(0);
    expect(await runsOf(daily.id)).toHaveLength(60);

    await setRetention({ db, actor }, { task_days: 30, audit_days: 730 });
    const done = await purgeExpired({ db });
    expect(done.runs).toBe(30);
    expect(await runsOf(daily.id)).toEqual(runs.slice(0, 30).map((r) => r.dueAt.getTime()));
    // The yearly schedule's latest run is older than the retention, and is its "last run"; the
    // older one stays with its fan-out.
    expect(await runsOf(yearly.id)).toEqual([now - 200 * DAY, now - 250 * DAY]);
    expect((await lastRuns({ db }, [daily.id, yearly.id])).get(yearly.id)?.dueAt.getTime()).toBe(now - 200 * DAY);
    expect(await fanoutCodes(org.id)).toHaveLength(1);
    // Once its fan-out is gone (the purge unlinks the run), that run goes too; the latest stays.
    await withTransaction({ db }, (tx) => tx.update(scheduleRuns).set({ fanoutId: null }).where(eq(scheduleRuns.scheduleId, yearly.id)));
    expect((await purgeExpired({ db })).runs).toBe(1);
    expect(await runsOf(yearly.id)).toEqual([now - 200 * DAY]);
  });

  test("the triggers still refuse everyone else: an UPDATE or a DELETE of a finished task, a DELETE of an audit row", async () => {
    const { org } = await history({ fanouts: 1 });
    const [done] = await db.select().from(tasks).where(and(eq(tasks.organizationId, org.id), eq(tasks.status, "COMPLETED"))).limit(1);
    await expectRejectionMatching(withTransaction({ db }, (tx) => tx.update(tasks).set({ message: "changed" }).where(eq(tasks.id, done.id))), /task_final/);
    await expectRejectionMatching(withTransaction({ db }, (tx) => tx.delete(tasks).where(eq(tasks.id, done.id))), /task_final/);
    await expectRejectionMatching(withTransaction({ db }, (tx) => tx.delete(auditEvents).where(eq(auditEvents.organizationId, org.id))), /audit_immutable/);
    expect((await db.select().from(tasks).where(eq(tasks.id, done.id)))[0]).toEqual(done);
  });

  test.skipIf(PROCESS_DIALECT === "pg")("a new SQLite file gives the freed pages back to the file system", async () => {
    await history({ fanouts: 2, devices: 300 });
    const sqlite = writerConnection(db);
    expect(sqlite.pragma("auto_vacuum", { simple: true })).toBe(2);
    await purgeExpired({ db }, { now: new Date(Date.now() + 181 * DAY) });
    expect(sqlite.pragma("freelist_count", { simple: true })).toBe(0);
  });
});

describe("setting the retention", () => {
  test("ADMINs only; under a day, a fraction or nonsense is refused naming the field, and nothing changes", async () => {
    const { actor } = await makeOrg(db);
    await expectDomainError(() => setRetention({ db, actor: { ...actor, role: "READ_WRITE" } }, { task_days: 30, audit_days: 730 }), "forbidden");
    for (const [input, field] of [
      [{ task_days: 0, audit_days: 730 }, "task_days"],
      [{ task_days: 1.5, audit_days: 730 }, "task_days"],
      [{ task_days: 30, audit_days: 0 }, "audit_days"],
      [{ task_days: "a week", audit_days: 730 }, "task_days"],
    ] as const) {
      const e = await expectDomainError(() => setRetention({ db, actor }, input), "invalid");
      expect(Object.keys(e.fieldErrors ?? {})).toEqual([field]);
    }
    expect(await getOrganization({ db, actor })).toMatchObject({ taskRetentionDays: 180, auditRetentionDays: 730 });
  });
});
