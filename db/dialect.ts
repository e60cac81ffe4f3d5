/** The two databases Taskwire runs on: one SQLite file (the default), or PostgreSQL. */
export type Dialect = "sqlite" | "pg";

/** `postgres://…` (or `postgresql://…`) selects PostgreSQL; a file path, or nothing, SQLite. */
export function dialectOf(url: string | undefined): Dialect {
  return /^postgres(ql)?:\/\//i.test(url ?? "") ? "pg" : "sqlite";
}

/**
 * This process's dialect, from its DATABASE_URL. A process runs on one database: the schema
 * (db/schema) and the statements written by hand follow this.
 */
export const PROCESS_DIALECT: Dialect = dialectOf(process.env.DATABASE_URL);

/** The URL as it may be shown: without its password, in its user part or as a `password` parameter (node-postgres takes both). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    if (u.searchParams.has("password")) u.searchParams.set("password", "***");
    return u.toString();
  } catch {
    return "(an unparsable postgres:// URL)";
  }
}
