import pg from "pg";

// For code that reaches a PostgreSQL database from outside the domain (the tests' and the
// benchmark's raw looks at a server's database, creating and dropping their databases).

const INT8 = 20;
const BOOL = 16;
const JSONB = 3802;

/** Rows as SQLite gives them, whichever the database: numbers for bigint, 0/1 for booleans, JSON as its text. */
export const sqliteLikeTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8 ? Number : oid === BOOL ? (v: string) => (v === "t" ? 1 : 0) : oid === JSONB ? (v: string) => JSON.stringify(JSON.parse(v)) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** One statement on a connection of its own (CREATE DATABASE, DROP DATABASE and VACUUM run outside any transaction). */
export async function adminStatement(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
