import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { taskTriggerStatements } from "../rules/sql";
import { checkIntegrity, DamagedDatabaseError, isCorruptionError } from "./integrity";
import * as schema from "./schema";

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };
type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
/** The handle or an open transaction: what a step that can run inside another's transaction takes. */
export type DbOrTx = Db | Tx;

const MIGRATIONS = resolve(process.cwd(), "db/migrations");

/**
 * Opens (creating if needed) and migrates a database file.
 * synchronous=NORMAL under WAL: an application crash loses nothing committed; a power cut
 * may lose the last transactions. Operators who need more set TASKWIRE_SQLITE_SYNC=FULL.
 * With `check`, a damaged file (PRAGMA quick_check) stops here, before any migration
 * writes to it.
 */
export function openDatabase(file: string, opts: { synchronous?: "NORMAL" | "FULL"; check?: boolean } = {}): Db {
  if (file !== ":memory:") createPrivately(file);
  const sqlite = new Database(file);
  try {
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    // Start-up may wait for another writer: nothing is served yet. Lowered once open, below.
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma(`synchronous = ${opts.synchronous ?? "NORMAL"}`);
    if (opts.check) checkIntegrity(sqlite, file);
  } catch (e) {
    sqlite.close();
    throw isCorruptionError(e) ? new DamagedDatabaseError(file, [(e as Error).message]) : e;
  }
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: MIGRATIONS });
  sqlite.transaction(() => {
    for (const stmt of taskTriggerStatements()) sqlite.exec(stmt);
  })();
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

/**
 * How long a statement waits for another connection's write lock. better-sqlite3 waits on
 * the event loop, so every request of the process waits with it: a short wait rides over
 * an ordinary commit of another writer (milliseconds), and a lock held longer (a backup, a
 * stuck tool) costs only the writes that need it — they fail with SQLITE_BUSY, which the
 * adapters answer as "busy, try again" (isDatabaseBusy) — instead of stalling every reader.
 */
export const BUSY_TIMEOUT_MS = 50;

/** Whether an error (or what it wraps: drizzle wraps driver errors) is SQLite's "database is locked". */
export function isDatabaseBusy(e: unknown): boolean {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && /^SQLITE_(BUSY|LOCKED)(_|$)/.test(code)) return true;
  }
  return false;
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

/** The process's database, opened lazily so that `next build` never touches it. */
export function getDb(): Db {
  const holder = globalThis as Holder;
  if (!holder[KEY]) {
    holder[KEY] = openDatabase(process.env.DATABASE_URL ?? "data/taskwire.db");
  }
  return holder[KEY]!;
}

/** Forgets the process's handle (tests that hand a database file over to a child server). */
export function clearDb(): void {
  delete (globalThis as Holder)[KEY];
}
