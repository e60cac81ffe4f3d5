import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import * as schema from "./schema";
import { taskTriggerStatements } from "./triggers";

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const MIGRATIONS = resolve(process.cwd(), "db/migrations");

/**
 * Opens (creating if needed) and migrates a database file.
 * synchronous=NORMAL under WAL: an application crash loses nothing committed; a power cut
 * may lose the last transactions. Operators who need more set TASKWIRE_SQLITE_SYNC=FULL.
 */
export function openDatabase(file: string, opts: { synchronous?: "NORMAL" | "FULL" } = {}): Db {
  if (file !== ":memory:") mkdirSync(dirname(resolve(file)), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma(`synchronous = ${opts.synchronous ?? "NORMAL"}`);
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: MIGRATIONS });
  sqlite.transaction(() => {
    for (const stmt of taskTriggerStatements()) sqlite.exec(stmt);
  })();
  return db;
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
