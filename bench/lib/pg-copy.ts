// A SQLite file's rows copied into a migrated PostgreSQL database, so that a server on
// PostgreSQL starts from the same data as one on the file. The bench builds its data in SQLite
// (bench/lib/data.ts: prepared statements, fast) and copies it here; the copy checks that
// every table arrived whole.
import Database from "better-sqlite3";
import pg from "pg";

/** What a value of a SQLite column becomes in a PostgreSQL column of this type. */
type Convert = (v: unknown) => unknown;

type PgColumn = { type: string; identity: boolean };

/** PostgreSQL caps a statement at 65,535 parameters: rows per INSERT for a table this wide. */
const rowsPerInsert = (columns: number) => Math.max(1, Math.min(1_000, Math.floor(65_535 / columns)));

// SQLite keeps booleans as 0/1 and JSON as text. PostgreSQL parses JSON text given for a
// jsonb column itself; integers (epoch milliseconds included) go as they are.
const converters: Record<string, Convert> = {
  boolean: (v) => (v === null ? null : v !== 0),
  jsonb: (v) => (v === null || typeof v === "string" ? v : JSON.stringify(v)),
};
const asIs: Convert = (v) => v;

/**
 * Copies every table of `file` into the database at `url`, which must be migrated and empty.
 * Triggers (bookkeeping, guards, foreign keys) are off for the copy: the rows, counts
 * included, are the file's own. Identity sequences continue after the copied ids.
 */
export async function copyToPg(file: string, url: string): Promise<{ tables: number; rows: number }> {
  const sqlite = new Database(file, { readonly: true, fileMustExist: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const pgTables = await pgColumns(client);
    const tables = sqliteTables(sqlite);
    // A superuser session that fires no triggers (the throwaway cluster's user is postgres).
    await client.query("SET session_replication_role = replica");
    let copied = 0;
    for (const table of tables) copied += await copyTable(sqlite, client, table, pgTables.get(table));
    await client.query("RESET session_replication_role");
    await resetIdentities(client, pgTables);
    await checkCounts(sqlite, client, tables);
    return { tables: tables.length, rows: copied };
  } finally {
    await client.end();
    sqlite.close();
  }
}

/** The file's own tables: not SQLite's, not drizzle's record of migrations (each database keeps its own). */
function sqliteTables(sqlite: Database.Database): string[] {
  return (sqlite.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' and name <> '__drizzle_migrations' order by name").all() as { name: string }[]).map((t) => t.name);
}

async function pgColumns(client: pg.Client): Promise<Map<string, Map<string, PgColumn>>> {
  const { rows } = await client.query<{ table_name: string; column_name: string; data_type: string; is_identity: string }>(
    "select table_name, column_name, data_type, is_identity from information_schema.columns where table_schema = 'public'",
  );
  const tables = new Map<string, Map<string, PgColumn>>();
  for (const r of rows) {
    if (!tables.has(r.table_name)) tables.set(r.table_name, new Map());
    tables.get(r.table_name)!.set(r.column_name, { type: r.data_type, identity: r.is_identity === "YES" });
  }
  return tables;
}

/** Copies one table in multi-row INSERTs, one in flight while the next is built; answers its rows. */
async function copyTable(sqlite: Database.Database, client: pg.Client, table: string, pgTable: Map<string, PgColumn> | undefined): Promise<number> {
  if (!pgTable) throw new Error(`the SQLite table ${table} has no PostgreSQL twin: the copy would not be the same data`);
  const columns = (sqlite.pragma(`table_info("${table}")`) as { name: string }[]).map((c) => c.name);
  const missing = columns.filter((c) => !pgTable.has(c));
  if (missing.length) throw new Error(`${table}: PostgreSQL has no column ${missing.join(", ")}`);
  const convert = columns.map((c) => converters[pgTable.get(c)!.type] ?? asIs);
  const head = `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) VALUES `;
  const per = rowsPerInsert(columns.length);
  const source = sqlite.prepare(`select ${columns.map((c) => `"${c}"`).join(", ")} from "${table}"`).raw(true);
  let batch: unknown[][] = [];
  let inFlight: Promise<unknown> = Promise.resolve();
  let count = 0;
  const flush = async () => {
    const statement = insertOf(head, batch, convert);
    batch = [];
    await inFlight;
    inFlight = client.query(statement.text, statement.values);
    // Its failure is thrown where it is awaited, at the next flush or the end.
    inFlight.catch(() => {});
  };
  await client.query("BEGIN");
  for (const r of source.iterate() as IterableIterator<unknown[]>) {
    batch.push(r);
    count++;
    if (batch.length === per) await flush();
  }
  if (batch.length) await flush();
  await inFlight;
  await client.query("COMMIT");
  return count;
}

function insertOf(head: string, batch: unknown[][], convert: Convert[]): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const placeholder = (v: unknown, j: number) => {
    values.push(convert[j](v));
    return `$${values.length}`;
  };
  const tuples = batch.map((r) => `(${r.map(placeholder).join(", ")})`);
  return { text: head + tuples.join(", "), values };
}

/** Each identity column's sequence continues after the largest id copied (an empty table leaves it as it was). */
async function resetIdentities(client: pg.Client, tables: Map<string, Map<string, PgColumn>>): Promise<void> {
  for (const [table, columns] of tables) {
    for (const [column, c] of columns) {
      if (c.identity) await client.query(`SELECT setval(pg_get_serial_sequence($1, $2), max("${column}")) FROM "${table}"`, [`"${table}"`, column]);
    }
  }
}

async function checkCounts(sqlite: Database.Database, client: pg.Client, tables: string[]): Promise<void> {
  for (const table of tables) {
    const want = (sqlite.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n;
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from "${table}"`);
    if (Number(rows[0].n) !== want) throw new Error(`${table}: ${rows[0].n} rows copied of ${want}`);
  }
}
