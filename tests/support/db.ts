import { afterAll } from "vitest";
import { closeDatabase, openDatabase, type Db } from "../../db/client";
import { newTestDatabase } from "./databases";

/** A fresh, migrated database of the test file's own (a SQLite file, or a PostgreSQL database), removed afterwards. */
export async function freshDb(): Promise<Db> {
  const target = await newTestDatabase();
  const db = await openDatabase(target.url);
  afterAll(async () => {
    await closeDatabase(db);
    await target.drop();
  });
  return db;
}
