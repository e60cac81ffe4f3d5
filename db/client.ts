import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { taskTriggerStatements } from "../rules/sql";
import { bulkWriter, pgBulkWriter, type BatchResults, type BatchStep, type BulkWriter } from "./batch";
import { dialectOf, PROCESS_DIALECT, type Dialect } from "./dialect";
import { migratePg, PG_POOL_SIZE, pgHandle, pgPool, pgPoolOptions, pgTrouble, type PgRunner } from "./pg";
import { checkIntegrity, DamagedDatabaseError, isCorruptionError } from "./integrity";
import * as schema from "./schema";

/**
 * A drizzle handle. The domain is typed against SQLite's; on PostgreSQL the handle is
 * node-postgres's, whose query builders take the same calls (db/schema/index.ts).
 */
export type Handle = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const RUNNER = Symbol.for("taskwire.runner");
const IN_TX = Symbol.for("taskwire.tx");

/**
 * The process's database: a handle for reads outside any transaction (a connection of its
 * own, in WAL: it sees the last commit, never a transaction's partial writes) and the runner
 * of the one writer connection (db/transaction.ts). The read connection refuses writes
 * (`query_only`): every write goes through `withTransaction`.
 */
export type Db = Handle & { readonly [RUNNER]: WriteRunner | PgRunner };
/**
 * The connection of an open transaction: what every statement of that transaction runs on
 * (SQLite's writer connection, or the pooled PostgreSQL connection the transaction holds).
 */
export type Tx = Handle & { readonly [IN_TX]: Dialect };
/** The handle or an open transaction: what a step that can run inside another's transaction takes. */
export type DbOrTx = Db | Tx;

export type WriteRunner = {
  readonly kind: "sqlite";
  /** The writer connection, inside a transaction only (db/transaction.ts). */
  readonly tx: Tx;
  /** The end of the queue of write transactions. */
  tail: Promise<unknown>;
  /** Transactions waiting or running. */
  depth: number;
  /** When the queue last started running without a turn of the event loop. */
  since: number;
  /** The bulk writer, which runs batches' transactions off the event loop (db/batch.ts). */
  readonly bulk: BulkWriter;
  /** Batches waiting for their turn in the queue, to be written together (writeBatch). */
  group?: { steps: BatchStep[]; resolve: (r: BatchResults) => void; reject: (e: unknown) => void }[];
};

export const runnerOf = (db: Db): WriteRunner | PgRunner => db[RUNNER];
export const isTx = (h: DbOrTx): h is Tx => IN_TX in h;
/** The dialect of a handle or transaction. */
export const dialectOfHandle = (h: DbOrTx): Dialect => (isTx(h) ? h[IN_TX] : h[RUNNER].kind);
/** Marks a handle on a connection inside an open transaction. */
export const asTx = <H extends object>(h: H, dialect: Dialect): Tx => Object.defineProperty(h, IN_TX, { value: dialect }) as unknown as Tx;

/** The SQLite runner of a handle; what only SQLite has (its writer connection, its file) asks for it. */
export function sqliteRunner(db: Db): WriteRunner {
  const runner = runnerOf(db);
  if (runner.kind !== "sqlite") throw new Error("This needs the SQLite database (DATABASE_URL is PostgreSQL)");
  return runner;
}

const MIGRATIONS = resolve(process.cwd(), "db/migrations/sqlite");

export type OpenOptions = { synchronous?: "NORMAL" | "FULL"; check?: boolean; poolSize?: number };

/**
 * Opens and migrates the database a DATABASE_URL names: a file path (SQLite, created if
 * needed) or a `postgres://` URL. A process runs on one dialect, its DATABASE_URL's
 * (db/dialect.ts): the schema is chosen by it.
 */
export async function openDatabase(url: string, opts: OpenOptions = {}): Promise<Db> {
  const dialect = dialectOf(url);
  if (dialect !== PROCESS_DIALECT) throw new Error(`This process runs on ${PROCESS_DIALECT} (its DATABASE_URL): it cannot open a ${dialect} database`);
  if (dialect === "sqlite") return openSqliteFile(url, opts);
  const size = opts.poolSize ?? PG_POOL_SIZE;
  const pool = pgPool(url, size);
  try {
    await migratePg(pool, url);
  } catch (e) {
    await pool.end().catch(() => {});
    throw e;
  }
  return pgDb(pool, url, size);
}

/** The bulk writer's pool is half the process's: batches are a share of the writes, and PostgreSQL's connections are counted across nodes (docs/deploy.md). */
const pgDb = (pool: ReturnType<typeof pgPool>, url: string, size: number): Db =>
  Object.defineProperty(pgHandle(pool), RUNNER, {
    value: { kind: "pg", pool, url, bulk: pgBulkWriter(pgPoolOptions(url, Math.ceil(size / 2))) } satisfies PgRunner,
  }) as unknown as Db;

/**
 * Opens (creating if needed) and migrates a database file.
 * synchronous=NORMAL under WAL: an application crash loses nothing committed; a power cut
 * may lose the last transactions. Operators who need more set TASKWIRE_SQLITE_SYNC=FULL.
 * With `check`, a damaged file (PRAGMA quick_check) stops here, before any migration
 * writes to it. Synchronous: for what only concerns a SQLite file (its tools, its tests).
 */
export function openSqliteFile(file: string, opts: OpenOptions = {}): Db {
  // Reads run on a second connection to the same file: an in-memory database has none.
  if (file === ":memory:") throw new Error("Taskwire needs a database file, not :memory:");
  createPrivately(file);
  const synchronous = opts.synchronous ?? "NORMAL";
  const writer = connect(file, synchronous, opts.check ?? false);
  const writerDb = drizzle(writer, { schema }) as Handle;
  try {
    migrate(writerDb, { migrationsFolder: MIGRATIONS });
    writer.transaction(() => {
      for (const stmt of taskTriggerStatements()) writer.exec(stmt);
    })();
  } catch (e) {
    writer.close();
    throw e;
  }
  // From here on the runner waits for the lock itself, off the event loop (BUSY_TIMEOUT_MS).
  writer.pragma("busy_timeout = 0");
  let reader: Database.Database;
  try {
    reader = connect(file, synchronous, false);
    reader.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    reader.pragma("query_only = ON");
  } catch (e) {
    writer.close();
    throw e;
  }
  const tx = asTx(writerDb, "sqlite");
  const db = drizzle(reader, { schema }) as Handle;
  return Object.defineProperty(db, RUNNER, {
    value: { kind: "sqlite", tx, tail: Promise.resolve(), depth: 0, since: 0, bulk: bulkWriter(resolve(file), { synchronous, busyTimeoutMs: BUSY_TIMEOUT_MS }) } satisfies WriteRunner,
  }) as Db;
}

/** One connection, configured; with `check`, a damaged file stops here, before any migration writes to it. */
function connect(file: string, synchronous: "NORMAL" | "FULL", check: boolean): Database.Database {
  const sqlite = new Database(file);
  try {
    // Space freed by the retention purge goes back to the file system a little at a time
    // (lib/tasks/purge.ts). Takes effect on a new file; an older one keeps reusing freed pages
    // and changes mode at its next VACUUM (docs/deploy.md).
    sqlite.pragma("auto_vacuum = INCREMENTAL");
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    // Start-up may wait for another writer: nothing is served yet. Lowered once open.
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma(`synchronous = ${synchronous}`);
    if (check) checkIntegrity(sqlite, file);
  } catch (e) {
    sqlite.close();
    throw isCorruptionError(e) ? new DamagedDatabaseError(file, [(e as Error).message]) : e;
  }
  return sqlite;
}

/** Closes the connections: SQLite's two, or the PostgreSQL pool; and the bulk writer's. */
export async function closeDatabase(db: Db): Promise<void> {
  const runner = runnerOf(db);
  // The bulk writer's first: on SQLite, the last connection to close folds the log into the file.
  await runner.bulk.close();
  if (runner.kind === "pg") return runner.pool.end();
  runner.tx.$client.close();
  db.$client.close();
}

/** Whether the database is still open (not closed by shutdown or a test's end). */
export function isOpen(db: Db): boolean {
  const runner = runnerOf(db);
  return runner.kind === "pg" ? !runner.pool.ended : db.$client.open;
}

/**
 * The writer connection itself, outside the runner: for start-up maintenance (checkpoint
 * settings, recounts before serving) and tests that set a file up. Never while the runner
 * may have a transaction open — a statement here would join it.
 */
export function writerConnection(db: Db): Database.Database {
  return sqliteRunner(db).tx.$client;
}

/**
 * How long a write transaction waits for another process's write lock (a tool writing to the
 * file): a short wait rides over an ordinary commit of another writer (milliseconds), and a
 * lock held longer costs only the writes that need it — they fail with SQLITE_BUSY, which the
 * adapters answer as "busy, try again" (isDatabaseBusy). The runner waits without holding the
 * event loop (db/transaction.ts): the writer connection itself never sleeps in SQLite's busy
 * handler, which would stall every request of the process. Reads (WAL) do not wait for writers.
 */
export const BUSY_TIMEOUT_MS = 50;

/**
 * What an error (or what it wraps: drizzle wraps driver errors) says when the database cannot
 * take the statement now, and nothing of it was written: "busy" (SQLite's "database is
 * locked", a PostgreSQL transaction that lost a conflict) or "unreachable" (PostgreSQL gone,
 * not answering, shutting down, or taking no writes); otherwise null.
 * Callers answer "unavailable, try again" (503) with the message of its kind.
 */
export function databaseTrouble(e: unknown): "busy" | "unreachable" | null {
  for (const { code, message } of causesOf(e)) {
    if (typeof code === "string") {
      if (/^SQLITE_(BUSY|LOCKED)(_|$)/.test(code)) return "busy";
      const pg = pgTrouble(code);
      if (pg) return pg;
    }
    if (typeof message !== "string") continue;
    // node-postgres: the connection ended, a query sent on one that had, or no connection
    // to be had for 30 s (every pooled one stuck, or new ones not answered).
    if (message.startsWith("Connection terminated") || message.endsWith("is not queryable") || message.startsWith("timeout exceeded when trying to connect")) return "unreachable";
  }
  return null;
}

/** Whether the database cannot take the statement now (databaseTrouble). */
export const isDatabaseBusy = (e: unknown): boolean => databaseTrouble(e) !== null;

/** The fields of a driver's error the checks read (node-postgres adds `table` and `detail`). */
type Cause = { code?: unknown; message?: unknown; table?: unknown; detail?: unknown; cause?: unknown };

/** An error and what it wraps (drizzle wraps driver errors), outermost first, a few levels deep. */
export function* causesOf(e: unknown): Generator<Cause> {
  for (let cur = e as Cause | undefined, depth = 0; cur && depth < 5; cur = cur.cause as Cause | undefined, depth++) yield cur;
}

/**
 * A new database is created readable by its owner only, in a folder likewise: it holds
 * password hashes and token hashes. SQLite gives the -wal and -shm files the mode of the
 * database file. An existing file keeps whatever mode its operator chose.
 */
function createPrivately(file: string): void {
  mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

// Next bundles app code separately from server.ts: the handle lives on globalThis so both
// halves of the one process share a single connection.
const KEY = Symbol.for("taskwire.db");
type Holder = { [KEY]?: Db };

export function setDb(db: Db): void {
  (globalThis as Holder)[KEY] = db;
}

/**
 * The process's database, opened lazily so that `next build` never touches it. The server
 * opens (and migrates) it before serving (server.ts); opened here, PostgreSQL is not migrated.
 */
export function getDb(): Db {
  const holder = globalThis as Holder;
  if (!holder[KEY]) {
    const url = process.env.DATABASE_URL ?? "data/taskwire.db";
    holder[KEY] = dialectOf(url) === "pg" ? pgDb(pgPool(url), url, PG_POOL_SIZE) : openSqliteFile(url);
  }
  return holder[KEY]!;
}

/** Forgets the process's handle (tests that hand a database file over to a child server). */
export function clearDb(): void {
  delete (globalThis as Holder)[KEY];
}
