import { getTableName, is, Table } from "drizzle-orm";
import { getTableConfig as pgConfig, type PgTable } from "drizzle-orm/pg-core";
import { getTableConfig as sqliteConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { describe, expect, test } from "vitest";
import * as pg from "../../db/schema/pg";
import * as sqlite from "../../db/schema/sqlite";

// The two schemas are written apart (drizzle has none for both dialects): they must describe
// the same database, table for table, column for column, index for index.

/** Tables only PostgreSQL has, and why. */
const PG_ONLY: Record<string, string> = {
  server_secrets: "what every node shares; one SQLite node keeps its secrets in files beside the database",
  rate_limits: "limits every node counts together; one SQLite node counts them in memory",
  rate_limit: "better-auth's limits, counted together by every node; one SQLite node counts them in memory",
};

/** Index columns only PostgreSQL's indexes end in, and why; their other columns are SQLite's. */
const PG_ONLY_INDEX_COLUMNS: Record<string, { columns: string[]; why: string }> = {
  tasks_fanout_status_idx: { columns: ["id"], why: "SQLite's indexes end in the rowid, which is the id" },
  tasks_fanout_duration_idx: { columns: ["finished_at", "started_at"], why: "PostgreSQL's planner reads an expression from an index alone only when its columns are in it too" },
};

const tablesOf = (mod: Record<string, unknown>) => Object.values(mod).filter((v): v is Table => is(v, Table));

type Shape = {
  columns: Record<string, { notNull: boolean; primary: boolean; hasDefault: boolean; generated: boolean }>;
  primaryKey: string[];
  indexes: Record<string, { columns: string[]; unique: boolean; partial: boolean }>;
  foreignKeys: string[];
  checks: string[];
};

function shape(config: ReturnType<typeof sqliteConfig> | ReturnType<typeof pgConfig>, dialect: "sqlite" | "pg"): Shape {
  // A key the database numbers itself: SQLite's AUTOINCREMENT, PostgreSQL's identity.
  const generated = (c: object) => !!((c as { autoIncrement?: boolean }).autoIncrement || (c as { generatedIdentity?: unknown }).generatedIdentity);
  const columns = Object.fromEntries(config.columns.map((c) => [c.name, { notNull: c.notNull, primary: c.primary, hasDefault: c.hasDefault, generated: generated(c) }]));
  const indexes = Object.fromEntries(
    config.indexes.map((i) => {
      let columns = i.config.columns.map((c) => (c as { name?: string }).name ?? "?");
      const extra = dialect === "pg" && i.config.name ? PG_ONLY_INDEX_COLUMNS[i.config.name] : undefined;
      if (extra) {
        expect(columns.slice(-extra.columns.length), i.config.name).toEqual(extra.columns);
        columns = columns.slice(0, -extra.columns.length);
      }
      return [i.config.name, { columns, unique: !!i.config.unique, partial: !!i.config.where }];
    }),
  );
  const foreignKeys = config.foreignKeys
    .map((fk) => {
      const r = fk.reference();
      return `${r.columns.map((c) => c.name).join(",")} -> ${getTableName(r.foreignTable)}(${r.foreignColumns.map((c) => c.name).join(",")}) on delete ${fk.onDelete ?? "no action"}`;
    })
    .sort();
  return { columns, primaryKey: config.primaryKeys.flatMap((p) => p.columns.map((c) => c.name)).sort(), indexes, foreignKeys, checks: config.checks.map((c) => c.name).sort() };
}

const sqliteTables = new Map(tablesOf(sqlite).map((t) => [getTableName(t), t as SQLiteTable]));
const pgTables = new Map(tablesOf(pg).map((t) => [getTableName(t), t as PgTable]));

describe("the SQLite and PostgreSQL schemas", () => {
  test("have the same tables, PostgreSQL's own named and explained", () => {
    expect([...pgTables.keys()].filter((n) => !sqliteTables.has(n)).sort()).toEqual(Object.keys(PG_ONLY).sort());
    expect([...sqliteTables.keys()].filter((n) => !pgTables.has(n))).toEqual([]);
  });

  test.each([...sqliteTables.keys()])("%s: the same columns, keys, indexes, references and checks", (name) => {
    expect(shape(pgConfig(pgTables.get(name)!), "pg")).toEqual(shape(sqliteConfig(sqliteTables.get(name)!), "sqlite"));
  });
});
