import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { closeDatabase, openDatabase, type Db } from "../../db/client";

/** A fresh, migrated database file of the test file's own, removed afterwards. */
export function freshDb(): Db {
  const dir = mkdtempSync(join(tmpdir(), "taskwire-test-"));
  const db = openDatabase(join(dir, "test.db"));
  afterAll(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}
