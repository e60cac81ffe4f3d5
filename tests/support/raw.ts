import { runnerOf, writerConnection, type Db } from "../../db/client";

// Statements written by hand, for tests that reach past the domain (a raw UPDATE the
// database's own guard must refuse, a write made to fail): `?` placeholders in both dialects.

/** Runs one statement outside any transaction of the domain; resolves to the rows it changed. */
export async function rawRun(db: Db, text: string, ...params: unknown[]): Promise<number> {
  const runner = runnerOf(db);
  if (runner.kind === "sqlite") return writerConnection(db).prepare(text).run(...params).changes;
  let n = 0;
  const client = await runner.pool.connect();
  try {
    // The pool's connections are read-only outside a transaction that says otherwise (db/pg.ts).
    await client.query("SET default_transaction_read_only = off");
    return (await client.query(text.replace(/\?/g, () => `$${++n}`), params)).rowCount ?? 0;
  } finally {
    await client.query("RESET default_transaction_read_only").catch(() => {});
    client.release();
  }
}

/**
 * Makes every INSERT or UPDATE of `table` fail with `message`, as a full disk would, until
 * the returned function is called.
 */
export async function failingWrites(db: Db, table: string, on: "INSERT" | "UPDATE", message: string): Promise<() => Promise<void>> {
  const name = `test_fail_${table}_${on.toLowerCase()}`;
  if (runnerOf(db).kind === "sqlite") {
    await rawRun(db, `CREATE TRIGGER ${name} BEFORE ${on} ON "${table}" BEGIN SELECT RAISE(ABORT, '${message}'); END`);
    return async () => void (await rawRun(db, `DROP TRIGGER IF EXISTS ${name}`));
  }
  await rawRun(db, `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '${message}'; END $$`);
  await rawRun(db, `CREATE TRIGGER ${name} BEFORE ${on} ON "${table}" FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return async () => {
    await rawRun(db, `DROP TRIGGER IF EXISTS ${name} ON "${table}"`);
    await rawRun(db, `DROP FUNCTION IF EXISTS ${name}()`);
  };
}
