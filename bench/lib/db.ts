// The benchmark's own look at a server's database, beside the server: a SQLite file or a
// PostgreSQL database, named as the server's DATABASE_URL names it. Statements take `?`
// placeholders in both dialects (rewritten to `$n` for PostgreSQL), and rows come back as
// SQLite gives them — numbers for bigint counts, 0/1 for booleans, JSON as its text — so the
// scenarios read either database with the same code.
import Database from "better-sqlite3";
import pg from "pg";
import { numbered } from "../../db/batch-pg-worker.mjs";
import { dialectOf } from "../../db/dialect";
import { sqliteLikeTypes } from "../../scripts/lib/pg-plain";

/** A SQLite file path or a `postgres://` URL. */
export type Target = string;
export type Row = Record<string, unknown>;

type Common = {
  rows<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a write; resolves to the rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  close(): Promise<void>;
};
/** The connection itself is there for what only one dialect does (a baseline, a checkpoint). */
export type SqliteConn = Common & { readonly dialect: "sqlite"; readonly sqlite: Database.Database };
export type PgConn = Common & { readonly dialect: "pg"; readonly client: pg.Client };
export type Conn = SqliteConn | PgConn;

/**
 * One connection of its own. SQLite: `readonly` opens the file read-only; writers wait up to
 * 5 s for the server's lock, as the bench's connections always have.
 */
export async function connect(target: Target, opts: { readonly?: boolean } = {}): Promise<Conn> {
  return dialectOf(target) === "pg" ? connectPg(target) : connectSqlite(target, opts.readonly ?? false);
}

function connectSqlite(file: string, readonly: boolean): SqliteConn {
  const sqlite = new Database(file, { readonly, fileMustExist: true });
  if (!readonly) sqlite.pragma("busy_timeout = 5000");
  // Statements polled in a loop (the clock scenario) are prepared once, as they were before.
  const prepared = new Map<string, Database.Statement>();
  const stmt = (sql: string) => prepared.get(sql) ?? prepared.set(sql, sqlite.prepare(sql)).get(sql)!;
  return {
    dialect: "sqlite",
    sqlite,
    rows: async <T>(sql: string, params: unknown[] = []) => stmt(sql).all(...params) as T[],
    run: async (sql, params = []) => stmt(sql).run(...params).changes,
    close: async () => void sqlite.close(),
  };
}

async function connectPg(url: string): Promise<PgConn> {
  const client = new pg.Client({ connectionString: url, types: sqliteLikeTypes });
  await client.connect();
  return {
    dialect: "pg",
    client,
    rows: async <T>(sql: string, params: unknown[] = []) => (await client.query(numbered(sql), params)).rows as T[],
    run: async (sql, params = []) => (await client.query(numbered(sql), params)).rowCount ?? 0,
    close: () => client.end(),
  };
}

/** Opens a connection for `work` and closes it after. */
export async function withConn<T>(target: Target, work: (conn: Conn) => Promise<T>, opts: { readonly?: boolean } = {}): Promise<T> {
  const conn = await connect(target, opts);
  try {
    return await work(conn);
  } finally {
    await conn.close();
  }
}

/** The rows one query reads, on a read-only connection of its own. */
export function rows<T = Row>(target: Target, sql: string, params: unknown[] = []): Promise<T[]> {
  return withConn(target, (c) => c.rows<T>(sql, params), { readonly: true });
}

/** The first row one query reads (an error if there is none). */
export async function row<T = Row>(target: Target, sql: string, params: unknown[] = []): Promise<T> {
  const [first] = await rows<T>(target, sql, params);
  if (first === undefined) throw new Error(`no row: ${sql}`);
  return first;
}
