// A node's start on a PostgreSQL database (db/pg.ts): the triggers are made from the rules
// only when the database's differ, since dropping a trigger locks its table against every
// running node; and the migrations leave autovacuum told how to keep the tasks' statistics.
// PostgreSQL only.
import { describe, expect, test } from "vitest";
import pg from "pg";
import { closeDatabase, openDatabase } from "../../db/client";
import { pgPool } from "../../db/pg";
import { newTestDatabase, onPg, type TestDatabase } from "../support/databases";

/** A new database a node has started on once, with a connection of its own to it. */
async function startedOnce(run: (database: TestDatabase, other: pg.Client) => Promise<void>) {
  const database = await newTestDatabase();
  const other = new pg.Client({ connectionString: database.url });
  try {
    await closeDatabase(await openDatabase(database.url));
    await other.connect();
    await run(database, other);
  } finally {
    await other.end().catch(() => {});
    await database.drop();
  }
}

describe.skipIf(!onPg)("a start on a database in use", () => {
  test("finds the triggers current and waits for no other node's write; a trigger gone is made again", () =>
    startedOnce(async (database, other) => {
      // Another node's write transaction on the tasks, open while this node starts.
      await other.query("BEGIN");
      await other.query("LOCK TABLE tasks IN ROW EXCLUSIVE MODE");
      await closeDatabase(await openDatabase(database.url));
      await other.query("ROLLBACK");

      await other.query("DROP TRIGGER tasks_final_immutable ON tasks");
      await closeDatabase(await openDatabase(database.url));
      const { rows } = await other.query("SELECT tgname FROM pg_trigger WHERE tgname = 'tasks_final_immutable'");
      expect(rows).toHaveLength(1);
    }));

  // db/migrations/pg/0008: the statistics follow the fan-outs at any size of the table, so the
  // plans that find an agent's task by its code stay probes of the code index.
  test("the tasks' statistics are made again after a fixed 10,000 changed rows, not after a share of the table", () =>
    startedOnce(async (_, other) => {
      const { rows } = await other.query<{ relname: string; reloptions: string[] | null }>(
        "SELECT relname, reloptions FROM pg_class WHERE relname IN ('tasks', 'devices', 'fanouts') AND relkind = 'r' ORDER BY relname",
      );
      expect(rows).toEqual([
        { relname: "devices", reloptions: null },
        { relname: "fanouts", reloptions: null },
        { relname: "tasks", reloptions: ["autovacuum_analyze_scale_factor=0", "autovacuum_analyze_threshold=10000"] },
      ]);
    }));

  test("a node's connections: PostgreSQL ends a transaction of theirs left idle a minute, with its locks; TCP keepalive probes a silent peer", async () => {
    const database = await newTestDatabase();
    const pool = pgPool(database.url);
    try {
      const { rows } = await pool.query("show idle_in_transaction_session_timeout");
      expect(rows).toEqual([{ idle_in_transaction_session_timeout: "1min" }]);
      expect(pool.options).toMatchObject({ keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
