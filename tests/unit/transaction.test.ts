// The transaction runner keeps a server's guarantees on SQLite although its callbacks await:
// a transaction is atomic and isolated — no other request's statement runs inside it, no
// reader sees its partial writes, a failure anywhere rolls all of it back — and the verbs
// built on it keep theirs under concurrency.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { and, eq, sql } from "drizzle-orm";
import { describe, expect, test } from "vitest";
import Database from "better-sqlite3";
import { joinLines, stepOf } from "../../db/batch";
import { isDatabaseBusy, runnerOf, sqliteRunner, writerConnection, type Tx } from "../../db/client";
import { devices, fanouts, member, organization, tasks } from "../../db/schema";
import { isDuplicateOf, lockRows } from "../../db/portable";
import { breathe, withTransaction, writeBatch, writesThroughRunner } from "../../db/transaction";
import { listMembers, setMemberRole } from "../../lib/orgs/orgs";
import { ConflictError } from "../../lib/errors";
import { issueFanout } from "../../lib/tasks/issue";
import { listTasks, pageTasks } from "../../lib/tasks/queries";
import { cancelTask } from "../../lib/tasks/verbs";
import { newTestDatabase, onPg } from "../support/databases";
import { freshDb } from "../support/db";
import { makeDevices, makeOrg, makeUser } from "../support/factories";
import { capture, expectRejectionMatching } from "./helpers";

const db = await freshDb();

/** Whether a write transaction holds the file's write lock, asked from a connection of its own. */
function writeLockHeld(): boolean {
  const probe = new Database(db.$client.name, { timeout: 0 });
  try {
    probe.exec("BEGIN IMMEDIATE");
    probe.exec("ROLLBACK");
    return false;
  } catch (e) {
    if (isDatabaseBusy(e)) return true;
    throw e;
  } finally {
    probe.close();
  }
}

/** PostgreSQL: how many other connections to this database are inside a transaction, or waiting for a lock. */
async function otherBackends(): Promise<{ inTransaction: number; waitingForLock: number }> {
  const runner = runnerOf(db);
  if (runner.kind !== "pg") throw new Error("PostgreSQL only");
  const { rows } = await runner.pool.query<{ in_tx: number; waiting: number }>(
    `select count(*) filter (where state like 'idle in transaction%' or (state = 'active' and query not like 'BEGIN%'))::int as in_tx,
            count(*) filter (where wait_event_type = 'Lock')::int as waiting
       from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`,
  );
  return { inTransaction: rows[0].in_tx, waitingForLock: rows[0].waiting };
}

/** Whether a write transaction is open: SQLite's write lock is held; PostgreSQL has a connection inside one. */
async function transactionOpen(): Promise<boolean> {
  if (!onPg) return writerConnection(db).inTransaction || writeLockHeld();
  return (await otherBackends()).inTransaction > 0;
}

const orgNamed = (slug: string) => db.select().from(organization).where(eq(organization.slug, slug));
const insertOrg = (slug: string) => ({ id: slug, name: slug, slug, createdAt: new Date() });

describe("the runner", () => {
  test("the read connection refuses writes: every write goes through a transaction", async () => {
    await expectRejectionMatching(db.insert(organization).values(insertOrg("direct")), /readonly|read-only/i);
    expect(await orgNamed("direct")).toEqual([]);
  });

  test("a failure after an await rolls back everything the transaction wrote", async () => {
    await expect(
      withTransaction({ db }, async (tx) => {
        await tx.insert(organization).values(insertOrg("rolled-back"));
        await breathe();
        expect(await tx.select().from(organization).where(eq(organization.slug, "rolled-back"))).toHaveLength(1);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await orgNamed("rolled-back")).toEqual([]);
    expect(await transactionOpen()).toBe(false);
  });

  test("no reader sees a transaction's partial writes, and another request's write never lands inside it", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = withTransaction({ db }, async (tx) => {
      await tx.insert(organization).values(insertOrg("first-tx"));
      await held;
      throw new Error("first fails");
    });
    while (!(await transactionOpen())) await breathe();
    // A read meanwhile sees the last commit only.
    expect(await orgNamed("first-tx")).toEqual([]);
    // A second write does not join the open transaction: on SQLite it queues behind it, on
    // PostgreSQL it runs beside it on a connection of its own…
    let secondDone = false;
    const second = withTransaction({ db }, async (tx) => {
      await tx.insert(organization).values(insertOrg("second-tx"));
    }).then(() => (secondDone = true));
    for (let i = 0; i < 10; i++) await breathe();
    if (!onPg) expect(secondDone).toBe(false);
    // …so the first one's rollback takes nothing of the second's with it.
    release();
    await expect(first).rejects.toThrow("first fails");
    await second;
    expect(await orgNamed("first-tx")).toEqual([]);
    expect(await orgNamed("second-tx")).toHaveLength(1);
  });

  test("a verb called inside a transaction joins it under a savepoint: its failure rolls back its writes only", async () => {
    await withTransaction({ db }, async (tx) => {
      await tx.insert(organization).values(insertOrg("outer-kept"));
      await expect(
        withTransaction({ db: tx }, async (inner) => {
          await inner.insert(organization).values(insertOrg("inner-undone"));
          await breathe();
          throw new Error("inner fails");
        }),
      ).rejects.toThrow("inner fails");
    });
    expect(await orgNamed("outer-kept")).toHaveLength(1);
    expect(await orgNamed("inner-undone")).toEqual([]);
  });

  test("a library's own writes (better-auth's adapter) run as transactions of their own, never inside another request's", async () => {
    const library = writesThroughRunner(db);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const other = withTransaction({ db }, async (tx) => {
      await tx.insert(organization).values(insertOrg("other-request"));
      await held;
      throw new Error("other request fails");
    });
    while (!(await transactionOpen())) await breathe();
    const written = library.insert(organization).values(insertOrg("library-write")).returning();
    await breathe();
    release();
    await expect(other).rejects.toThrow("other request fails");
    expect(await written).toMatchObject([{ slug: "library-write" }]);
    expect(await orgNamed("library-write")).toHaveLength(1);
    expect(await orgNamed("other-request")).toEqual([]);
  });
});

describe("joinLines", () => {
  test("joins any range of the lines a piece at a time, letting the loop turn between pieces", async () => {
    const items = Array.from({ length: 12_345 }, (_, i) => `line-${i}`);
    for (const [from, to, pieces] of [
      [0, 0, 0],
      [0, 1, 1],
      [0, 5_000, 1],
      [0, 5_001, 2],
      [17, 12_345, 3],
      [5_000, 10_001, 2],
    ]) {
      let turns = 0;
      const joined = await joinLines(items, from, to, async () => void turns++);
      expect(joined).toBe(items.slice(from, to).join("\n"));
      expect(turns).toBe(Math.max(0, pieces - 1));
    }
  });
});

describe("verbs under concurrency", () => {
  test("a list made while a 10,000-task fan-out is being written sees none of its tasks, then all of them", async () => {
    const { org, actor } = await makeOrg(db);
    const made = await makeDevices(db, org.id, 10_000, { prefix: "iso" });
    const ctx = { db, actor };
    // PostgreSQL writes the fan-out in a blink: a transaction beside it holds one of its
    // devices, so that, its tasks written, it waits with its transaction open.
    let release = () => {};
    const holding = new Promise<void>((held) => {
      if (!onPg) return held();
      const gate = new Promise<void>((r) => (release = r));
      void withTransaction({ db }, async (tx) => {
        await lockRows(tx, devices, eq(devices.id, made[0].id));
        held();
        await gate;
      });
    });
    await holding;
    const issuing = issueFanout(ctx, { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } });
    // The fan-out's transaction is open (SQLite: on the bulk writer's connection, in a worker
    // thread; another connection cannot take the write lock. PostgreSQL: waiting for the device).
    if (onPg) while ((await otherBackends()).waitingForLock < 1) await breathe();
    else while (!(await transactionOpen())) await breathe();
    const during = await listTasks(ctx, { limit: 100 });
    const duringTotal = (await pageTasks(ctx, { page: 1, perPage: 100 })).total;
    const fanoutsDuring = await db.select().from(fanouts).where(eq(fanouts.organizationId, org.id));
    // Still inside it: what was read above was read mid-transaction.
    expect(await transactionOpen()).toBe(true);
    expect(during.items).toEqual([]);
    expect(duringTotal).toBe(0);
    expect(fanoutsDuring).toEqual([]);

    release();
    const issued = await issuing;
    expect(issued.total).toBe(10_000);
    expect((await pageTasks(ctx, { page: 1, perPage: 100 })).total).toBe(10_000);
    expect((await listTasks(ctx, { limit: 100 })).items).toHaveLength(100);
    // Each task was written with its own code and device, across the INSERTs the rows were sent in.
    const written = await db.select({ code: tasks.code, device: devices.name }).from(tasks).innerJoin(devices, eq(devices.id, tasks.deviceId)).where(eq(tasks.organizationId, org.id));
    expect(new Map(written.map((t) => [t.code, t.device]))).toEqual(new Map(issued.tasks.map((t) => [t.code, t.device])));
  });

  test("a device disabled after the target was read and before the fan-out commits gets no task: the target is read again", async () => {
    const { org, actor } = await makeOrg(db);
    const made = await makeDevices(db, org.id, 5, { prefix: "moving" });
    const ctx = { db, actor };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let disabling!: () => void;
    const disabled = new Promise<void>((r) => (disabling = r));
    const disable = (tx: Tx) => tx.update(devices).set({ status: "DISABLED" }).where(eq(devices.id, made[0].id));
    // SQLite: a write ahead in the queue, which disables a device once the fan-out has read its
    // target. PostgreSQL: a transaction beside it that has disabled the device, not yet committed.
    const holder = withTransaction({ db }, async (tx) => {
      if (onPg) await disable(tx);
      disabling();
      await gate;
      if (!onPg) await disable(tx);
    });
    await disabled;
    const issuing = issueFanout(ctx, { type: "PING", payload: { host: "192.0.2.1" }, targets: { all: true } });
    // The fan-out has read five devices and waits: behind the holder in SQLite's queue, or for
    // the device's lock in PostgreSQL.
    if (onPg) while ((await otherBackends()).waitingForLock < 1) await breathe();
    else while (sqliteRunner(db).depth < 2) await breathe();
    release();
    await holder;
    const issued = await issuing;
    expect(issued.total).toBe(4);
    expect(issued.tasks.map((t) => t.device).sort()).toEqual(made.slice(1).map((d) => d.name).sort());
    const written = await db.select().from(tasks).where(eq(tasks.organizationId, org.id));
    expect(written.map((t) => t.deviceId)).not.toContain(made[0].id);
    expect(written).toHaveLength(4);
    // The attempt that saw the disabled device left nothing behind.
    expect(await db.select().from(fanouts).where(eq(fanouts.organizationId, org.id))).toHaveLength(1);
  });

  test("a batch on the bulk writer is all or nothing: a check that fails rolls back what came before it", async () => {
    const step = (slug: string) => stepOf(db.insert(organization).values(insertOrg(slug)));
    await expect(writeBatch({ db }, [step("batch-first"), { ...stepOf(sql`select 1`), expectValue: 2, failure: "test" }])).rejects.toMatchObject({ failure: "test" });
    expect(await orgNamed("batch-first")).toEqual([]);
    // The same batch inside a transaction joins it under a savepoint.
    await withTransaction({ db }, async (tx) => {
      await tx.insert(organization).values(insertOrg("batch-outer"));
      await expect(writeBatch({ db: tx }, [step("batch-inner"), { ...stepOf(sql`select 1`), expectValue: 2, failure: "test" }])).rejects.toMatchObject({ failure: "test" });
    });
    expect(await orgNamed("batch-outer")).toHaveLength(1);
    expect(await orgNamed("batch-inner")).toEqual([]);
    const [ids] = await writeBatch({ db }, [{ ...step("batch-ok"), ids: true }]);
    expect(ids).toHaveLength(1);
    expect(await orgNamed("batch-ok")).toHaveLength(1);
  });

  test("a refusal the bulk writer met comes back as the driver gave it: a duplicate is known by its index", async () => {
    await writeBatch({ db }, [stepOf(db.insert(organization).values(insertOrg("batch-twice")))]);
    const again = { ...insertOrg("batch-twice"), id: "batch-twice-2" };
    const refused = await writeBatch({ db }, [stepOf(db.insert(organization).values(again))]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDuplicateOf(refused, organization.slug)).toBe(true);
    expect(isDuplicateOf(refused, organization.name)).toBe(false);
    expect(await orgNamed("batch-twice")).toHaveLength(1);
  });

  test("closing the database waits for the bulk writer to exit, even with nothing else keeping the process up; a batch after it is refused", async () => {
    // In a process of its own: an idle bulk writer does not keep a process alive, and a close
    // that awaited it without holding the process up would end it mid-await. A batch after the
    // close would start a writer (and its connections) no one closes.
    const target = await newTestDatabase();
    try {
      const run = runAlone(
        (from) =>
          `import { closeDatabase, openDatabase } from ${from("db/client.ts")};
           import { writeBatch } from ${from("db/transaction.ts")};
           const db = await openDatabase(${JSON.stringify(target.url)});
           await writeBatch({ db }, [{ sql: "select 1", params: [] }]);
           await new Promise((r) => setTimeout(r, 50));
           await closeDatabase(db);
           console.log("closed");
           console.log(await writeBatch({ db }, [{ sql: "select 1", params: [] }]).catch((e) => e.message));`,
      );
      expect(run).toEqual({ status: 0, stdout: "closed\nThe database is closed\n", stderr: "" });
    } finally {
      await target.drop();
    }
  });

  test.skipIf(onPg)("stopping the background checkpointer waits for its worker to exit, even with nothing else keeping the process up", () => {
    // Its worker does not keep a process alive either: a server's close, which stops it and
    // then closes the database, ended mid-await and never closed the database.
    const run = runAlone(
      (from, file) =>
        `import { closeDatabase, openSqliteFile } from ${from("db/client.ts")};
         import { startCheckpointer } from ${from("lib/server/checkpointer.ts")};
         const db = openSqliteFile(${file});
         const checkpointer = startCheckpointer(db, ${file});
         await new Promise((r) => setTimeout(r, 50));
         await checkpointer.stop();
         console.log("stopped");
         await closeDatabase(db);
         console.log("closed");`,
    );
    expect(run).toEqual({ status: 0, stdout: "stopped\nclosed\n", stderr: "" });
  });

  test.skipIf(onPg)("batches queued together are written together, and one that fails rolls back alone", async () => {
    const step = (slug: string) => stepOf(db.insert(organization).values(insertOrg(slug)));
    // A transaction holds the queue, so the three batches meet behind it and form one group.
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((ok) => (entered = ok));
    const holder = withTransaction({ db }, () => {
      entered();
      return new Promise<void>((ok) => (release = ok));
    });
    await inside;
    const group = [
      writeBatch({ db }, [{ ...step("group-a"), ids: true }]),
      writeBatch({ db }, [step("group-b"), { ...stepOf(sql`select 1`), expectValue: 2, failure: "test" }]),
      writeBatch({ db }, [{ ...step("group-c"), ids: true }]),
    ];
    expect(sqliteRunner(db).group).toHaveLength(3);
    release();
    await holder;
    const [a, b, c] = await Promise.allSettled(group);
    expect(a).toMatchObject({ status: "fulfilled", value: [expect.any(Float64Array)] });
    expect(b).toMatchObject({ status: "rejected", reason: { failure: "test" } });
    expect(c).toMatchObject({ status: "fulfilled" });
    expect(await orgNamed("group-a")).toHaveLength(1);
    expect(await orgNamed("group-b")).toEqual([]);
    expect(await orgNamed("group-c")).toHaveLength(1);
    expect(sqliteRunner(db).group).toBeUndefined();
  });

  test("two concurrent cancels of one task make exactly one transition", async () => {
    const { org, actor } = await makeOrg(db);
    const [device] = await makeDevices(db, org.id, 1, { prefix: "cc" });
    const ctx = { db, actor };
    const { tasks: [task] } = await issueFanout(ctx, { type: "PING", payload: { host: "192.0.2.1" }, targets: { devices: [device.name] } });
    const { result: outcomes, events } = await capture(() => Promise.allSettled([cancelTask(ctx, task.code), cancelTask(ctx, task.code)]));
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const refused = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(ConflictError);
    expect((refused.reason as Error).message).toBe(`Task ${task.code} is CANCELLED; only SCHEDULED or PENDING tasks can be cancelled`);
    expect(events.filter((e) => e.kind === "task.transition" && e.code === task.code)).toHaveLength(1);
    const [row] = await db.select().from(tasks).where(eq(tasks.code, task.code));
    expect(row.status).toBe("CANCELLED");
  });

  test("two ADMINs demoting each other at the same moment leave one ADMIN", async () => {
    const { org, actor: first } = await makeOrg(db);
    const secondUser = await makeUser(db);
    await withTransaction({ db }, (tx) => tx.insert(member).values({ id: `m-${secondUser.id}`, organizationId: org.id, userId: secondUser.id, role: "ADMIN", createdAt: new Date() }));
    const second = { ...first, userId: secondUser.id, label: secondUser.email };
    const members = await listMembers({ db, actor: first });
    const memberOf = (userId: string | null) => members.find((m) => m.userId === userId)!.id;
    const outcomes = await Promise.allSettled([
      setMemberRole({ db, actor: first }, { memberId: memberOf(second.userId), role: "READ_ONLY" }),
      setMemberRole({ db, actor: second }, { memberId: memberOf(first.userId), role: "READ_ONLY" }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect((outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
    const admins = await db.select().from(member).where(and(eq(member.organizationId, org.id), eq(member.role, "ADMIN")));
    expect(admins).toHaveLength(1);
  });
});

/**
 * Runs a script of its own in a process of its own, on a SQLite file in a scratch folder (the
 * script gets `from(path)`, a module's URL as a literal, and the file's path as a literal):
 * what it printed and how it ended.
 */
function runAlone(script: (from: (path: string) => string, file: string) => string): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-close-"));
  try {
    const from = (f: string) => JSON.stringify(pathToFileURL(resolve(f)).href);
    const path = join(dir, "script.mts");
    writeFileSync(path, script(from, JSON.stringify(join(dir, "alone.db"))));
    const run = spawnSync(process.execPath, ["--import", "tsx", path], { encoding: "utf8" });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
