import Database from "better-sqlite3";
import pg from "pg";
import { runnerOf, writerConnection, type Db } from "../../db/client";
import { numbered } from "../../db/batch-pg-worker.mjs";
import { dialectOf } from "../../db/dialect";
import { sqliteLikeTypes } from "../../scripts/lib/pg-plain";

// Statements written by hand, for tests that reach past the domain: a raw UPDATE the
// database's own guard must refuse, a write made to fail, a look at a running server's rows.
// `?` placeholders in both dialects. A target is an open database, or the DATABASE_URL of a
// server running in another process (a SQLite file, or a PostgreSQL database). Rows come back
// as SQLite gives them, whichever the database.

export type Target = Db | string;

type Conn = { run: (text: string, params: unknown[]) => Promise<number>; rows: (text: string, params: unknown[]) => Promise<Record<string, unknown>[]> };

async function withConn<T>(target: Target, fn: (c: Conn) => Promise<T>): Promise<T> {
  if (typeof target !== "string") {
    const runner = runnerOf(target);
    if (runner.kind === "sqlite") {
      const w = writerConnection(target);
      return fn({ run: async (t, p) => w.prepare(t).run(...p).changes, rows: async (t, p) => w.prepare(t).all(...p) as Record<string, unknown>[] });
    }
    return withConn(runner.url, fn);
  }
  if (dialectOf(target) === "sqlite") {
    const db = new Database(target, { fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    try {
      return await fn({ run: async (t, p) => db.prepare(t).run(...p).changes, rows: async (t, p) => db.prepare(t).all(...p) as Record<string, unknown>[] });
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: target, types: sqliteLikeTypes });
  await client.connect();
  try {
    return await fn({ run: async (t, p) => (await client.query(numbered(t), p)).rowCount ?? 0, rows: async (t, p) => (await client.query(numbered(t), p)).rows });
  } finally {
    await client.end();
  }
}

/** Runs one statement outside any transaction of the domain; resolves to the rows it changed. */
export function rawRun(target: Target, text: string, ...params: unknown[]): Promise<number> {
  return withConn(target, (c) => c.run(text, params));
}

/** The rows a query reads, as SQLite would give them. */
export function rawRows<T = Record<string, unknown>>(target: Target, text: string, ...params: unknown[]): Promise<T[]> {
  return withConn(target, (c) => c.rows(text, params)) as Promise<T[]>;
}

/** The first row a query reads, if any. */
export async function rawRow<T = Record<string, unknown>>(target: Target, text: string, ...params: unknown[]): Promise<T | undefined> {
  return (await rawRows<T>(target, text, ...params))[0];
}

/**
 * Makes the writes `on` names ("INSERT", "UPDATE", "UPDATE OF status") of `table` fail with
 * `message`, as a full disk would, for the rows `when` selects (over NEW and OLD), until the
 * returned function is called.
 */
export async function failingWrites(target: Target, table: string, on: string, message: string, when = "true"): Promise<() => Promise<void>> {
  const name = `test_fail_${table}_${on.replace(/\W+/g, "_").toLowerCase()}`;
  const url = typeof target === "string" ? target : runnerOf(target).kind === "pg" ? (runnerOf(target) as { url: string }).url : undefined;
  if (!url || dialectOf(url) === "sqlite") {
    await rawRun(target, `CREATE TRIGGER ${name} BEFORE ${on} ON "${table}" WHEN ${when} BEGIN SELECT RAISE(ABORT, '${message}'); END`);
    return async () => void (await rawRun(target, `DROP TRIGGER IF EXISTS ${name}`));
  }
  await rawRun(target, `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}'; END $$`);
  await rawRun(target, `CREATE TRIGGER ${name} BEFORE ${on} ON "${table}" FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${name}()`);
  return async () => {
    await rawRun(target, `DROP TRIGGER IF EXISTS ${name} ON "${table}"`);
    await rawRun(target, `DROP FUNCTION IF EXISTS ${name}()`);
  };
}
