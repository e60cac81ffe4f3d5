import { afterAll, expect, onTestFinished } from "vitest";
import { closeDatabase, openDatabase, type Db } from "../../db/client";
import { newTestDatabase } from "./databases";

/**
 * A fresh, migrated database of its own (a SQLite file, or a PostgreSQL database), removed
 * afterwards: when the test that made it ends, or, made at a file's top level, when the
 * file's tests have run. (A hook `afterAll` registered inside a test never runs.)
 */
export async function freshDb(): Promise<Db> {
  const target = await newTestDatabase();
  const db = await openDatabase(target.url);
  const remove = async () => {
    await closeDatabase(db);
    await target.drop();
  };
  if (expect.getState().currentTestName !== undefined) onTestFinished(remove);
  else afterAll(remove);
  return db;
}
