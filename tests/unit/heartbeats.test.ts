// Agents' heartbeats, written together (lib/devices/connection.ts): each answered for its own
// body, a device another transaction holds left for the agent's next heartbeat rather than
// waited for, and, on PostgreSQL, a commit that does not wait for the disk (db/transaction.ts).
import { inArray, sql } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import { closeDatabase, openDatabase } from "../../db/client";
import { lockRows } from "../../db/portable";
import { devices } from "../../db/schema";
import { withTransaction, type Commit } from "../../db/transaction";
import { recordHeartbeats } from "../../lib/devices/connection";
import { newTestDatabase, onPg } from "../support/databases";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg } from "../support/factories";
import { rawRows, rawRun } from "../support/raw";

const db = await freshDb();
type PgTx = { execute: (q: ReturnType<typeof sql>) => Promise<{ rows: { v: string }[] }> };

const seen = (ids: string[]) =>
  rawRows<{ id: string; last_heartbeat_at: number | null; agent_version: string | null }>(
    db,
    `select id, last_heartbeat_at, agent_version from devices where id in (${ids.map(() => "?").join(", ")}) order by name`,
    ...ids,
  );

describe("recordHeartbeats", () => {
  test("one call, many agents: each heartbeat answered for its own body; the valid ones recorded with their versions", async () => {
    const { org } = await makeOrg(db);
    const [a, b, c] = await makeDevices(db, org.id, 3, { prefix: "hb" });
    const before = Date.now();

    const answers = await recordHeartbeats({ db }, [
      { deviceId: a.id, raw: { version: "1.9.1", uptime_seconds: 30 } },
      { deviceId: b.id, raw: { version: "not a version" } },
      { deviceId: c.id, raw: { version: "2.0.0" } },
    ]);

    expect(answers.map((e) => e?.message ?? null)).toEqual([null, expect.stringMatching(/version/), null]);
    const rows = await seen([a.id, b.id, c.id]);
    expect(rows.map((r) => r.agent_version)).toEqual(["1.9.1", null, "2.0.0"]);
    expect(rows[0].last_heartbeat_at).toBeGreaterThanOrEqual(before - 1000);
    expect(rows[1].last_heartbeat_at).toBeNull();
    expect(rows[2].last_heartbeat_at).toBe(rows[0].last_heartbeat_at);
    expect(await recordHeartbeats({ db }, [])).toEqual([]);
  });

  // PostgreSQL only: on SQLite a write transaction never meets another's row locks.
  test.skipIf(!onPg)("a device another transaction holds is left for the next heartbeat, not waited for", async () => {
    const { org } = await makeOrg(db);
    const [held, free] = await makeDevices(db, org.id, 2, { prefix: "hl" });
    await withTransaction({ db }, async (tx) => {
      await lockRows(tx, devices, inArray(devices.id, [held.id]));
      // A transaction of its own, on another connection, while this one holds the row.
      const answers = await recordHeartbeats({ db }, [
        { deviceId: held.id, raw: { version: "1.9.1" } },
        { deviceId: free.id, raw: { version: "1.9.1" } },
      ]);
      expect(answers).toEqual([null, null]);
    });
    expect((await seen([held.id, free.id])).map((r) => [r.agent_version, r.last_heartbeat_at !== null])).toEqual([
      [null, false],
      ["1.9.1", true],
    ]);
  });
});

describe.skipIf(!onPg)("a lazy commit on PostgreSQL", () => {
  test("turns synchronous_commit off for its own transaction only", async () => {
    const database = await newTestDatabase();
    const name = new URL(database.url).pathname.slice(1);
    // The test cluster runs with synchronous_commit off: this database is set back to on, as
    // a production server is, for the connections opened from now on.
    await rawRun(database.url, `alter database "${name}" set synchronous_commit = on`);
    const fresh = await openDatabase(database.url);
    try {
      const setting = (commit?: Commit) =>
        withTransaction(
          { db: fresh },
          async (tx) => (await (tx as unknown as PgTx).execute(sql`select current_setting('synchronous_commit') as v`)).rows[0].v,
          { commit },
        );
      expect(await setting()).toBe("on");
      expect(await setting("lazy")).toBe("off");
      // The same pooled connection, handed to the next transaction: back to the database's own.
      expect(await setting("flushed")).toBe("on");
      expect(await setting("lazy")).toBe("off");
      expect(await setting()).toBe("on");
    } finally {
      await closeDatabase(fresh);
      await database.drop();
    }
  });
});
