// The task counts and each fan-out's counters as PostgreSQL's statement triggers keep them
// (rules/sql.ts, pgTaskTriggerStatements): exact when one statement moves many tasks, some of
// them not at all, and linear in the rows a statement moves whatever plan the connection
// cached first. PostgreSQL only: SQLite keeps them with row triggers.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import pg from "pg";
import { closeDatabase, openDatabase, type Db } from "../../db/client";
import { issueFanout } from "../../lib/tasks/issue";
import { newTestDatabase, onPg, type TestDatabase } from "../support/databases";
import { makeDevices, makeOrg } from "../support/factories";

describe.skipIf(!onPg)("the bookkeeping triggers on PostgreSQL", () => {
  let database: TestDatabase;
  let db: Db;
  let client: pg.Client;

  beforeAll(async () => {
    database = await newTestDatabase();
    db = await openDatabase(database.url);
  });
  afterAll(async () => {
    await closeDatabase(db);
    await database.drop();
  });

  /** A fresh connection: a new backend, with no plan of the triggers' statements cached yet. */
  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    return c;
  }

  /** A fan-out of `n` PENDING PINGs, one per device of a new organization. */
  async function fanoutOf(n: number) {
    const { org, actor } = await makeOrg(db);
    await makeDevices(db, org.id, n);
    await issueFanout({ db, actor }, { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } });
    const { rows } = await client.query<{ id: number }>("SELECT id FROM fanouts WHERE organization_id = $1", [org.id]);
    return { orgId: org.id, fanoutId: rows[0].id };
  }

  /**
   * One statement over the fan-out's open tasks, numbered from 1 in id order: the i-th moves to
   * `to[i]` (finishing at `finishedAt + i` when that is final); the others are written, not moved.
   */
  async function move(c: pg.Client, fanoutId: number, to: Record<number, string>, finishedAt: number) {
    const cases = Object.entries(to).map(([i, status]) => `WHEN ${Number(i)} THEN '${status}'`).join(" ");
    const finishing = Object.keys(to).filter((i) => to[Number(i)] !== "IN_PROGRESS");
    await c.query(
      `UPDATE tasks SET status = CASE o.r ${cases} ELSE tasks.status END, message = 'touched',
         finished_at = CASE WHEN o.r IN (${finishing.join(", ") || "0"}) THEN $2 + o.r ELSE tasks.finished_at END
       FROM (SELECT id, row_number() OVER (ORDER BY id) AS r FROM tasks WHERE fanout_id = $1) o
       WHERE tasks.id = o.id AND tasks.status IN ('PENDING', 'IN_PROGRESS')`,
      [fanoutId, finishedAt],
    );
  }

  /** The kept counters beside the same figures counted from the tasks. */
  async function books(orgId: string, fanoutId: number) {
    const kept = await client.query(`SELECT status, n FROM task_counts WHERE organization_id = $1 AND n <> 0 ORDER BY status`, [orgId]);
    const counted = await client.query(`SELECT status, count(*)::int AS n FROM tasks WHERE organization_id = $1 GROUP BY 1 ORDER BY 1`, [orgId]);
    const fanout = await client.query(`SELECT open_tasks, failed_tasks, expired_tasks, cancelled_tasks, finished_at::bigint AS finished_at FROM fanouts WHERE id = $1`, [fanoutId]);
    const tasks = await client.query(
      `SELECT count(*) FILTER (WHERE status IN ('SCHEDULED', 'PENDING', 'IN_PROGRESS'))::int AS open_tasks,
              count(*) FILTER (WHERE status = 'FAILED')::int AS failed_tasks,
              count(*) FILTER (WHERE status = 'EXPIRED')::int AS expired_tasks,
              count(*) FILTER (WHERE status = 'CANCELLED')::int AS cancelled_tasks,
              max(finished_at)::bigint AS last
         FROM tasks WHERE fanout_id = $1`,
      [fanoutId],
    );
    return { kept: kept.rows, counted: counted.rows, fanout: fanout.rows[0], tasks: tasks.rows[0] };
  }

  test("a statement that moves tasks to several statuses, and leaves others where they were, keeps the counts and the fan-out exact", async () => {
    client = await connect();
    try {
      const { orgId, fanoutId } = await fanoutOf(12);
      // 1–4 start, 5–6 are cancelled, 7 expires, 8–12 stay PENDING (written, not moved).
      await move(client, fanoutId, { 1: "IN_PROGRESS", 2: "IN_PROGRESS", 3: "IN_PROGRESS", 4: "IN_PROGRESS", 5: "CANCELLED", 6: "CANCELLED", 7: "EXPIRED" }, 1_000);
      let b = await books(orgId, fanoutId);
      expect(b.kept).toEqual(b.counted);
      expect(b.counted).toEqual([
        { status: "CANCELLED", n: 2 },
        { status: "EXPIRED", n: 1 },
        { status: "IN_PROGRESS", n: 4 },
        { status: "PENDING", n: 5 },
      ]);
      expect(b.fanout).toEqual({ open_tasks: 9, failed_tasks: 0, expired_tasks: 1, cancelled_tasks: 2, finished_at: null });

      // The rest finish in one statement: the fan-out is done, at its last task's finish.
      await move(client, fanoutId, { 1: "COMPLETED", 2: "COMPLETED", 3: "FAILED", 4: "FAILED", 8: "CANCELLED", 9: "CANCELLED", 10: "EXPIRED", 11: "EXPIRED", 12: "CANCELLED" }, 2_000);
      b = await books(orgId, fanoutId);
      expect(b.kept).toEqual(b.counted);
      expect(b.fanout).toEqual({ open_tasks: 0, failed_tasks: 2, expired_tasks: 3, cancelled_tasks: 5, finished_at: 2012 });
      const { last, ...counted } = b.tasks;
      expect(b.fanout).toEqual({ ...counted, finished_at: last });
    } finally {
      await client.end();
    }
  });

  test("a statement's bookkeeping reads each moved task a bounded number of times, even after the connection first moved one task", async () => {
    client = await connect();
    const plans: unknown[] = [];
    try {
      // Every plan the connection runs, the triggers' own statements too, sent back as notices.
      for (const setting of [
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_analyze = on",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_format = json",
        "SET auto_explain.log_level = notice",
      ])
        await client.query(setting);
      // A one-task move first: PL/pgSQL keeps the plan each statement got on its first run.
      const one = await fanoutOf(1);
      await move(client, one.fanoutId, { 1: "IN_PROGRESS" }, 1_000);
      await move(client, one.fanoutId, { 1: "COMPLETED" }, 1_000);

      const n = 400;
      const many = await fanoutOf(n);
      client.on("notice", (msg) => {
        const text = msg.message ?? "";
        if (text.includes("taskwire_pending")) plans.push(JSON.parse(text.slice(text.indexOf("{"))));
      });
      await move(client, many.fanoutId, Object.fromEntries(Array.from({ length: n }, (_, i) => [i + 1, "IN_PROGRESS"])), 1_000);
      await move(client, many.fanoutId, Object.fromEntries(Array.from({ length: n }, (_, i) => [i + 1, "COMPLETED"])), 2_000);
      client.removeAllListeners("notice");

      // Rows every plan node handled: those it returned on every loop, and those it read and dropped.
      type Node = { "Actual Rows"?: number; "Actual Loops"?: number; "Rows Removed by Filter"?: number; "Rows Removed by Join Filter"?: number; Plans?: Node[] };
      const handled = (node: Node): number[] => [
        (node["Actual Rows"] ?? 0) * (node["Actual Loops"] ?? 1) + (node["Rows Removed by Filter"] ?? 0) + (node["Rows Removed by Join Filter"] ?? 0),
        ...(node.Plans ?? []).flatMap(handled),
      ];
      expect(plans.length).toBeGreaterThan(0);
      const most = Math.max(...plans.flatMap((p) => handled((p as { Plan: Node }).Plan)));
      // A moved task is one old row and one new row; a join of the two by nested loop handles n × n.
      expect(most).toBeLessThanOrEqual(2 * n);
      const b = await books(many.orgId, many.fanoutId);
      expect(b.kept).toEqual(b.counted);
      expect(b.fanout).toMatchObject({ open_tasks: 0, failed_tasks: 0 });
    } finally {
      await client.end();
    }
  });
});
