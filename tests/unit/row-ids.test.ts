// Row numbers past 2^31. A fleet of 100,000 devices synced hourly issues 2.4 million tasks a
// day: in 2.4 years its tasks' numbers pass what a 32-bit column holds, whatever retention
// deleted meanwhile (numbers are not reused). Every table's numbers start past 2^31 here, and
// the paths that carry a number are walked: issuing, an agent's moves, the bookkeeping, a
// retry, a cancel, the lists and their cursors, the live read, the audit, schedules and OUs.
// Each number reads back as a JavaScript number, the same as it was written.
import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, test } from "vitest";
import { dialectOfHandle, setDb } from "../../db/client";
import { runStatement } from "../../db/portable";
import { devices as devicesTable } from "../../db/schema";
import { withTransaction } from "../../db/transaction";
import { auditPages, listAudit } from "../../lib/audit/queries";
import { createSchedule, getSchedule } from "../../lib/schedules/schedules";
import { dispatchable, recordAgentMoves } from "../../lib/tasks/agent-verbs";
import { findFanout } from "../../lib/tasks/fanout-queries";
import { cancelFanoutRest, retryFanout } from "../../lib/tasks/fanout-verbs";
import { issueFanout } from "../../lib/tasks/issue";
import { listTasks, liveTasks } from "../../lib/tasks/queries";
import { ROW_ID_MAX } from "../../rules/codes";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { capture, taskByCode, transitionsOf } from "./helpers";

const db = await freshDb();
const PAST_32_BITS = 3_000_000_000;
const TABLES = ["tasks", "fanouts", "audit_events", "schedules", "schedule_runs", "ous"];

beforeAll(async () => {
  process.env.BETTER_AUTH_SECRET ??= randomBytes(32).toString("base64url");
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
  setDb(db);
  // Every table's next number past 2^31, as years of use would leave it.
  await withTransaction({ db }, async (tx) => {
    for (const table of TABLES) {
      await runStatement(
        tx,
        sql.raw(
          dialectOfHandle(tx) === "pg"
            ? `ALTER TABLE "${table}" ALTER COLUMN "id" RESTART WITH ${PAST_32_BITS}`
            : `INSERT INTO sqlite_sequence (name, seq) VALUES ('${table}', ${PAST_32_BITS - 1})`,
        ),
      );
    }
  });
});

const big = (n: number | null | undefined) => {
  expect(typeof n).toBe("number");
  expect(n).toBeGreaterThan(2 ** 31);
  expect(n).toBeLessThanOrEqual(ROW_ID_MAX);
};

describe("row numbers past 2^31", () => {
  test("a fan-out is issued, run by its agents, retried and cancelled; the bookkeeping follows", async () => {
    const { org, actor } = await makeOrg(db);
    const devices = await makeDevices(db, org.id, 3, { ous: ["edge"] });
    const { result: issued, events } = await capture(() => issueFanout({ db, actor }, { type: "SYNC", targets: { ous: ["edge"] } }));
    expect(issued.total).toBe(3);
    const fanout = (await findFanout(db, org.id, issued.fanout))!;
    big(fanout.id);
    const rows = await Promise.all(issued.tasks.map((t) => taskByCode(db, t.code)));
    for (const t of rows) {
      big(t.id);
      expect(t.fanoutId).toBe(fanout.id);
    }
    // The events carry the numbers as written: the live channel and the dispatcher key on them.
    expect(
      transitionsOf(events)
        .map((e) => [e.taskId, e.fanoutId])
        .sort(),
    ).toEqual(rows.map((t) => [t.id, fanout.id]).sort());
    await withTransaction({ db }, (tx) => tx.update(devicesTable).set({ online: true }).where(eq(devicesTable.organizationId, org.id)));
    expect((await dispatchable({ db }, rows.map((t) => t.id))).map((d) => d.task.id).sort()).toEqual(rows.map((t) => t.id).sort());

    // The agents: two start; one completes, one fails; the third never answers.
    const deviceOf = (code: string) => devices.find((d) => d.name === issued.tasks.find((t) => t.code === code)!.device)!.id;
    const [a, b] = rows;
    const moves = await capture(() =>
      recordAgentMoves(
        { db },
        [a, b].map((t) => ({ deviceId: deviceOf(t.code), code: t.code })),
        [],
      ),
    );
    expect(moves.result.accepted).toEqual([true, true]);
    const { results } = await recordAgentMoves({ db }, [], [
      { deviceId: deviceOf(a.code), raw: { code: a.code, status: "COMPLETED", message: "ok" } },
      { deviceId: deviceOf(b.code), raw: { code: b.code, status: "FAILED", message: "no route" } },
    ]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    const counted = (await findFanout(db, org.id, issued.fanout))!;
    expect([counted.openTasks, counted.failedTasks]).toEqual([1, 1]);

    // A retry of the failed one: a fan-out of its own, numbered past 2^31 too, run alone.
    const retry = await retryFanout({ db, actor }, issued.fanout, {});
    const again = (await findFanout(db, org.id, retry.fanout))!;
    big(again.id);
    expect(again.retryOf).toBe(fanout.id);

    // Cancelling what has not run: the task left PENDING, by its fan-out's number.
    const cancelled = await cancelFanoutRest({ db, actor }, issued.fanout);
    expect(cancelled.cancelled).toBe(1);
    const done = (await findFanout(db, org.id, issued.fanout))!;
    expect([done.openTasks, done.cancelledTasks]).toEqual([0, 1]);
    expect(done.finishedAt).not.toBeNull();
  });

  test("the lists page by those numbers, and the live read finds them", async () => {
    const { org, actor } = await makeOrg(db);
    const [d] = await makeDevices(db, org.id, 1);
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await issueFanout({ db, actor }, { type: "PING", payload: { host: "10.0.0.1" }, targets: { devices: [d.name] } })).tasks[0].code);
    const ids = await Promise.all(codes.map(async (c) => (await taskByCode(db, c)).id));
    const first = await listTasks({ db, actor }, { limit: 2 });
    expect(first.items.map((t) => t.code)).toEqual([codes[2], codes[1]]);
    const older = await listTasks({ db, actor }, { cursor: { before: ids[1] }, limit: 2 });
    expect(older.items.map((t) => t.code)).toEqual([codes[0]]);
    const newer = await listTasks({ db, actor }, { cursor: { after: ids[0] }, limit: 1 });
    expect(newer.items.map((t) => t.code)).toEqual([codes[1]]);
    expect((await liveTasks({ db }, { ids }, 10)).map((t) => t.code).sort()).toEqual([...codes].sort());
  });

  test("the audit trail pages by its numbers; a schedule is found by its own", async () => {
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, 1);
    const schedule = await createSchedule({ db, actor }, { name: "nightly", type: "SYNC", targets: { all: true }, cron: "0 3 * * *", timezone: "UTC" });
    big(schedule.id);
    expect((await getSchedule({ db, actor }, schedule.id)).id).toBe(schedule.id);
    expect((await getSchedule({ db, actor }, String(schedule.id))).id).toBe(schedule.id);
    const audit = await listAudit({ db, actor }, {});
    expect(audit.rows.length).toBeGreaterThan(0);
    for (const row of audit.rows) big(row.id);
    const before = await listAudit({ db, actor }, {}, { before: audit.rows[0].id });
    expect(before.rows.map((r) => r.id)).toEqual(audit.rows.slice(1).map((r) => r.id));
    const pages = auditPages({ db, actor }, {}, audit.rows.at(-1)!.id - 1);
    const page = (await pages.next()).value as { id: number }[];
    expect(page.map((r) => r.id).sort()).toEqual(audit.rows.map((r) => r.id).sort());
  });
});
