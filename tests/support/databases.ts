import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROCESS_DIALECT } from "../../db/dialect";
import { adminStatement } from "../../scripts/lib/pg-plain";

// The suites run once on SQLite and once on PostgreSQL (scripts/with-pg.ts sets DATABASE_URL
// and TASKWIRE_TEST_PG_URL). Each test file or test server gets a database of its own: a
// file in a temporary folder, or a database created on the throwaway cluster.

export const onPg = PROCESS_DIALECT === "pg";

/** Why a test is SQLite's only, where it is skipped on PostgreSQL. */
export const SQLITE_ONLY = !onPg;

export type TestDatabase = { url: string; drop: () => Promise<void> };

export async function newTestDatabase(): Promise<TestDatabase> {
  if (!onPg) {
    const dir = mkdtempSync(join(tmpdir(), "taskwire-test-"));
    return { url: join(dir, "test.db"), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = process.env.TASKWIRE_TEST_PG_URL;
  if (!admin) throw new Error("TASKWIRE_TEST_PG_URL is not set: run the PostgreSQL suites through scripts/with-pg.ts");
  const name = `taskwire_${randomBytes(6).toString("hex")}`;
  await adminStatement(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => adminStatement(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
