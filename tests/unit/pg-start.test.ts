// A node's start on a PostgreSQL database other nodes are using (db/pg.ts): the triggers are
// made from the rules only when the database's differ, since dropping a trigger locks its
// table against every running node. PostgreSQL only.
import { describe, expect, test } from "vitest";
import pg from "pg";
import { closeDatabase, openDatabase } from "../../db/client";
import { newTestDatabase, onPg } from "../support/databases";

describe.skipIf(!onPg)("a start on a database in use", () => {
  test("finds the triggers current and waits for no other node's write; a trigger gone is made again", async () => {
    const database = await newTestDatabase();
    const other = new pg.Client({ connectionString: database.url });
    try {
      await closeDatabase(await openDatabase(database.url));
      await other.connect();
      // Another node's write transaction on the tasks, open while this node starts.
      await other.query("BEGIN");
      await other.query("LOCK TABLE tasks IN ROW EXCLUSIVE MODE");
      await closeDatabase(await openDatabase(database.url));
      await other.query("ROLLBACK");

      await other.query("DROP TRIGGER tasks_final_immutable ON tasks");
      await closeDatabase(await openDatabase(database.url));
      const { rows } = await other.query("SELECT tgname FROM pg_trigger WHERE tgname = 'tasks_final_immutable'");
      expect(rows).toHaveLength(1);
    } finally {
      await other.end().catch(() => {});
      await database.drop();
    }
  });
});
