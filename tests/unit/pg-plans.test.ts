// How PostgreSQL plans an agent batch's moves (lib/tasks/transition.ts) when its statistics
// are older than the tasks: taken before a fan-out, they say almost no task is PENDING. Each
// batch must still find its tasks by their codes, not read every task in the status it leaves.
// And a node that issues many tasks takes the statistics at once (db/statistics.ts), for the
// reads that name the status alone. PostgreSQL only.
import { describe, expect, test } from "vitest";
import pg from "pg";
import { closeDatabase, openDatabase } from "../../db/client";
import { numbered } from "../../db/batch-pg-worker.mjs";
import { ANALYZE_AFTER_ISSUED } from "../../db/statistics";
import { issueFanout } from "../../lib/tasks/issue";
import { finishOwnStep, startOwnStep } from "../../lib/tasks/transition";
import { newTestDatabase, onPg } from "../support/databases";
import { makeDevices, makeOrg } from "../support/factories";

type PlanNode = { "Node Type": string; "Relation Name"?: string; "Index Name"?: string; Plans?: PlanNode[] };

/** Every node of a plan that reads `tasks` (the update itself left out), as "node type on index". */
function readsOfTasks(node: PlanNode): string[] {
  const here = node["Relation Name"] === "tasks" && node["Node Type"] !== "ModifyTable" ? [`${node["Node Type"]} on ${node["Index Name"] ?? "the table"}`] : [];
  return [...here, ...(node.Plans ?? []).flatMap(readsOfTasks)];
}

describe.skipIf(!onPg)("plans, and statistics that follow the fan-outs", () => {
  test("an agent batch finds each task by its code, though the statistics were taken before any task was PENDING or IN_PROGRESS", async () => {
    const database = await newTestDatabase();
    const other = new pg.Client({ connectionString: database.url });
    try {
      const db = await openDatabase(database.url);
      const { org } = await makeOrg(db);
      const [device] = await makeDevices(db, org.id, 1, { prefix: "fw" });
      await closeDatabase(db);
      await other.connect();
      const add = (prefix: string, status: string, n: number) =>
        other.query(
          `INSERT INTO tasks (code, organization_id, device_id, type, status, created_at, updated_at, expires_at)
           SELECT $1 || g, $2, $3, 'PING', $4, 0, 0, 4102444800000 FROM generate_series(1, $5::integer) g`,
          [prefix, org.id, device.id, status, n],
        );
      await add("done", "COMPLETED", 20_000);
      await other.query("ANALYZE tasks");
      await add("wait", "PENDING", 3_000);
      await add("busy", "IN_PROGRESS", 3_000);

      const codes = (prefix: string) => Array.from({ length: 100 }, (_, i) => ({ code: `${prefix}${i * 30 + 1}`, deviceId: device.id }));
      const steps = {
        acknowledgements: startOwnStep(codes("wait"), Date.now()),
        results: finishOwnStep(
          codes("busy").map((c) => ({ ...c, status: "COMPLETED" as const, message: "ok" })),
          Date.now(),
        ),
      };
      for (const [kind, step] of Object.entries(steps)) {
        const { rows } = await other.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${numbered(step.sql)}`, step.params as unknown[]);
        expect({ kind, reads: readsOfTasks(rows[0]["QUERY PLAN"][0].Plan) }).toEqual({ kind, reads: ["Index Scan on tasks_code_uidx"] });
      }
    } finally {
      await other.end().catch(() => {});
      await database.drop();
    }
  });

  test("a node that issued 10,000 tasks takes the statistics at once, and they count the PENDING ones; before that it leaves them be", async () => {
    const database = await newTestDatabase();
    const other = new pg.Client({ connectionString: database.url });
    const db = await openDatabase(database.url);
    try {
      await other.connect();
      const { actor, org } = await makeOrg(db);
      const fleet = ANALYZE_AFTER_ISSUED / 4;
      await makeDevices(db, org.id, fleet, { prefix: "fw" });
      const lastAnalyze = async () =>
        (await other.query<{ at: Date | null }>("SELECT last_analyze AS at FROM pg_stat_user_tables WHERE relname = 'tasks'")).rows[0].at;
      const pendingInStatistics = async () =>
        (await other.query<{ vals: string | null }>("SELECT most_common_vals::text AS vals FROM pg_stats WHERE tablename = 'tasks' AND attname = 'status'")).rows[0]?.vals ?? "";

      for (let i = 0; i < 3; i++) await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
      // A look is started right after a commit: one started by these would have ended by now.
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await lastAnalyze()).toBeNull();

      await issueFanout({ db, actor }, { type: "SYNC", targets: { all: true } });
      // In the background: waited for as long as a busy machine needs.
      for (const until = Date.now() + 60_000; (await lastAnalyze()) === null && Date.now() < until; ) await new Promise((r) => setTimeout(r, 200));
      expect(await lastAnalyze()).not.toBeNull();
      expect(await pendingInStatistics()).toContain("PENDING");
    } finally {
      await closeDatabase(db);
      await other.end().catch(() => {});
      await database.drop();
    }
  }, 120_000);
});
