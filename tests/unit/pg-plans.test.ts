// How PostgreSQL plans an agent batch's moves (lib/tasks/transition.ts) when its statistics
// are older than the tasks: taken before a fan-out, they say almost no task is PENDING. Each
// batch must still find its tasks by their codes, not read every task in the status it leaves.
// PostgreSQL only.
import { describe, expect, test } from "vitest";
import pg from "pg";
import { closeDatabase, openDatabase } from "../../db/client";
import { numbered } from "../../db/batch-pg";
import { finishOwnStep, startOwnStep } from "../../lib/tasks/transition";
import { newTestDatabase, onPg } from "../support/databases";
import { makeDevices, makeOrg } from "../support/factories";

type PlanNode = { "Node Type": string; "Relation Name"?: string; "Index Name"?: string; Plans?: PlanNode[] };

/** Every node of a plan that reads `tasks` (the update itself left out), as "node type on index". */
function readsOfTasks(node: PlanNode): string[] {
  const here = node["Relation Name"] === "tasks" && node["Node Type"] !== "ModifyTable" ? [`${node["Node Type"]} on ${node["Index Name"] ?? "the table"}`] : [];
  return [...here, ...(node.Plans ?? []).flatMap(readsOfTasks)];
}

describe.skipIf(!onPg)("an agent batch's plan", () => {
  test("finds each task by its code, though the statistics were taken before any task was PENDING or IN_PROGRESS", async () => {
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
});
