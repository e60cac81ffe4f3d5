import { clearDb, closeDatabase, openDatabase, setDb, type Db } from "../../db/client";
import { seedDemo, type DemoAgent } from "../../lib/demo/seed";

/** better-auth keeps the database it was first created with: make the next call build anew. */
export function forgetAuth(): void {
  delete (globalThis as Record<symbol, unknown>)[Symbol.for("taskwire.auth")];
}

/**
 * Seeds the demo into the database at `url` (opened and migrated here, closed after; `before`
 * runs on it first) and returns the fleets' agent credentials, by organization slug.
 */
export async function seedDemoAt(url: string, before?: (db: Db) => Promise<void>): Promise<Record<string, DemoAgent[]>> {
  const db = await openDatabase(url);
  setDb(db);
  forgetAuth();
  try {
    await before?.(db);
    return (await seedDemo({ db })).agents;
  } finally {
    // On SQLite, closing the last connection folds the log into the file.
    await closeDatabase(db);
    clearDb();
    forgetAuth();
  }
}
