import { eq, sql, type Column, type SQL, type Table } from "drizzle-orm";
import { escapeLike } from "./like";
import { dialectOfHandle, type DbOrTx, type Tx } from "./client";
import { PROCESS_DIALECT } from "./dialect";

// The few things the two dialects spell differently, each in one place, for the domain's
// statements built with drizzle.

/** How many rows a write changed: SQLite's `changes`, PostgreSQL's `rowCount`. */
export function changedRows(result: unknown): number {
  const r = result as { changes?: number; rowCount?: number | null };
  return r.changes ?? r.rowCount ?? 0;
}

/** `expr` contains `text`, ignoring case (SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE), `%` and `_` matching themselves. */
export function containsText(expr: SQL | Column, text: string): SQL {
  const pattern = `%${escapeLike(text)}%`;
  return PROCESS_DIALECT === "pg" ? sql`${expr} ilike ${pattern} escape '\\'` : sql`${expr} like ${pattern} escape '\\'`;
}

/**
 * `column = value`, kept off the indexes that lead with `column` where the planner would
 * otherwise prefer them (SQLite's unary `+`). PostgreSQL's planner weighs the choice by its
 * statistics: plain equality.
 */
export function equalsWithoutItsIndex(column: Column, value: string | number): SQL {
  return PROCESS_DIALECT === "pg" ? eq(column, value) : sql`+${column} = ${value}`;
}

/** Runs a statement for its effect: SQLite's `run`, PostgreSQL's `execute`. */
export async function runStatement(h: DbOrTx, q: SQL): Promise<void> {
  if (dialectOfHandle(h) === "pg") await (h as unknown as { execute: (q: SQL) => Promise<unknown> }).execute(q);
  else await h.run(q);
}

/**
 * Locks the rows `where` selects in `table` until the transaction ends (PostgreSQL's `FOR
 * UPDATE`), so that a check and the write it guards run one transaction at a time, on every
 * node. SQLite needs nothing: its write transactions already run one at a time.
 */
export async function lockRows(tx: Tx, table: Table, where: SQL | undefined): Promise<void> {
  if (dialectOfHandle(tx) === "pg") await runStatement(tx, sql`select 1 from ${table} where ${where} for update`);
}

/**
 * The rows a step claims for itself (PostgreSQL's `FOR UPDATE SKIP LOCKED`): nodes running the
 * same step side by side take disjoint rows instead of waiting on each other's. SQLite's write
 * transactions already run one at a time.
 */
export function claimed<Q>(tx: Tx, query: Q): Q {
  return dialectOfHandle(tx) === "pg" ? (query as unknown as { for: (strength: "update", o: { skipLocked: true }) => Q }).for("update", { skipLocked: true }) : query;
}
